package wsgate

// The outbound path. Every frame for a connection goes through its bounded
// queue. Whoever queues a frame while no one is writing becomes the writer
// and flushes the queue: a handler's ack (and any error answer) is written
// by the handler's own goroutine (no hand-off on the request/ack path),
// while emits and broadcasts start a background writer so that they never
// block. A peer that stops reading can therefore hold the goroutine writing
// its ack, and so its own connection's next events, for up to WriteTimeout;
// never another connection.
// A queue that fills up closes the connection with 1013 once the write in
// progress is done; one write that outlasts WriteTimeout drops it at once,
// with no close frame (none could get through). A slow consumer costs its
// own connection, never the gateway.

// send queues f for c. inline lets the calling goroutine do the writing
// itself when no one else is. send takes ownership of f.
func (c *Conn) send(f *frame, inline bool) error {
	c.mu.Lock()
	if !c.acceptsFrames() {
		c.mu.Unlock()
		c.gw.frames.put(f)
		return ErrClosed
	}
	if c.queued >= c.gw.opts.OutboundQueue {
		c.noteCloseLocked()
		c.mu.Unlock()
		c.gw.frames.put(f)
		c.overflow()
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, f)
	c.queued++
	if c.writing || c.tr == nil {
		// A writer is at work, or the transport is not attached yet
		// (attach starts one).
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

// overflow closes a connection whose outbound queue is full with 1013
// "slow consumer". What waits is dropped, the frames of the batch being
// written are skipped, and the close frame follows the write in progress: a
// peer that is merely slow still learns why it was closed, while one that
// has stopped reading is dropped by the WriteTimeout watchdog instead.
func (c *Conn) overflow() {
	c.mu.Lock()
	c.discard = true
	c.dropQueueLocked()
	c.closeLocked(StatusTryAgainLater, "slow consumer")
	c.mu.Unlock()
}

// write writes one frame under the write watchdog. It reports false when
// the frame was not written: the connection is closed or discarding, or the
// write failed, which ends the connection (a peer that cannot be written to
// is gone, and nothing sent after this frame could make sense to it).
func (c *Conn) write(b []byte) bool {
	c.mu.Lock()
	if c.state == stateClosed || c.discard {
		c.mu.Unlock()
		return false
	}
	if c.writeTimer == nil {
		c.writeTimer = newStoppedTimer(c.writeStalled)
	}
	t := c.writeTimer
	c.mu.Unlock()

	t.Reset(c.gw.opts.WriteTimeout)
	err := c.tr.WriteMessage(b)
	t.Stop()
	if err != nil {
		c.fail(StatusAbnormalClosure, "write failed")
		return false
	}
	return true
}

// writeStalled runs when one write outlasted WriteTimeout.
func (c *Conn) writeStalled() {
	c.fail(StatusTryAgainLater, "slow consumer")
}

// dropQueueLocked discards the frames that wait to be written. c.mu held.
func (c *Conn) dropQueueLocked() {
	for i, f := range c.queue {
		c.gw.frames.put(f)
		c.queue[i] = nil
	}
	c.queued -= len(c.queue)
	c.queue = c.queue[:0]
}
