// Package wsgate is an embeddable gateway for authenticated WebSocket
// connections: what NestJS's @WebSocketGateway gives a TypeScript team,
// done the way Go code is written and safe by default.
//
// A Gateway is an http.Handler. Mounted on a path of an existing server, it
// checks the request's Origin against one origin policy (which also answers
// CORS), finds and verifies the connection's token before upgrading (a bad
// one gets an HTTP status, never a socket), runs connect guards, upgrades,
// and then dispatches named JSON events to handlers through guard chains
// and exception-filter chains, with acknowledgements and emits.
//
// The way a connection travels, top to bottom:
//
//	HTTP request ─► origin policy ─► token extraction ─► JWT verification ─► connect guards
//	  ─► WebSocket upgrade ─► session: read loop ─► decode envelope ─► route by event name
//	  ─► gateway guards ─► handler guards ─► handler ─► ack / emit ─► write queue ─► socket
//	                               (any error) ─► handler filters ─► gateway filters ─► default filter
package wsgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/rs/cors"
	"github.com/wsgate/wsgate/internal/sessiongroup"
	"github.com/wsgate/wsgate/internal/wsio"
)

// Gateway serves WebSocket connections on one path. Create it with New,
// register handlers with Handle or On, and mount it on a mux. A Gateway is
// safe for concurrent use; several can live in one process.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	origins *originPolicy
	cors    http.Handler
	accept  websocket.AcceptOptions
	frames  framePool

	routesMu sync.Mutex // serialises registrations
	routes   atomic.Pointer[map[string]*route]

	admission admission    // connection counts, live sessions, the shutdown flag
	connsMu   sync.RWMutex // written by track and untrack; read by broadcasts, which may overlap
	conns     map[*Conn]struct{}
	hub       hub // rooms and subjects

	stopBroker     func() // ends the Broker's deliveries; nil without one
	stopBrokerOnce sync.Once

	hooks *Hooks // nil when Options.Hooks sets none

	inline bool // authentication runs on the handshake's goroutine (see verify)
}

// New returns a gateway configured by opts. It refuses a configuration
// that would be unsafe without saying so: cookie authentication with no
// allowed origin (any site could open connections with your users' cookies)
// unless InsecureAllowAnyOrigin is set, malformed origins, and a negative
// value for a limit that cannot be turned off.
func New(opts Options) (*Gateway, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	origins, err := newOriginPolicy(opts.Origins, opts.OriginFunc, opts.InsecureAllowAnyOrigin)
	if err != nil {
		return nil, err
	}
	if origins.empty() && usesAmbientToken(opts.TokenSources) {
		return nil, errors.New("wsgate: cookie authentication needs Options.Origins (or OriginFunc): " +
			"without an origin allow-list any web site could connect with your users' cookies; " +
			"set InsecureAllowAnyOrigin only for local development")
	}
	for _, src := range opts.TokenSources {
		if src.Extract == nil {
			return nil, fmt.Errorf("wsgate: token source %q has no Extract function", src.Name)
		}
	}
	if opts.AllowAnonymous && opts.Authenticator == nil {
		return nil, errors.New("wsgate: AllowAnonymous needs an Authenticator: without one every connection is anonymous already")
	}
	g := &Gateway{
		opts:    opts,
		log:     opts.Logger,
		origins: origins,
		conns:   make(map[*Conn]struct{}),
		hooks:   hooksOf(opts),
	}
	g.inline = g.inlineAuthentication()
	g.admission.init(opts.MaxConnections, opts.MaxConnectionsPerSubject)
	g.hub.init()
	empty := map[string]*route{}
	g.routes.Store(&empty)
	g.cors = cors.New(cors.Options{
		AllowOriginFunc:  origins.allowed,
		AllowCredentials: true,
	}).Handler(http.HandlerFunc(upgradeRequired))
	g.accept = websocket.AcceptOptions{
		// Our origin policy has already run; the library's own check
		// would let a same-host origin of any scheme through.
		InsecureSkipVerify: true,
		Subprotocols:       subprotocols(opts),
		// Off unless opted in: see Compression.
		CompressionMode:      opts.Compression.mode(),
		CompressionThreshold: opts.CompressionThreshold,
	}
	if opts.Broker != nil {
		stop, err := opts.Broker.Subscribe(g.deliver)
		if err != nil {
			return nil, fmt.Errorf("wsgate: subscribe to the broker: %w", err)
		}
		if stop == nil {
			stop = func() {}
		}
		g.stopBroker = stop
	}
	return g, nil
}

