package wsgate

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for Options. A zero field in Options means its default; where a
// limit can be turned off, a negative value does that, and elsewhere New
// refuses a negative value.
const (
	DefaultTokenCookie              = "access_token"
	DefaultConnectTimeout           = 10 * time.Second
	DefaultReadLimit                = 64 << 10
	DefaultPingInterval             = 25 * time.Second
	DefaultPongTimeout              = 20 * time.Second
	DefaultWriteTimeout             = 10 * time.Second
	DefaultCloseTimeout             = 5 * time.Second
	DefaultOutboundQueue            = 256
	DefaultEventsPerSecond          = 50
	DefaultEventBurst               = 100
	DefaultMaxRateViolations        = 50
	DefaultMaxMalformedFrames       = 10
	DefaultMaxConnections           = 10_000
	DefaultMaxConnectionsPerSubject = 64
	DefaultRevalidateInterval       = time.Minute
	defaultHandlerConcurrency       = 1

	// MaxReadLimit is the largest ReadLimit New accepts: 1 GiB.
	MaxReadLimit = 1 << 30
)

// Options configure a Gateway. The zero value is a gateway with no
// authentication and no allowed browser origin; see each field for its
// default. Options are read once, by New.
type Options struct {
	// Origins lists the browser origins allowed to open a connection, as
	// "scheme://host[:port]". A host may start with whole-label wildcards:
	// "https://*.example.com" allows "https://app.example.com" but neither
	// "https://a.b.example.com" nor "https://evilexample.com". The same
	// list answers CORS preflights on the gateway's path.
	Origins []string
	// OriginFunc, if set, is asked about origins that no entry of Origins
	// allows. It receives the normalised origin.
	OriginFunc func(origin string) bool
	// InsecureAllowAnyOrigin allows every origin. With cookie
	// authentication it lets any web site act with your users' cookies
	// (cross-site WebSocket hijacking). For local development only.
	InsecureAllowAnyOrigin bool
	// AllowMissingOrigin admits requests without an Origin header, which
	// only non-browser clients send. It never applies to a token found in a
	// cookie (an ambient credential): such a request is always refused.
	AllowMissingOrigin bool

	// Authenticator verifies the connection's token. Nil means no
	// authentication: every connection is anonymous.
	Authenticator Authenticator
	// TokenSources are tried in order to find the token. The default is
	// CookieToken(DefaultTokenCookie).
	TokenSources []TokenSource
	// AllowAnonymous admits a connection that carries no token at all, with
	// a nil principal; guards such as Authenticated then decide per event.
	// A token that is present but bad is refused all the same.
	AllowAnonymous bool
	// ConnectGuards run after authentication and before the upgrade. A
	// denial answers 403 (or the Status of the *Error it returns).
	ConnectGuards []Guard
	// ConnectTimeout bounds the handshake, authentication and connect
	// guards included. Default 10 s.
	ConnectTimeout time.Duration

	// Guards run before the handler guards of every event.
	Guards []Guard
	// Filters run after the handler filters of every event, before the
	// default filter.
	Filters []Filter
	// IncludeCause echoes the offending event name and payload in the
	// error answers of a routed event ("cause"), as NestJS's includeCause
	// does; errors found before routing (a malformed frame, an unknown
	// event, a rate limit) carry none. Off by default: it reflects client
	// input back and can grow answers.
	IncludeCause bool
	// Subprotocols are the application subprotocols the gateway may
	// negotiate, in order of preference.
	Subprotocols []string
	// Compression opts in to permessage-deflate for clients that offer it.
	// Default CompressionOff: compression costs memory per connection and,
	// where a message mixes a secret with attacker-chosen data, leaks the
	// secret through frame sizes (CRIME/BREACH). See Compression.
	Compression Compression
	// CompressionThreshold is the smallest message compressed, in bytes,
	// when Compression is on. Zero means the library's default: 512 bytes
	// without context takeover, 128 with it.
	CompressionThreshold int

	// OnConnect is called after the upgrade, before the first event is
	// read.
	OnConnect func(c *Conn)
	// OnDisconnect is called once when a connection has ended and all its
	// handlers have returned, with the close status.
	OnDisconnect func(c *Conn, status CloseStatus)

	// ReadLimit is the largest message accepted, in bytes; a larger one
	// closes the connection with 1009. Default 64 KiB, at most MaxReadLimit
	// (a message is read whole into memory before it is decoded).
	ReadLimit int64
	// PingInterval is how often the server pings an idle peer; PongTimeout
	// how long it waits for the pong before dropping the connection.
	// Defaults 25 s and 20 s, as Socket.IO. A negative PingInterval turns
	// keepalive off.
	PingInterval time.Duration
	PongTimeout  time.Duration // see PingInterval
	// WriteTimeout bounds one write to the socket; a peer that does not
	// take a frame in time is dropped with 1013. Default 10 s. A write is
	// never cut short before WriteTimeout, and a stalled one is dropped
	// within a quarter of WriteTimeout after it (a watchdog that looks
	// four times per WriteTimeout is cheaper than a timer per write).
	WriteTimeout time.Duration
	// CloseTimeout bounds a close the gateway starts (a limit, Close,
	// Shutdown, token expiry): once the close frame is queued, a peer that
	// has not completed the close handshake within CloseTimeout has its TCP
	// connection dropped, whatever it is sending. Default 5 s.
	CloseTimeout time.Duration
	// OutboundQueue is how many frames may wait for a connection's socket.
	// When it is full the connection is closed with 1013 (slow consumer):
	// emits and broadcasts never block. Default 256.
	OutboundQueue int

	// EventsPerSecond and EventBurst set each connection's token bucket.
	// An event over the rate is answered with RATE_LIMITED and not
	// handled; MaxRateViolations of them in a row close the connection
	// with 1008. Defaults 50/s, burst 100, 50 violations. A negative
	// EventsPerSecond turns the limit off; a negative MaxRateViolations
	// keeps answering RATE_LIMITED and never closes.
	EventsPerSecond   float64
	EventBurst        int // see EventsPerSecond
	MaxRateViolations int // see EventsPerSecond
	// MaxMalformedFrames is how many frames that are not a valid envelope
	// a connection may send before it is closed with 1008. Default 10; a
	// negative value means no limit.
	MaxMalformedFrames int
	// HandlerConcurrency is how many events of one connection may be
	// handled at once. Default 1: events are handled in the order they
	// arrive. Above 1, order is not kept.
	HandlerConcurrency int

	// MaxConnections caps open connections gateway-wide (503 with
	// Retry-After past it). MaxConnectionsPerSubject caps connections of
	// one principal (429). Defaults 10 000 and 64; negative means no cap.
	MaxConnections           int
	MaxConnectionsPerSubject int // see MaxConnections

	// Revalidate, if set, is called every RevalidateInterval (default one
	// minute) for each authenticated connection; an error closes it with
	// 1008. Use it to revoke sessions. Its ctx ends after ConnectTimeout or
	// when the connection does; the connection's end waits for it to
	// return, so honour ctx.
	Revalidate         func(ctx context.Context, c *Conn) error
	RevalidateInterval time.Duration // see Revalidate

	// Broker carries room, subject and everyone emits and disconnects to
	// the other gateway processes of a deployment (see Broker and Target).
	// New subscribes to it and Shutdown ends that subscription. Default
	// nil: one process, and emits cost nothing for the possibility of
	// others.
	Broker Broker

	// Logger receives the gateway's logs. Default slog.Default().
	Logger *slog.Logger

	// Hooks report connections, handshakes, events and the Broker's
	// traffic to metrics and traces (see Hooks). Default none, at no cost.
	Hooks Hooks
}

