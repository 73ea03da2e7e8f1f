package wsgate

// The outbound path. Every frame for a connection goes through its bounded
// queue. Whoever queues a frame while no one is writing becomes the writer
// and flushes the queue: a handler's ack (and any error answer) is written
// by the handler's own goroutine (no hand-off on the request/ack path),
// while emits and broadcasts start a background writer so that they never
// block. A peer that stops reading can therefore hold the goroutine writing
// its ack, and so its own connection's next events, for up to WriteTimeout
// and a quarter; never another connection.
// A queue that fills up closes the connection with 1013 once the write in
// progress is done; one write that outlasts WriteTimeout drops it (within a
// quarter of WriteTimeout more: see writeWatch), with no close frame (none
// could get through). A slow consumer costs its own connection, never the
// gateway.

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
	c.flushLocked() // the lock goes on into the writer: one round trip less per ack
	return nil
}

// flush writes queued frames until the queue is empty, then gives up the
// writer role and, if a close was waiting for it, starts the close.
func (c *Conn) flush() {
	c.mu.Lock()
	c.flushLocked()
}

// flushLocked is flush entered with c.mu held; it returns with c.mu
// released. The lock it holds when it takes a batch also checks that the
// batch's first frame may be written, and the one it takes when the batch
// is done also finds the queue empty: an ack costs the writer two lock
// round trips, not one per step.
func (c *Conn) flushLocked() {
	for {
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
		failed := !c.writableLocked()
		c.mu.Unlock()

		for i, f := range batch {
			if !failed && (i > 0 && !c.writable() || !c.write(f.b)) {
				failed = true
			}
			c.gw.frames.put(f)
			batch[i] = nil
		}

		c.mu.Lock()
		c.queued -= len(batch)
		c.spare = batch[:0]
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

// writable reports whether the next frame of a batch may be written: not
// once the connection is closed or discarding.
func (c *Conn) writable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writableLocked()
}

// writableLocked is writable with c.mu held. It also makes the write
// watchdog's timer, with the connection's first write.
func (c *Conn) writableLocked() bool {
	if c.state == stateClosed || c.discard {
		return false
	}
	if c.writeWatch.timer == nil {
		c.writeWatch.timer = newStoppedTimer(c.watchWrite)
	}
	return true
}

// write writes one frame, writable, under the write watchdog (timers.go).
// It reports false when the write failed, which ends the connection (a
// peer that cannot be written to is gone, and nothing sent after this frame
// could make sense to it).
func (c *Conn) write(b []byte) bool {
	c.writeStarts()
	err := c.tr.WriteMessage(b)
	c.writeEnds()
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
