package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
)

// The reader's pacing.
const (
	// blockTime is how long one XREAD waits for entries. It bounds how
	// long a stop function waits for the reader.
	blockTime = 500 * time.Millisecond
	// checkInterval is how often, at most, the reader checks that the
	// stream was not reset under it (it also checks after every error).
	checkInterval = time.Second
	// readCount is the most entries one XREAD returns.
	readCount = 512
	// startTimeout bounds Subscribe's talk with Redis.
	startTimeout = 10 * time.Second
	// dedupeWindow is how long a publisher that went quiet is remembered
	// to skip copies of its messages; sweepInterval is how often the
	// reader forgets the quiet ones.
	dedupeWindow  = time.Hour
	sweepInterval = time.Minute
)

// subscription is the one reader of a Subscribe call.
type subscription struct {
	b       *Broker
	deliver func(*wsgate.BrokerMessage)
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once

	// Owned by the reader's goroutine.
	epoch     string   // the stream's generation when last checked
	last      streamID // the last entry read
	lastMark  entryMark
	lastKnown bool // lastMark is last's: the reader can verify its position
	pubs      map[string]*publisherState
	now       func() time.Time
	lastCheck time.Time
	lastSweep time.Time
	failing   bool
}

// entryMark is what identifies an entry beyond its id: its publisher and
// sequence number, as stored. A Redis restored from an older copy (an RDB
// file, an AOF that missed its last second) numbers new entries with ids
// the reader has seen already; their marks differ.
type entryMark struct{ publisher, seq string }

func markOf(m redis.XMessage) entryMark {
	p, _ := m.Values[fieldPublisher].(string)
	s, _ := m.Values[fieldSeq].(string)
	return entryMark{p, s}
}

// publisherState is what the reader remembers of another process.
type publisherState struct {
	seq  uint64    // its last delivered sequence number
	seen time.Time // when its last entry was read
}

// Subscribe starts the Broker's reader: it calls deliver, on one goroutine,
// with every message another process publishes from now on, in each
// publisher's order, skipping this Broker's own. It reads the stream's
// position first and fails when Redis cannot be reached (within 10 s), so
// that a process never starts at an unknown position. A second Subscribe
// before stop returns ErrSubscribed: one Broker serves one gateway.
//
// stop ends the reader and returns once deliver has returned for the last
// time (within about half a second while Redis answers). It may be called
// more than once.
func (b *Broker) Subscribe(deliver func(m *wsgate.BrokerMessage)) (stop func(), err error) {
	if deliver == nil {
		return nil, errors.New("redisbroker: nil deliver func")
	}
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.sub != nil {
		return nil, ErrSubscribed
	}
	s := &subscription{b: b, deliver: deliver, pubs: map[string]*publisherState{}, now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if s.epoch, err = b.currentEpoch(ctx); err == nil {
		s.last, err = b.position(ctx)
	}
	if err == nil && s.last != (streamID{}) {
		var at []redis.XMessage
		at, err = b.rdb.XRange(ctx, b.key, s.last.String(), s.last.String()).Result()
		if len(at) == 1 {
			s.lastMark, s.lastKnown = markOf(at[0]), true
		}
	}
	if err != nil {
		b.errs.Add(1)
		return nil, fmt.Errorf("redisbroker: reading the stream's position: %w", err)
	}
	s.lastCheck, s.lastSweep = s.now(), s.now()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	b.sub = s
	go s.run()
	return s.stop, nil
}

func (s *subscription) stop() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		s.b.subMu.Lock()
		if s.b.sub == s {
			s.b.sub = nil
		}
		s.b.subMu.Unlock()
	})
}

// epochKey names the string that identifies the stream's generation: a
// random value set by the first reader that finds none. Redis losing its
// data loses it too, which is how readers tell a new stream from theirs.
func (b *Broker) epochKey() string { return "{" + b.opts.Prefix + "}:epoch" }

// currentEpoch returns the stream's generation, starting a new one when
// there is none.
func (b *Broker) currentEpoch(ctx context.Context) (string, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	fresh := hex.EncodeToString(raw[:])
	old, err := b.rdb.SetArgs(ctx, b.epochKey(), fresh, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fresh, nil // there was none: ours is it
	case err != nil:
		return "", err
	}
	return old, nil
}

// position returns the id of the stream's last entry ever added ("0-0"
// when the stream does not exist).
func (b *Broker) position(ctx context.Context) (streamID, error) {
	info, err := b.rdb.XInfoStream(ctx, b.key).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return streamID{}, nil
		}
		return streamID{}, err
	}
	return parseID(info.LastGeneratedID)
}