// withDefaults returns a copy of o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if len(o.TokenSources) == 0 && o.Authenticator != nil {
		o.TokenSources = []TokenSource{CookieToken(DefaultTokenCookie)}
	}
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&o.ReadLimit, DefaultReadLimit)
	setDefault(&o.PingInterval, DefaultPingInterval)
	setDefault(&o.PongTimeout, DefaultPongTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.CloseTimeout, DefaultCloseTimeout)
	setDefault(&o.OutboundQueue, DefaultOutboundQueue)
	setDefault(&o.EventsPerSecond, DefaultEventsPerSecond)
	setDefault(&o.EventBurst, DefaultEventBurst)
	setDefault(&o.MaxRateViolations, DefaultMaxRateViolations)
	setDefault(&o.MaxMalformedFrames, DefaultMaxMalformedFrames)
	setDefault(&o.HandlerConcurrency, defaultHandlerConcurrency)
	setDefault(&o.MaxConnections, DefaultMaxConnections)
	setDefault(&o.MaxConnectionsPerSubject, DefaultMaxConnectionsPerSubject)
	setDefault(&o.RevalidateInterval, DefaultRevalidateInterval)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// validate refuses the negative values that do not mean "off": each would
// break every connection (a queue of -1 frames, a read limit of -1 bytes).
func (o *Options) validate() error {
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"ConnectTimeout", o.ConnectTimeout < 0},
		{"ReadLimit", o.ReadLimit < 0},
		{"PongTimeout", o.PongTimeout < 0},
		{"WriteTimeout", o.WriteTimeout < 0},
		{"CloseTimeout", o.CloseTimeout < 0},
		{"OutboundQueue", o.OutboundQueue < 0},
		{"EventBurst", o.EventBurst < 0},
		{"HandlerConcurrency", o.HandlerConcurrency < 0},
		{"RevalidateInterval", o.RevalidateInterval < 0},
	} {
		if f.negative {
			return fmt.Errorf("wsgate: Options.%s is negative: this limit cannot be turned off (zero means its default)", f.name)
		}
	}
	if o.CompressionThreshold < 0 {
		return fmt.Errorf("wsgate: Options.CompressionThreshold is negative (zero means its default)")
	}
	if o.Compression < CompressionOff || o.Compression > CompressionContextTakeover {
		return fmt.Errorf("wsgate: Options.Compression is %v, not one of the Compression constants", o.Compression)
	}
	if o.ReadLimit > MaxReadLimit {
		return fmt.Errorf("wsgate: Options.ReadLimit is over MaxReadLimit (%d bytes)", int64(MaxReadLimit))
	}
	return nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
