package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
)

// Defaults of Options.
const (
	DefaultPrefix       = "wsgate"
	DefaultMaxLen       = 100_000
	DefaultBufferSize   = 10_000
	DefaultCloseTimeout = 5 * time.Second
)

// maxPrefixLen bounds Options.Prefix: a key name, not a payload.
const maxPrefixLen = 256

// Errors returned by Publish, Subscribe and Close.
var (
	// ErrBufferFull is returned by Publish when Options.BufferSize
	// publications already wait to be sent: Redis cannot be reached, or
	// takes them slower than this process publishes. The message was not
	// accepted: it reaches no other process.
	ErrBufferFull = errors.New("redisbroker: publication buffer full (Redis unreachable or too slow)")

	// ErrClosed is returned by Publish and Subscribe after Close.
	ErrClosed = errors.New("redisbroker: broker closed")

	// ErrSubscribed is returned by Subscribe while an earlier subscription
	// has not been stopped: one Broker serves one gateway.
	ErrSubscribed = errors.New("redisbroker: already subscribed")
)

// Options configure a Broker. A zero field means its default.
type Options struct {
	// Prefix names the Broker's Redis keys, "{<Prefix>}:fanout" (the
	// stream) and "{<Prefix>}:epoch" (its generation); the braces keep both
	// in one Redis Cluster slot. Every process of an application uses the
	// same prefix; applications sharing a Redis use different ones.
	// Default "wsgate". At most 256 bytes, no spaces, braces or control
	// characters.
	Prefix string

	// MaxLen is the stream's retention, in entries: each XADD trims the
	// stream with MAXLEN ~ MaxLen, so at least MaxLen of the latest entries
	// (of all processes together) stay, and Redis may keep a hundred or
	// so more (it trims whole nodes). It bounds how far behind a reader can fall and still catch up:
	// a process away while more than MaxLen messages were published misses
	// the oldest, and reports it. Each XADD trims with its publisher's
	// MaxLen: give every process of an application the same. Default
	// 100,000.
	MaxLen int64

	// BufferSize is how many of its own publications a process keeps while
	// Redis cannot be reached; past it Publish returns ErrBufferFull.
	// Default 10,000.
	BufferSize int

	// CloseTimeout is how long Close waits for buffered publications to
	// reach Redis before it drops them (and says how many), plus the end
	// of a Redis call in flight. Default 5 s.
	CloseTimeout time.Duration

	// OnGap, when set, is called on the reader's goroutine each time the
	// reader finds messages lost: trimmed before it read them, or gone with
	// a Redis that lost its data (Gap.Reset). It must return quickly: deliveries wait
	// for it. Gaps are also logged and counted in Stats.
	OnGap func(Gap)

	// Logger receives the Broker's logs. Default slog.Default().
	Logger *slog.Logger
}

// A Gap describes messages a reader found lost.
type Gap struct {
	// After is the id of the last entry read before the gap ("0-0" when
	// none was).
	After string
	// Next is the id of the first entry read after it; empty for a reset.
	Next string
	// Missed is how many entries were lost; -1 when it cannot be known
	// (a reset).
	Missed int64
	// Reset reports that the stream was found emptied, recreated or
	// gone back in time (Redis lost its data or came back from an older
	// copy, or the key was deleted): the entries the old stream held past
	// After are gone, and the reader reads the new one from its start.
	Reset bool
}

// Stats are a Broker's counters since New. Buffered is a gauge; the
// others only grow.
type Stats struct {
	Published  uint64 // own messages written to Redis
	Buffered   int    // own messages accepted and waiting to be written
	Refused    uint64 // Publish calls refused: buffer full or broker closed
	Dropped    uint64 // accepted messages given up at Close, unsent
	Delivered  uint64 // other processes' messages handed to the gateway
	Duplicates uint64 // copies of already-delivered messages, skipped
	Gaps       uint64 // gaps and resets found (see Gap)
	Missed     uint64 // entries known lost in gaps
	Resets     uint64 // streams found emptied or recreated
	Malformed  uint64 // entries that could not be decoded, skipped
	Errors     uint64 // failed Redis operations (each is retried)
}

// Broker is a wsgate.Broker on a Redis stream. Make one with New or Open;
// it is safe for concurrent use. One Broker serves one gateway: its
// random id is how the gateway's process recognises (and skips) its own
// publications.
type Broker struct {
	rdb       redis.UniversalClient
	ownClient bool
	key       string
	id        string
	opts      Options
	log       *slog.Logger

	out outbox

	subMu  sync.Mutex
	sub    *subscription // the running subscription, nil when none
	closed bool

	closeOnce sync.Once
	closeErr  error

	published, refused, dropped         atomic.Uint64
	delivered, duplicates, gaps, missed atomic.Uint64
	resets, malformed, errs             atomic.Uint64
	bufferFullLogged                    atomic.Bool
}

var _ wsgate.Broker = (*Broker)(nil)

