package wsgate

import (
	"log/slog"
	"sync"
	"time"
)

// The inbound path. The connection is always being read: a handler never
// keeps the read loop from seeing a close frame, a reset or a missed pong,
// and its context is cancelled as soon as the connection ends.
//
// With HandlerConcurrency 1 (the default) events are handled strictly in the
// order they arrived, one at a time. The goroutine that reads an event
// handles it itself when nothing else is running, so a quick handler costs
// no hand-off; if the handler is still running after inlineBudget, a new
// goroutine takes over the reading, and the first one, once its handler
// returns, handles what was queued meanwhile and ends. With N, up to N
// workers take queued events in arrival order and handle them at once; a
// worker with nothing to do lingers briefly for the next event, then ends.
// Either way an idle connection holds no goroutine but its reader.
//
// At most maxQueuedEvents events wait beyond those being handled; past
// that the read loop stops reading until a handler finishes, so that a
// client that sends faster than its handlers run is slowed by TCP, not
// buffered without bound. A peer's close is seen once there is room again.

// maxQueuedEvents is how many events of one connection may wait for a
// handler, beyond the HandlerConcurrency being handled.
const maxQueuedEvents = 8

// workerLinger is how long a worker with nothing to do waits for the next
// event before it ends (HandlerConcurrency > 1).
const workerLinger = 250 * time.Millisecond

// inlineBudget is how long the reader may run a handler itself before
// another goroutine takes over the reading (HandlerConcurrency 1).
const inlineBudget = time.Millisecond

// inbox is a connection's queue of events waiting for a handler. Its fields
// are guarded by the connection's mu, except wg.
type inbox struct {
	limit   int // HandlerConcurrency: workers at most
	workers int // workers running
	active  int // events accepted and not yet done, queued or running
	queue   []event
	head    int
	// room, when set, is closed by the next worker that takes an event:
	// the read loop waits on it while the queue is full.
	room chan struct{}
	// idle counts the workers waiting for an event; wake carries one
	// token to one of them per event queued while idle > 0.
	idle int
	wake chan struct{}
	// inline is set while the reader runs a handler itself; handedOff once
	// handoff has given the reading to a new goroutine during that run.
	inline    bool
	handedOff bool
	handoff   *time.Timer
	// readers counts the goroutines that read: the session's own and any
	// it handed the reading to (handOff adds one while the handing reader
	// still counts, so the count never touches zero before the end); the
	// session waits for it.
	readers sync.WaitGroup
	// wg counts workers, the reader running a handler included. Add is
	// called by readers only, before the last of them ends.
	wg sync.WaitGroup
}

// event is one accepted message waiting for its handler.
type event struct {
	ctx      *Context
	f        *frame // holds ctx.data; back to the pool once handled
	protocol bool   // a reserved "$" event
}

func (q *inbox) init(limit int) {
	q.limit = limit
	if limit > 1 {
		q.wake = make(chan struct{}, limit)
	}
}

func (q *inbox) waiting() int { return len(q.queue) - q.head }

func (q *inbox) push(ev event) {
	if len(q.queue) == cap(q.queue) && q.head > 0 {
		n := copy(q.queue, q.queue[q.head:])
		clear(q.queue[n:])
		q.queue, q.head = q.queue[:n], 0
	}
	q.queue = append(q.queue, ev)
}

// take removes the next queued event for a worker and, as that makes room,
// lets a read loop waiting for room go on.
func (q *inbox) take() (event, bool) {
	if q.head == len(q.queue) {
		return event{}, false
	}
	ev := q.queue[q.head]
	q.queue[q.head] = event{}
	q.head++
	if q.head == len(q.queue) {
		q.queue, q.head = q.queue[:0], 0
	}
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	return ev, true
}

// enqueue accepts an event (see acceptEventLocked) and hands it to be
// handled. In the in-order mode, when nothing else runs, the reader handles
// it at once (see runInline); otherwise it is queued for a worker, and one
// is started or woken if fewer than HandlerConcurrency run. enqueue waits
// while the queue is full. It returns errNotAccepted when the connection is
// draining or closing (the caller answers and drops ev), errStopped when
// the connection ended while enqueue waited (the event was accepted: the
// caller drops ev and calls eventDone) and errHandedOff when the calling
// goroutine is no longer the reader. Called only by a reader.
func (c *Conn) enqueue(ev event) error {
	c.mu.Lock()
	if !c.acceptEventLocked() {
		c.mu.Unlock()
		return errNotAccepted
	}
	for c.in.waiting() >= maxQueuedEvents {
		room := make(chan struct{})
		c.in.room = room
		c.mu.Unlock()
		c.notReading(func() {
			select {
			case <-room:
			case <-c.ctx.Done():
			}
		})
		if c.ctx.Err() != nil {
			return errStopped
		}
		c.mu.Lock()
	}
	if c.in.limit == 1 && c.in.workers == 0 {
		c.in.workers++
		c.in.inline = true
		c.in.wg.Add(1)
		c.mu.Unlock()
		return c.runInline(ev)
	}
	c.in.push(ev)
	switch {
	case c.in.idle > 0:
		c.in.idle--
		c.in.wake <- struct{}{} // never blocks: one token per idle worker
	case c.in.workers < c.in.limit:
		c.in.workers++
		c.in.wg.Add(1)
		go c.work()
	}
	c.mu.Unlock()
	return nil
}

