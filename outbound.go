package wsgate

import (
	"context"

	"github.com/coder/websocket"
)

// The outbound path. Every frame for a connection goes through its bounded
// queue. Whoever queues a frame while no one is writing becomes the writer
// and flushes the queue: a handler's ack is written by the handler's own
// goroutine (no hand-off on the request/ack path), while emits from other
// goroutines (broadcasts) start a background writer so they never block.
// One write that outlasts WriteTimeout, or a queue that fills up, closes the
// connection with 1013: a slow consumer costs its own connection, never the
// gateway.

// send queues f for c. inline lets the calling goroutine do the writing
// itself when no one else is. send takes ownership of f.
func (c *Conn) send(f *frame, inline bool) error {
	c.mu.Lock()
	if c.outClosed {
		c.mu.Unlock()
		c.gw.frames.put(f)
		return ErrClosed
	}
	if c.queued >= c.gw.opts.OutboundQueue {
		c.mu.Unlock()
		c.gw.frames.put(f)
		c.fail(websocket.StatusTryAgainLater, "slow consumer")
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, f)
	c.queued++
	if c.writing {
		c.mu.Unlock()
		return nil
	}
	c.writing = true
	if !inline {
		c.bg.Add(1)
		c.mu.Unlock()
		go func() {
			defer c.bg.Done()
			c.flush()
		}()
		return nil
	}
	c.mu.Unlock()
	c.flush()
	return nil
}

// flush writes queued frames until the queue is empty, then gives up the
// writer role and, if a close was waiting for it, starts the close.
func (c *Conn) flush() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			if c.closePending {
				c.closePending = false
				c.startCloseLocked()
			}
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.mu.Unlock()

		failed := false
		for i, f := range batch {
			if !failed && !c.write(f.b) {
				failed = true
			}
			c.gw.frames.put(f)
			batch[i] = nil
		}

		c.mu.Lock()
		c.queued -= len(batch)
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// write writes one frame under the write watchdog.
func (c *Conn) write(b []byte) bool {
	c.mu.Lock()
	if c.failed || c.ended {
		c.mu.Unlock()
		return false
	}
	if c.writeTimer == nil {
		c.writeTimer = newStoppedTimer(c.writeStalled)
	}
	t := c.writeTimer
	c.mu.Unlock()

	t.Reset(c.gw.opts.WriteTimeout)
	// A context without a Done channel lets the library skip its per-write
	// timer; the watchdog above bounds the write instead.
	err := c.ws.Write(context.Background(), websocket.MessageText, b)
	t.Stop()
	return err == nil
}

// writeStalled runs when one write outlasted WriteTimeout.
func (c *Conn) writeStalled() {
	c.fail(websocket.StatusTryAgainLater, "slow consumer")
}

// dropQueueLocked discards the frames that wait to be written. c.mu held.
func (c *Conn) dropQueueLocked() {
	c.outClosed = true
	for i, f := range c.queue {
		c.gw.frames.put(f)
		c.queue[i] = nil
	}
	c.queued -= len(c.queue)
	c.queue = c.queue[:0]
}