// ServeHTTP runs the handshake pipeline and, when it succeeds, starts the
// connection's session on a goroutine of its own and returns: a WebSocket
// outlives its request (Shutdown ends the sessions; Len counts them). Every
// refusal is an HTTP status with a JSON body
// {"status":"error","message":…,"code":…}, answered before any upgrade.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ignoreBody(w, r) // every answer but the upgrade, which refuses a body
	upgrade := isUpgradeRequest(r)
	origin, err := g.checkOrigin(r, upgrade)
	if err != nil {
		g.refuse(w, r, err)
		return
	}
	if !upgrade {
		g.cors.ServeHTTP(w, r) // preflights and plain CORS requests
		return
	}
	if err := checkUpgradeRequest(r); err != nil {
		g.refuse(w, r, err)
		return
	}
	if g.admission.closing() {
		g.refuse(w, r, errShuttingDown)
		return
	}
	if g.inline {
		// Authentication runs on this goroutine, at the bottom of the
		// deepest call chains of the handshake: grow its stack now,
		// while it is shallow (see growHandshakeStack).
		_ = growHandshakeStack(0)
	}

	principal, err := g.verify(r, origin)
	if err != nil {
		g.refuse(w, r, err)
		return
	}

	ticket, err := g.admission.admit(principal)
	if err != nil {
		g.refuse(w, r, err)
		return
	}
	// The connection is tracked before the 101 goes out, so that an emit
	// to its subject made once the client has seen the upgrade reaches it:
	// what is queued before the transport exists waits for it (attach).
	c := newConn(g, nil, r, principal, ticket)
	g.track(c)
	hw := &wsio.Hijacker{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &g.accept)
	if err != nil {
		g.forget(c)
		g.log.Debug("wsgate: upgrade failed", slog.Any("error", err))
		return
	}
	c.attach(newWSTransport(ws, hw.Conn, g.opts.ReadLimit))
	// The session runs on a goroutine of its own and ServeHTTP returns: the
	// net/http goroutine, with the stack the handshake grew and the
	// buffers net/http keeps while its handler runs, is not held for the
	// connection's life. Its request's context is cancelled then; the
	// session never uses it.
	if wg := sessiongroup.From(r.Context()); wg != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.serve(c)
		}()
		return
	}
	go g.serve(c)
}

