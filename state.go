package wsgate

import "time"

// The connection's lifecycle, in one place. Every change of Conn.state
// happens in this file, under c.mu:
//
//	opening ──► open ──► draining ──► closing ──► closed
//	   │          │          │            ▲          ▲
//	   └──────────┴──────────┴─ closeWith ┘          │
//	   └──────────┴──────────┴────────────┴─ fail, abort, finish
//
//	opening   upgraded; OnConnect runs; nothing is read yet
//	open      events are read and handled
//	draining  Shutdown began: no new events; the close (1001) follows the
//	          last running handler
//	closing   a close is decided and the handlers' context cancelled;
//	          nothing more is queued; the close frame follows the frames
//	          already queued, and the socket is dropped if the peer has not
//	          completed the close within CloseTimeout
//	closed    the socket is gone: nothing is written, no timer or
//	          background work starts; the session waits for its handlers
//	          and reports the end
//
// Code elsewhere asks the state through the helpers below and never sets it.
type connState uint8

const (
	stateOpening connState = iota
	stateOpen
	stateDraining
	stateClosing
	stateClosed
)

// acceptsFrames reports whether frames may still be queued. c.mu held.
func (c *Conn) acceptsFrames() bool { return c.state < stateClosing }

// opened moves an opening connection to open: its read loop starts.
func (c *Conn) opened() {
	c.mu.Lock()
	if c.state == stateOpening {
		c.state = stateOpen
	}
	c.mu.Unlock()
}

// drain is Shutdown's first step: no new events, and the close with 1001
// once the events already accepted are done (see eventDone).
func (c *Conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state >= stateDraining {
		return
	}
	c.state = stateDraining
	if c.in.active == 0 {
		c.closeLocked(StatusGoingAway, "server shutting down")
	}
}

// acceptEventLocked counts an event as accepted for handling, unless the
// connection is draining or closing; it reports whether it was accepted.
// Counting and the drain check share c.mu, so a draining connection never
// closes while an accepted event still runs, and never accepts one after.
// c.mu held.
func (c *Conn) acceptEventLocked() bool {
	if c.state >= stateDraining {
		return false
	}
	c.in.active++
	return true
}

// eventDone is called once for every accepted event, after it has been
// handled and answered; the last one out of a draining connection closes it.
func (c *Conn) eventDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventDoneLocked()
}

// eventDoneLocked is eventDone with c.mu held.
func (c *Conn) eventDoneLocked() {
	c.in.active--
	if c.in.active == 0 && c.state == stateDraining {
		c.closeLocked(StatusGoingAway, "server shutting down")
	}
}

// closeWith starts the close of the connection with code and reason (see
// Conn.Close for the codes allowed) and cancels the handlers' context. Only
// the first close decides the status.
func (c *Conn) closeWith(code StatusCode, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

// closeLocked is closeWith with c.mu held.
func (c *Conn) closeLocked(code StatusCode, reason string) {
	if c.state >= stateClosing {
		return
	}
	code, reason = closeFrame(code, reason)
	c.noteCloseLocked()
	c.state = stateClosing
	c.status = CloseStatus{Code: code, Reason: reason, ByServer: true}
	c.cancel()
	c.closeDone = make(chan struct{})
	c.closeTimer = time.AfterFunc(c.gw.opts.CloseTimeout, c.dropSocket)
	if c.writing || c.tr == nil {
		c.closePending = true // flush starts the close when it is done
		return
	}
	c.startCloseLocked()
}

// fail ends the connection at once, dropping what is queued and the socket
// with it: for a peer that cannot be written to (1013) or is gone (1006).
// No close frame is sent (none could get through).
func (c *Conn) fail(code StatusCode, reason string) {
	c.mu.Lock()
	if c.state < stateClosing {
		c.noteCloseLocked()
		c.status = CloseStatus{Code: code, Reason: reason, ByServer: true}
	}
	c.closedLocked()
	c.mu.Unlock()
	c.dropSocket()
}

// abort is Shutdown's last resort: the status is 1001 if no close was
// decided yet, and the socket is dropped now, whatever the peer does.
func (c *Conn) abort() {
	c.mu.Lock()
	c.closeLocked(StatusGoingAway, "server shutting down")
	c.closedLocked()
	c.mu.Unlock()
	c.dropSocket()
}

// finish is the session's end, once its read loop has returned with
// readErr: it records the peer's status when the gateway did not decide one,
// lets a close the gateway decided complete (the frames queued before it,
// then the close handshake, all within CloseTimeout), and then drops the
// socket for good.
func (c *Conn) finish(readErr error) {
	c.mu.Lock()
	if c.state < stateClosing {
		// The peer left (or the socket failed): nothing more can be
		// written. The state changes before the handlers' context is
		// cancelled, so a handler that wakes up on it finds Emit closed.
		c.noteCloseLocked()
		c.status = peerStatus(readErr)
		c.closedLocked()
	}
	done := c.closeDone
	c.mu.Unlock()
	if done != nil {
		<-done // the close watchdog bounds it
	}
	c.mu.Lock()
	c.closedLocked()
	c.mu.Unlock()
	c.dropSocket()
}

// closedLocked moves the connection to closed: nothing more is written and
// no background work starts. c.mu held.
func (c *Conn) closedLocked() {
	if c.state == stateClosed {
		return
	}
	c.state = stateClosed
	c.cancel()
	if c.closeDone != nil && !c.closeStarted {
		close(c.closeDone) // the close handshake will never start now
	}
	c.dropQueueLocked()
	c.stopTimersLocked()
}

// dropSocket ends the transport at once, which ends any read, write or
// close handshake in progress, whatever the peer does. A connection without
// its transport yet has it dropped by attach.
func (c *Conn) dropSocket() {
	c.mu.Lock()
	t := c.tr
	c.mu.Unlock()
	if t != nil {
		t.Drop()
	}
}

// enter registers background work (a timer's round); it reports false once
// the connection is closing, and the caller must then do nothing.
func (c *Conn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state >= stateClosing {
		return false
	}
	c.bg.Add(1)
	return true
}

// startCloseLocked runs the close handshake in the background, once the
// frames queued before the close are written. The close watchdog armed by
// closeLocked bounds it. c.mu held, state closing.
func (c *Conn) startCloseLocked() {
	if c.closeStarted || c.state != stateClosing {
		return
	}
	c.closeStarted = true
	code, reason := c.status.Code, c.status.Reason
	done := c.closeDone
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer close(done)
		_ = c.tr.Close(code, reason)
	}()
}