// New returns a Broker that uses rdb (a *redis.Client, *redis.ClusterClient
// or any redis.UniversalClient). The Broker does not close rdb: its owner
// does, after Close. New does not talk to Redis; Subscribe does. New starts
// the Broker's sender goroutine: call Close when done with the Broker.
func New(rdb redis.UniversalClient, opts Options) (*Broker, error) {
	if rdb == nil {
		return nil, errors.New("redisbroker: nil Redis client")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("redisbroker: process id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	b := &Broker{
		rdb:  rdb,
		key:  "{" + opts.Prefix + "}:fanout",
		id:   id,
		opts: opts,
		log:  opts.Logger.With("broker", "redis", "broker_id", id),
	}
	b.out.start(b)
	return b, nil
}

// Open returns a Broker on a client made from a redis:// or rediss:// URL
// (redis.ParseURL: "redis://user:password@host:6379/0?dial_timeout=3s").
// The Broker owns that client: Close closes it.
func Open(url string, opts Options) (*Broker, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		// ParseURL's errors can quote the URL, password included.
		return nil, errors.New("redisbroker: invalid Redis URL")
	}
	rdb := redis.NewClient(ro)
	b, err := New(rdb, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	b.ownClient = true
	return b, nil
}

func (o *Options) setDefaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if len(o.Prefix) > maxPrefixLen {
		return fmt.Errorf("redisbroker: Prefix longer than %d bytes", maxPrefixLen)
	}
	if strings.IndexFunc(o.Prefix, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar || r == '{' || r == '}'
	}) >= 0 {
		return errors.New("redisbroker: Prefix holds a space, a brace, a control character or invalid UTF-8")
	}
	switch {
	case o.MaxLen == 0:
		o.MaxLen = DefaultMaxLen
	case o.MaxLen < 0:
		return errors.New("redisbroker: negative MaxLen")
	}
	switch {
	case o.BufferSize == 0:
		o.BufferSize = DefaultBufferSize
	case o.BufferSize < 0:
		return errors.New("redisbroker: negative BufferSize")
	}
	switch {
	case o.CloseTimeout == 0:
		o.CloseTimeout = DefaultCloseTimeout
	case o.CloseTimeout < 0:
		return errors.New("redisbroker: negative CloseTimeout")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// ID returns the Broker's random publisher id, as found in its stream
// entries and, as broker_id, in its log lines.
func (b *Broker) ID() string { return b.id }

// Key returns the Redis key of the Broker's stream.
func (b *Broker) Key() string { return b.key }

// Stats returns the Broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Published:  b.published.Load(),
		Buffered:   b.out.len(),
		Refused:    b.refused.Load(),
		Dropped:    b.dropped.Load(),
		Delivered:  b.delivered.Load(),
		Duplicates: b.duplicates.Load(),
		Gaps:       b.gaps.Load(),
		Missed:     b.missed.Load(),
		Resets:     b.resets.Load(),
		Malformed:  b.malformed.Load(),
		Errors:     b.errs.Load(),
	}
}

// Close stops the subscription (as its stop function does), refuses
// further publications, and waits up to Options.CloseTimeout for the
// buffered ones to reach Redis. What it had to give up is logged, counted
// in Stats.Dropped and reported in the returned error. Close closes the
// Redis client only when Open made it. Every goroutine of the Broker has
// ended when Close returns. Calling Close again returns the first call's
// result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.subMu.Lock()
		b.closed = true
		sub := b.sub
		b.subMu.Unlock()
		if sub != nil {
			sub.stop()
		}
		if n := b.out.close(b.opts.CloseTimeout); n > 0 {
			b.dropped.Add(uint64(n))
			b.log.Error("redisbroker: closed with unsent publications; they reach no other process",
				"dropped", n, "key", b.key)
			b.closeErr = fmt.Errorf("redisbroker: %d buffered publication(s) not sent to Redis within %v, dropped", n, b.opts.CloseTimeout)
		}
		if b.ownClient {
			if err := b.rdb.Close(); err != nil && b.closeErr == nil {
				b.closeErr = fmt.Errorf("redisbroker: closing the Redis client: %w", err)
			}
		}
	})
	return b.closeErr
}

// Publish hands m to the other processes: it encodes m, queues it and
// returns nil; the Broker's sender writes the queue to Redis in order, and
// keeps it while Redis cannot be reached. It returns ErrBufferFull when
// Options.BufferSize messages already wait, ErrClosed after Close, ctx's
// error when ctx is done, or an encoding error (Data not valid JSON).
// Publish keeps nothing of m.
func (b *Broker) Publish(ctx context.Context, m *wsgate.BrokerMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := encode(m)
	if err != nil {
		return err
	}
	return b.out.push(body)
}

// ctxSleep waits d or until ctx is done, and reports whether d passed.
func ctxSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Retry pacing of the sender and the reader while Redis fails.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

func nextBackoff(d time.Duration) time.Duration {
	if d < minBackoff {
		return minBackoff
	}
	d *= 2
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}