// Shutdown stops the gateway gracefully: new handshakes are refused with
// 503, events that arrive are answered with UNAVAILABLE, in-flight handlers
// finish and their answers are sent, and then every connection is closed
// with 1001 (a peer that does not complete the close within CloseTimeout
// is dropped). When ctx is done first, the handlers' contexts are cancelled
// and every socket is dropped at once, whatever its peer does. Shutdown
// returns when every connection and every goroutine of the gateway is gone,
// with ctx's error if it expired; a handler that ignores its context holds
// it until that handler returns.
//
// With a Broker, Shutdown then ends the Broker's deliveries to this
// gateway (the stop function Subscribe returned); emits made afterwards
// still publish to the other processes.
//
// http.Server.Shutdown does not touch hijacked connections: call both, the
// gateway's first. See the README.
func (g *Gateway) Shutdown(ctx context.Context) error {
	defer g.unsubscribe()
	g.admission.close()
	for _, c := range g.snapshot() {
		c.drain()
	}
	done := make(chan struct{})
	go func() {
		g.admission.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, c := range g.snapshot() {
		c.abort()
	}
	<-done
	return ctx.Err()
}

// Broadcast emits an event to every open connection: it is
// Everyone().Emit(event, data), so with a Broker it reaches every process.
// The payload is encoded once. It never blocks: a connection whose queue
// is full is closed with 1013 and the others are unaffected. It returns an
// encoding error, or the Broker's.
func (g *Gateway) Broadcast(event string, data any) error {
	return g.Everyone().Emit(event, data)
}

// unsubscribe ends the Broker's deliveries, once.
func (g *Gateway) unsubscribe() {
	if g.stopBroker != nil {
		g.stopBrokerOnce.Do(g.stopBroker)
	}
}

// Len returns the number of open connections.
func (g *Gateway) Len() int {
	g.connsMu.RLock()
	defer g.connsMu.RUnlock()
	return len(g.conns)
}

func (g *Gateway) track(c *Conn) {
	g.connsMu.Lock()
	g.conns[c] = struct{}{}
	g.connsMu.Unlock()
	g.hub.add(c)
}

// forget undoes track for a connection that never got its transport.
func (g *Gateway) forget(c *Conn) {
	c.mu.Lock()
	c.closedLocked()
	c.mu.Unlock()
	g.untrack(c)
	c.ticket.release()
}

// untrack forgets an ended connection; it leaves every room with it.
func (g *Gateway) untrack(c *Conn) {
	g.connsMu.Lock()
	delete(g.conns, c)
	g.connsMu.Unlock()
	g.hub.remove(c)
}

func (g *Gateway) snapshot() []*Conn {
	g.connsMu.RLock()
	defer g.connsMu.RUnlock()
	out := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		out = append(out, c)
	}
	return out
}

func (g *Gateway) lookup(event []byte) *route {
	return (*g.routes.Load())[string(event)]
}

func usesAmbientToken(sources []TokenSource) bool {
	for _, s := range sources {
		if s.Ambient {
			return true
		}
	}
	return false
}

func subprotocols(opts Options) []string {
	out := append([]string(nil), opts.Subprotocols...)
	for _, s := range opts.TokenSources {
		if s.Subprotocol != "" {
			out = append(out, s.Subprotocol)
		}
	}
	return out
}

// handshakeStackReserve is the stack frame growHandshakeStack takes: 8 KiB,
// which makes the runtime give the goroutine that runs a native handshake
// the 16 KiB stack the handshake reaches anyway, in one growth.
//
// Measured with wsgate-load's handshake storm against a plain net/http
// server (CPU profiles of the server): without it the net/http goroutine
// grew its stack twice during the handshake, while reading the token
// cookie and in encoding/json under golang-jwt's NumericDate, each time
// copying a stack 17 to 25 frames deep; runtime.newstack was 12% of the
// server's CPU time. Growing it from ServeHTTP copies 4 frames once, 1
// to 2% of it. A reserve of 4 KiB left the deeper growth in place; 6 and 8 KiB
// removed both; 16 KiB doubled the stack once more, to 32 KiB, which the
// runtime allocates from the heap rather than its per-P stack cache. The
// runtime sizes the new stack to hold the frame on top of what is in use,
// so 8 KiB lands on 16 KiB as long as net/http and any middleware in front
// of the gateway use less than about 7 KiB of stack.
const handshakeStackReserve = 8 << 10

// growHandshakeStack makes the calling goroutine's stack large enough for
// the rest of the handshake, at a depth where growing it is cheap: the
// runtime grows a stack by copying it, frame by frame, to one twice its
// size (or more, to fit the frame that needed it), so one growth of a
// shallow stack costs less than two of a deep one. It returns a byte of
// its frame so that the compiler keeps the frame (i is not known to it).
//
// It runs only on the native handshake's net/http goroutine, which ends
// when ServeHTTP returns: the stack it grows is freed with it, so no
// connection keeps it. A front end's goroutine that lives on with its
// session (Admit) must not call it.
//
//go:noinline
func growHandshakeStack(i int) byte {
	var reserve [handshakeStackReserve]byte
	return reserve[i%len(reserve)]
}
