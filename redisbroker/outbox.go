package redisbroker

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the entries one MULTI/EXEC carries.
const maxBatch = 256

// pending is one accepted publication waiting for Redis.
type pending struct {
	seq  uint64
	body []byte
}

// outbox holds a Broker's own publications until Redis has them, and
// sends them in order from one goroutine.
type outbox struct {
	b *Broker

	mu      sync.Mutex
	queue   []pending // accepted, not yet confirmed by Redis, in order
	seq     uint64    // the last sequence number handed out
	closing bool

	wake   chan struct{} // cap 1: the queue grew, or Close began
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has returned
}

func (o *outbox) start(b *Broker) {
	o.b = b
	o.wake = make(chan struct{}, 1)
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.done = make(chan struct{})
	go o.run()
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// push accepts body, or says why not.
func (o *outbox) push(body []byte) error {
	b := o.b
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		b.refused.Add(1)
		return ErrClosed
	}
	if len(o.queue) >= b.opts.BufferSize {
		o.mu.Unlock()
		b.refused.Add(1)
		// One line per episode: the first refusal, and the first
		// acceptance after it.
		if b.bufferFullLogged.CompareAndSwap(false, true) {
			b.log.Error("redisbroker: publication buffer full (Redis unreachable or too slow); publications refused until it drains",
				"buffer_size", b.opts.BufferSize, "key", b.key)
		}
		return ErrBufferFull
	}
	o.seq++
	o.queue = append(o.queue, pending{seq: o.seq, body: body})
	o.mu.Unlock()
	if b.bufferFullLogged.CompareAndSwap(true, false) {
		b.log.Info("redisbroker: buffer accepting publications again", "refused_total", b.refused.Load())
	}
	o.signal()
	return nil
}

// close refuses further publications, lets the sender drain the queue
// for up to timeout, stops it, and returns how many publications were
// left unsent.
func (o *outbox) close(timeout time.Duration) int {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	o.signal()
	t := time.AfterFunc(timeout, o.cancel)
	<-o.done
	t.Stop()
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.queue)
	o.queue = nil
	return n
}

// run is the sender: it writes the queue's head to Redis, one batch at a
// time, and removes a batch only once Redis confirmed it. A failed batch
// is sent again (the readers skip the copies of a batch that did land), so
// the order of the queue is the order in the stream.
func (o *outbox) run() {
	defer close(o.done)
	b := o.b
	var backoff time.Duration
	failing := false
	for {
		o.mu.Lock()
		batch := o.queue[:min(len(o.queue), maxBatch)]
		closing := o.closing
		o.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			select {
			case <-o.wake:
			case <-o.ctx.Done():
				return
			}
			continue
		}
		err := o.send(batch)
		if err == nil {
			o.mu.Lock()
			clear(o.queue[:len(batch)]) // let the bodies go
			o.queue = o.queue[len(batch):]
			left := len(o.queue)
			o.mu.Unlock()
			b.published.Add(uint64(len(batch)))
			if failing {
				failing = false
				b.log.Info("redisbroker: writing to Redis again", "still_buffered", left)
			}
			backoff = 0
			continue
		}
		if o.ctx.Err() != nil {
			return // Close's deadline passed
		}
		b.errs.Add(1)
		if !failing {
			failing = true
			b.log.Warn("redisbroker: cannot write to Redis; buffering publications",
				"err", err, "buffered", o.len(), "buffer_size", b.opts.BufferSize)
		} else {
			b.log.Debug("redisbroker: write to Redis failed again", "err", err)
		}
		backoff = nextBackoff(backoff)
		if !ctxSleep(o.ctx, backoff) {
			return
		}
	}
}

// send writes batch in one MULTI/EXEC: all of it lands, or none (a
// lost reply leaves it ambiguous, and the batch is sent again whole).
func (o *outbox) send(batch []pending) error {
	b := o.b
	_, err := b.rdb.TxPipelined(o.ctx, func(p redis.Pipeliner) error {
		for _, e := range batch {
			p.XAdd(o.ctx, &redis.XAddArgs{
				Stream: b.key,
				MaxLen: b.opts.MaxLen,
				Approx: true,
				ID:     "0-*",
				Values: []any{fieldPublisher, b.id, fieldSeq, e.seq, fieldMessage, e.body},
			})
		}
		return nil
	})
	return err
}
