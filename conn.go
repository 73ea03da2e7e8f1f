package wsgate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Errors returned by Conn.Emit, Context.Emit and Context.Reply. Gateway.Broadcast
// does not report them: a connection it cannot reach is closed, the others
// served.
var (
	// ErrClosed: the connection has ended, or its close has begun; nothing
	// more can be sent on it.
	ErrClosed = errors.New("wsgate: connection closed")
	// ErrSlowConsumer: the outbound queue was full; the connection is being
	// closed with 1013.
	ErrSlowConsumer = errors.New("wsgate: outbound queue full: slow consumer")
)

// Conn is one open WebSocket connection. Handlers reach it through
// Context.Conn; OnConnect and OnDisconnect receive it. Its methods are safe
// for concurrent use.
//
// A connection lives through the states of state.go: opening (OnConnect
// runs), open (events are read and handled), draining (Shutdown: handlers
// finish), closing (a close is decided: queued frames are flushed, then the
// close frame) and closed (the socket is gone). Its Context is cancelled as
// soon as it leaves open or draining for good.
type Conn struct {
	// The fields an event touches come first, so that they share as few
	// cache lines as they can: with a thousand busy connections a
	// connection's state is rarely in cache when its next message comes.

	gw    *Gateway
	tr    Transport
	codec Codec // nil: wire protocol v1, encoded directly (see wire.go)
	// exceptionOnAck: a failed request is also emitted as "exception"
	// (see ExceptionOnErrorAck).
	exceptionOnAck bool
	req            *http.Request
	principal      atomic.Pointer[Principal]
	limiter        *rate.Limiter

	// read loop state, touched only by the session goroutine
	malformed  int
	violations int

	// ctx is the handlers' context, cancelled when the connection ends.
	ctx context.Context

	// mu guards the lifecycle, the outbound queue and the timers.
	mu    sync.Mutex
	state connState

	// outbound queue (outbound.go), under mu
	queue        []*frame
	spare        []*frame
	queued       int  // frames waiting or being written
	writing      bool // a goroutine owns the socket's write side
	closePending bool // the close frame waits for the writer to finish
	discard      bool // the queue overflowed: write nothing but the close frame

	writeWatch writeWatch // timers.go

	// inbound events (inbox.go)
	in inbox

	// The rest is touched by the connection's lifecycle, not per event.

	id     string
	ticket *ticket
	cancel context.CancelFunc
	status CloseStatus // under mu
	// closeDone, made when the gateway decides a close, is closed when
	// the close handshake has returned, or when the connection was closed
	// before the handshake could start. Under mu.
	closeDone    chan struct{}
	closeStarted bool
	// bg counts background work (writers, timers, the close handshake);
	// work registers under mu while the state allows it (see enter), so
	// the final Wait never races an Add.
	bg sync.WaitGroup

	// timers (timers.go), under mu
	pingTimer   *time.Timer
	expiryTimer *time.Timer
	revalTimer  *time.Timer
	closeTimer  *time.Timer

	// readBlocked is set while the read loop waits for room in the inbox
	// (see notReading); readStalls counts the times it did.
	readBlocked atomic.Bool
	readStalls  atomic.Uint64

	member membership // rooms and subject index, guarded by gw.hub.mu

	hooks connHooks // hooks.go
}

// newConn makes a connection whose transport comes later (attach): frames
// queued meanwhile wait for it.
func newConn(g *Gateway, codec Codec, r *http.Request, p *Principal, t *ticket) *Conn {
	c := &Conn{gw: g, id: newConnID(), codec: codec, req: keptRequest(r), ticket: t}
	if e, ok := codec.(ExceptionOnErrorAck); ok {
		c.exceptionOnAck = e.ExceptionOnErrorAck()
	}
	c.principal.Store(p)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.in.init(g.opts.HandlerConcurrency)
	return c
}

// ID returns the connection's identifier: random, unique, safe to log.
func (c *Conn) ID() string { return c.id }

// Principal returns who the connection is authenticated as (nil when
// anonymous). A $refresh replaces it.
func (c *Conn) Principal() *Principal { return c.principal.Load() }

// Request returns the HTTP upgrade request as the connection keeps it:
// without its credentials (the Cookie and Authorization headers) and the
// WebSocket handshake's own headers, with no body, and with a background
// Context. A connection does not hold its token for its whole life, nor the
// memory of headers nobody reads; connect guards, which run during the
// handshake, see the whole request. Treat it as read-only.
func (c *Conn) Request() *http.Request { return c.req }

// Subprotocol returns the negotiated WebSocket subprotocol, "" for none (and
// for a connection of a front end that is not a native WebSocket).
func (c *Conn) Subprotocol() string {
	if t, ok := c.tr.(*wsTransport); ok {
		return t.ws.Subprotocol()
	}
	return ""
}

// Context returns a context that is cancelled as soon as the connection
// ends, whoever ends it: the peer (a close frame, a reset, a missed pong),
// the gateway (a limit, a revocation, token expiry, Close, a failed write)
// or Shutdown (once the handlers have finished, or at its deadline).
func (c *Conn) Context() context.Context { return c.ctx }

// Emit queues an event for this connection. It never blocks: the frame is
// written by a goroutine of the connection's. It returns ErrClosed once the
// connection has ended or its close has begun, and ErrSlowConsumer when the
// outbound queue is full (the connection is then closed with 1013).
func (c *Conn) Emit(event string, data any) error {
	f := c.gw.frames.get()
	if err := c.appendEvent(f, event, data); err != nil {
		c.gw.frames.put(f)
		return err
	}
	return c.send(f, false)
}

// Close closes the connection with code and reason once the frames already
// queued are written, and cancels its handlers' context at once. Only the
// first close of a connection decides its status.
//
// code must be one an endpoint may send: 1000–1003, 1007–1014 or
// 3000–4999. Any other code (1005, 1006 and 1015 must never be sent), a
// reason over 123 bytes or a reason that is not valid UTF-8 is replaced by
// 1011 with no reason, which is what the peer and OnDisconnect then see.
func (c *Conn) Close(code StatusCode, reason string) {
	c.closeWith(code, reason)
}

// attach gives c its transport, and starts writing what was queued before
// it existed, and a close decided meanwhile. A connection closed before it
// had a transport drops the transport at once.
func (c *Conn) attach(t Transport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tr = t
	switch {
	case c.state == stateClosed:
		t.Drop()
	case len(c.queue) > 0:
		c.writing = true
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			c.flush()
		}()
	case c.closePending:
		c.closePending = false
		c.startCloseLocked()
	}
}

// keptRequest is the request a connection keeps: see Conn.Request. Header
// values are shared with r, not copied.
func keptRequest(r *http.Request) *http.Request {
	k := r.WithContext(context.Background())
	k.Header = make(http.Header, len(r.Header))
	for name, values := range r.Header {
		switch name {
		case "Cookie", "Authorization", "Upgrade", "Connection", "Sec-Websocket-Key",
			"Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol":
			continue
		}
		k.Header[name] = values
	}
	k.Body, k.GetBody, k.Trailer, k.Form, k.PostForm, k.MultipartForm = http.NoBody, nil, nil, nil, nil, nil
	return k
}

func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