// runInline handles ev on the reader's goroutine. Should the handler
// outlast inlineBudget, handoff starts a new reader; this goroutine then
// handles what was queued meanwhile, in order, and returns errHandedOff.
func (c *Conn) runInline(ev event) error {
	if c.in.handoff == nil {
		c.in.handoff = time.AfterFunc(inlineBudget, c.handOff)
	} else {
		c.in.handoff.Reset(inlineBudget)
	}
	c.runEvent(ev)
	c.in.handoff.Stop()
	c.mu.Lock()
	c.eventDoneLocked() // under the lock taken here anyway
	c.in.inline = false
	if !c.in.handedOff {
		c.in.workers--
		c.mu.Unlock()
		c.in.wg.Done()
		return nil
	}
	c.in.handedOff = false
	c.mu.Unlock()
	c.drainQueue()
	return errHandedOff
}

// handOff runs when a handler the reader runs itself outlasts
// inlineBudget: a new goroutine takes over the reading.
func (c *Conn) handOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.in.inline || c.in.handedOff || c.state >= stateClosed {
		return
	}
	c.in.handedOff = true
	c.in.readers.Add(1)
	go c.read()
}

// drainQueue handles queued events until there are none, as the in-order
// worker, and then ends the worker.
func (c *Conn) drainQueue() {
	defer c.in.wg.Done()
	for {
		c.mu.Lock()
		ev, ok := c.in.take()
		if !ok {
			c.in.workers--
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.run(ev)
	}
}

// work is a worker of HandlerConcurrency > 1: it handles queued events,
// and when there are none it lingers for workerLinger, so that a connection
// in a busy exchange does not pay for a new goroutine per event, and then
// ends.
func (c *Conn) work() {
	defer c.in.wg.Done()
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for {
		c.mu.Lock()
		ev, ok := c.in.take()
		if !ok {
			if linger == nil {
				linger = time.NewTimer(workerLinger)
			} else {
				linger.Reset(workerLinger)
			}
			c.in.idle++
			c.mu.Unlock()
			select {
			case <-c.in.wake:
				continue // enqueue took our idle count back
			case <-linger.C:
			case <-c.ctx.Done():
			}
			c.mu.Lock()
			select {
			case <-c.in.wake:
				// An event came as we gave up waiting: its token is ours.
				c.mu.Unlock()
				continue
			default:
			}
			c.in.idle--
			c.in.workers--
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.run(ev)
	}
}

// run handles one event and then releases it and counts it done.
func (c *Conn) run(ev event) {
	defer c.eventDone()
	c.runEvent(ev)
}

// runEvent handles one event and then releases it; the caller counts it
// done (eventDone). An event whose connection ended before its turn is
// dropped: nothing could be answered any more. Whatever the handler, its
// guards, its filters or the encoding of its answer do, runEvent recovers
// it: a request is still answered (with "Internal server error") and the
// connection goes on.
func (c *Conn) runEvent(ev event) {
	defer c.gw.frames.put(ev.f)
	if c.ctx.Err() != nil {
		return
	}
	ctx := ev.ctx
	ctx.principal = c.Principal() // as of this event's turn: a $refresh before it counts
	defer c.endEvent(c.beginEvent(ev))
	err := protect(func() error {
		switch {
		case ev.protocol:
			c.protocolEvent(ctx)
		case ctx.route == nil:
			_ = ctx.ReplyError(errUnknownEvent)
		default:
			c.handle(ctx)
		}
		return nil
	})
	if err != nil {
		c.gw.log.Error("wsgate: panic while answering an event", slog.String("conn", c.id),
			slog.String("event", ctx.event), slog.Any("error", err))
		if !ctx.replied() {
			_ = ctx.ReplyError(errInternal)
		}
	}
}

// notReading runs f on the read loop, which reads nothing meanwhile: no
// pong can arrive, so keepalive does not hold a missing one against the
// peer for any round that overlaps f.
func (c *Conn) notReading(f func()) {
	c.readStalls.Add(1)
	c.readBlocked.Store(true)
	defer c.readBlocked.Store(false)
	f()
}
