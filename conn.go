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

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// Close codes the gateway sends, beyond the standard ones of
// github.com/coder/websocket (1000 normal, 1001 shutting down, 1003 binary
// frame, 1007 invalid UTF-8, 1008 policy, 1009 too big, 1011 internal,
// 1013 slow consumer).
const (
	// StatusTokenExpired closes a connection whose token expired and was
	// not refreshed in band with the $refresh event.
	StatusTokenExpired websocket.StatusCode = 4001
)

// Errors returned by Conn.Emit and Context.Emit. Gateway.Broadcast does not
// report them: a connection it cannot reach is closed, the others served.
var (
	ErrClosed       = errors.New("wsgate: connection closed")
	ErrSlowConsumer = errors.New("wsgate: outbound queue full: slow consumer")
)

// CloseStatus says how a connection ended.
type CloseStatus struct {
	// Code is the close code sent or received. 1006 (abnormal closure)
	// means no close frame went either way: the peer vanished, or stopped
	// answering pings.
	Code websocket.StatusCode
	// Reason is the close reason, short and safe to show.
	Reason string
	// ByServer reports whether the gateway ended the connection (a limit,
	// a guard, Close, Shutdown) rather than the peer.
	ByServer bool
}

// Conn is one open WebSocket connection. Handlers reach it through
// Context.Conn; OnConnect and OnDisconnect receive it. Its methods are safe
// for concurrent use.
type Conn struct {
	gw        *Gateway
	id        string
	ws        *websocket.Conn
	req       *http.Request
	principal atomic.Pointer[Principal]
	ticket    *ticket
	limiter   *rate.Limiter

	// ctx is the handlers' context, cancelled when the connection ends.
	ctx    context.Context
	cancel context.CancelFunc

	// active counts running handlers; draining is set by Shutdown.
	active   atomic.Int32
	draining atomic.Bool
	handlers sync.WaitGroup
	slots    chan struct{} // HandlerConcurrency > 1 only

	// readBlocked is set while the read loop cannot read (see notReading);
	// readStalls counts the times it was.
	readBlocked atomic.Bool
	readStalls  atomic.Uint64

	// mu guards everything below, the outbound queue included.
	mu           sync.Mutex
	queue        []*frame
	spare        []*frame
	queued       int  // frames waiting or being written
	writing      bool // a goroutine owns the socket's write side
	outClosed    bool // no more frames are accepted
	closing      bool // a close has been decided
	closePending bool // the close frame waits for the writer to finish
	failed       bool // the socket is being torn down: write nothing more
	discard      bool // the queue overflowed: write nothing but the close frame
	status       CloseStatus
	ended        bool // the session is over; no background work may start
	bg           sync.WaitGroup
	pingTimer    *time.Timer
	expiryTimer  *time.Timer
	revalTimer   *time.Timer
	writeTimer   *time.Timer

	member membership // rooms and subject index, guarded by gw.hub.mu

	// read loop state, touched only by the session goroutine
	malformed  int
	violations int
}

func newConn(g *Gateway, ws *websocket.Conn, r *http.Request, p *Principal, t *ticket) *Conn {
	c := &Conn{gw: g, id: newConnID(), ws: ws, req: r, ticket: t}
	c.principal.Store(p)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if g.opts.EventsPerSecond > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(g.opts.EventsPerSecond), g.opts.EventBurst)
	}
	if g.opts.HandlerConcurrency > 1 {
		c.slots = make(chan struct{}, g.opts.HandlerConcurrency)
	}
	// Messages are read through our own limit (see readMessage), one byte
	// past it, so that we, not the library, decide the close.
	ws.SetReadLimit(g.opts.ReadLimit + 1)
	return c
}

// ID returns the connection's identifier: random, unique, safe to log.
func (c *Conn) ID() string { return c.id }

// Principal returns who the connection is authenticated as (nil when
// anonymous). A $refresh replaces it.
func (c *Conn) Principal() *Principal { return c.principal.Load() }

// Request returns the HTTP upgrade request. Do not use its Context: the
// connection has been hijacked.
func (c *Conn) Request() *http.Request { return c.req }

// Subprotocol returns the negotiated subprotocol, "" for none.
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Context returns a context cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// Emit queues an event for this connection. It never blocks: the frame is
// written by a goroutine of the connection's, and when the outbound queue is
// full the connection is closed with 1013 and ErrSlowConsumer returned.
func (c *Conn) Emit(event string, data any) error {
	f := c.gw.frames.get()
	var err error
	if f.b, err = appendEvent(f.b, event, data); err != nil {
		c.gw.frames.put(f)
		return err
	}
	return c.send(f, false)
}

// Close closes the connection with code and reason, after the frames
// already queued. Keep reasons short: over 123 bytes they are replaced.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.closeWith(code, reason)
}

// closeWith starts a close handshake with code once every queued frame is
// written. Only the first close decides the status.
func (c *Conn) closeWith(code websocket.StatusCode, reason string) {
	if len(reason) > 123 {
		code, reason = websocket.StatusInternalError, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.outClosed = true, true
	c.status = CloseStatus{Code: code, Reason: reason, ByServer: true}
	if c.writing {
		c.closePending = true // flush starts the close when it is done
		return
	}
	c.startCloseLocked()
}

// fail ends the connection at once, dropping what is queued: for a peer
// that cannot be written to (1013) or is gone (1006).
func (c *Conn) fail(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.outClosed = true, true
		c.status = CloseStatus{Code: code, Reason: reason, ByServer: true}
	}
	c.failed = true
	c.dropQueueLocked()
	c.mu.Unlock()
	_ = c.ws.CloseNow()
}

// startCloseLocked runs the close handshake in the background. c.mu held.
func (c *Conn) startCloseLocked() {
	if c.ended {
		return
	}
	code, reason := c.status.Code, c.status.Reason
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		_ = c.ws.Close(code, reason)
	}()
}

// enter registers background work; it reports false once the session has
// ended, and the caller must then do nothing.
func (c *Conn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.bg.Add(1)
	return true
}

// drain is Shutdown's first step: no new events, close with 1001 once the
// running handlers are done.
func (c *Conn) drain() {
	c.draining.Store(true)
	if c.active.Load() == 0 {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
}

// abort is Shutdown's last resort: cancel the handlers and close now.
func (c *Conn) abort() {
	c.cancel()
	c.closeWith(websocket.StatusGoingAway, "server shutting down")
	c.mu.Lock()
	c.failed = true
	c.dropQueueLocked()
	c.mu.Unlock()
	_ = c.ws.CloseNow()
}

func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