func (s *subscription) run() {
	defer close(s.done)
	var backoff time.Duration
	recheck := false
	for s.ctx.Err() == nil {
		s.sweep()
		var err error
		if recheck || s.now().Sub(s.lastCheck) >= checkInterval {
			err = s.check()
		}
		if err == nil {
			recheck, err = s.read()
		}
		if err == nil {
			backoff = 0
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		s.fail(err)
		recheck = true // the link broke: Redis may have restarted
		backoff = nextBackoff(backoff)
		ctxSleep(s.ctx, backoff)
	}
}

// read reads the entries past the reader's position and hands them on. It
// reports whether the stream must be checked (see check) before the next
// read: its generation changed, or the reader's position can no longer be
// verified.
func (s *subscription) read() (recheck bool, err error) {
	b := s.b
	// The stream's generation is read on the same connection, just before
	// the entries: when the client reconnected (and perhaps retried on its
	// own) to a Redis that lost its data, the reader learns it before it
	// takes an entry of the new stream for one of the old.
	// So is the last entry read, to make sure the stream did not go back
	// in time under the reader (and number new entries with ids it has
	// read already).
	var epochCmd *redis.StringCmd
	var verifyCmd *redis.XMessageSliceCmd
	var readCmd *redis.XStreamSliceCmd
	_, _ = b.rdb.Pipelined(s.ctx, func(p redis.Pipeliner) error {
		epochCmd = p.Get(s.ctx, b.epochKey())
		if s.lastKnown {
			verifyCmd = p.XRange(s.ctx, b.key, s.last.String(), s.last.String())
		}
		readCmd = p.XRead(s.ctx, &redis.XReadArgs{
			Streams: []string{b.key, s.last.String()},
			Count:   readCount,
			Block:   blockTime,
		})
		return nil
	})
	if s.ctx.Err() != nil {
		return false, nil
	}
	epoch, err := epochCmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return true, err
	}
	if epoch != s.epoch {
		return true, nil // a reset: check reports it and rewinds
	}
	if verifyCmd != nil {
		at, err := verifyCmd.Result()
		switch {
		case err != nil:
			return true, err
		case len(at) == 0:
			// Trimmed (the reader fell behind: what it reads next tells
			// how far), or the stream was reset: check tells. Either way
			// the position can no longer be verified.
			s.lastKnown = false
			return true, nil
		case markOf(at[0]) != s.lastMark:
			s.reset()
			return false, nil
		}
	}
	res, err := readCmd.Result()
	switch {
	case errors.Is(err, redis.Nil): // nothing new within blockTime
		s.recovered()
		return false, nil
	case err != nil:
		return true, err
	}
	s.recovered()
	for _, st := range res {
		for _, m := range st.Messages {
			if s.ctx.Err() != nil {
				return false, nil
			}
			s.handle(m)
		}
	}
	return false, nil
}

// check finds out whether the stream was reset (Redis lost its data, or
// the key was deleted) since the reader last looked, and if so reports it
// and starts reading the new stream from its beginning. Copies of messages
// delivered before the reset are still skipped.
func (s *subscription) check() error {
	b := s.b
	epoch, err := b.currentEpoch(s.ctx)
	if err != nil {
		return err
	}
	pos, err := b.position(s.ctx)
	if err != nil {
		return err
	}
	s.lastCheck = s.now()
	if epoch != s.epoch || pos.less(s.last) {
		s.epoch = epoch
		s.reset()
	}
	return nil
}

// reset reports that the stream the reader followed is gone and starts
// reading the one in its place from its beginning.
func (s *subscription) reset() {
	s.reportGap(Gap{After: s.last.String(), Missed: -1, Reset: true})
	s.last, s.lastMark, s.lastKnown = streamID{}, entryMark{}, false
}

// handle reads one entry.
func (s *subscription) handle(m redis.XMessage) {
	b := s.b
	id, err := parseID(m.ID)
	if err != nil {
		b.malformed.Add(1)
		b.log.Warn("redisbroker: entry skipped", "id", m.ID, "err", err)
		return
	}
	if id.ms == 0 && s.last.ms == 0 && id.seq > s.last.seq+1 {
		s.reportGap(Gap{After: s.last.String(), Next: id.String(), Missed: int64(id.seq - s.last.seq - 1)})
	}
	s.last = id
	s.lastMark, s.lastKnown = markOf(m), true
	publisher, seqText := s.lastMark.publisher, s.lastMark.seq
	body, _ := m.Values[fieldMessage].(string)
	if publisher == b.id {
		return // delivered locally already
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if publisher == "" || err != nil {
		b.malformed.Add(1)
		b.log.Warn("redisbroker: entry skipped: no publisher or sequence number", "id", m.ID)
		return
	}
	p := s.pubs[publisher]
	if p != nil && seq <= p.seq {
		b.duplicates.Add(1)
		return
	}
	if p == nil {
		p = &publisherState{}
		s.pubs[publisher] = p
	}
	p.seq, p.seen = seq, s.now()
	msg, err := decode(body)
	if err != nil {
		b.malformed.Add(1)
		b.log.Warn("redisbroker: entry skipped: undecodable message", "id", m.ID, "publisher", publisher, "err", err)
		return
	}
	b.delivered.Add(1)
	s.deliver(msg)
}

func (s *subscription) reportGap(g Gap) {
	b := s.b
	b.gaps.Add(1)
	if g.Missed > 0 {
		b.missed.Add(uint64(g.Missed))
	}
	if g.Reset {
		b.resets.Add(1)
		b.log.Error("redisbroker: stream reset (Redis lost its data, or the key was deleted); unread messages of other processes lost",
			"after", g.After, "key", b.key)
	} else {
		b.log.Error("redisbroker: messages of other processes lost: trimmed before this process read them",
			"missed", g.Missed, "after", g.After, "next", g.Next, "max_len", b.opts.MaxLen, "key", b.key)
	}
	if b.opts.OnGap != nil {
		b.opts.OnGap(g)
	}
}

// sweep forgets publishers quiet for longer than dedupeWindow.
func (s *subscription) sweep() {
	now := s.now()
	if now.Sub(s.lastSweep) < sweepInterval {
		return
	}
	s.lastSweep = now
	for id, p := range s.pubs {
		if now.Sub(p.seen) > dedupeWindow {
			delete(s.pubs, id)
		}
	}
}

func (s *subscription) fail(err error) {
	s.b.errs.Add(1)
	if s.failing {
		s.b.log.Debug("redisbroker: read from Redis failed again", "err", err)
		return
	}
	s.failing = true
	s.b.log.Warn("redisbroker: cannot read from Redis; will catch up from the last entry read when it is back",
		"err", err, "after", s.last.String(), "key", s.b.key)
}

func (s *subscription) recovered() {
	if s.failing {
		s.failing = false
		s.b.log.Info("redisbroker: reading from Redis again", "after", s.last.String())
	}
}
