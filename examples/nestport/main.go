// Command nestport is the NestJS WebSocket gateway of the README ported to
// wsgate, line for line, and made safer: the origin is checked before the
// cookie is read, a handshake without a usable access_token cookie or with
// a bad token is refused with 401 before any upgrade (where the original
// disconnects after it), and every event goes through guards and exception
// filters.
//
// Run it with no configuration at all:
//
//	go run ./examples/nestport
//
// It then generates an HS256 key, prints a ready token and a snippet to
// paste into the browser console of http://127.0.0.1:8080/.
//
// Configuration, all from the environment:
//
//	ADDR                          listen address (default 127.0.0.1:8080)
//	FRONTEND_HOST                 the one allowed browser origin (default http://<ADDR>)
//	JWT_SECRET                    HS256 key, at least 32 bytes (default: generated and printed)
//	JWT_LEEWAY                    clock-skew leeway, a Go duration (default: wsgate's, 30s)
//	JWT_ISSUER, JWT_AUDIENCE      the iss and aud tokens must carry (default: not checked, as the NestJS original)
//	WS_READ_LIMIT                 largest message in bytes (default 65536); larger closes with 1009
//	WS_EVENTS_PER_SECOND          per-connection event rate (default 50); negative turns it off
//	WS_EVENT_BURST                per-connection burst (default 100)
//	WS_MAX_RATE_VIOLATIONS        rate-limited events in a row before close 1008 (default 50)
//	WS_MAX_MALFORMED              malformed frames before close 1008 (default 10)
//	WS_OUTBOUND_QUEUE             frames queued per connection before close 1013 (default 256)
//	WS_WRITE_TIMEOUT              one write's limit, a duration (default 10s); past it close 1013
//	WS_PING_INTERVAL, WS_PONG_TIMEOUT  keepalive, durations (defaults 25s, 20s)
//	WS_MAX_CONNECTIONS            gateway-wide cap, 503 past it (default 10000)
//	WS_MAX_CONNECTIONS_PER_SUBJECT    per-subject cap, 429 past it (default 64)
//	WS_HANDLER_CONCURRENCY        events handled at once per connection (default 1: in order)
//	SHUTDOWN_TIMEOUT              how long SIGINT/SIGTERM waits for handlers and closes (default 10s); what is still open then is dropped, and the exit status is still 0
//	HTTP_READ_HEADER_TIMEOUT      the host server's limit on reading a request's headers (default 5s)
//	HTTP_READ_TIMEOUT             its limit on reading a whole request, body included (default 10s)
//	HTTP_IDLE_TIMEOUT             how long it keeps an idle keep-alive connection open (default 60s)
//	METRICS                       1 (or true) serves Prometheus metrics at /metrics (default off)
//
// The three HTTP_ timeouts are durations above zero. They bound plain HTTP
// only: hijacking clears a connection's deadlines, so a WebSocket outlives
// them (its life is bounded by keepalive and the gateway's limits).
//
// With METRICS=1, GET /metrics answers the Prometheus text format: the
// gateway's wsgate_… metrics (connections, refused handshakes, events by
// name and outcome, guard denials, rate-limited events; see the README),
// and the Go runtime's and the process's. They are served on ADDR beside
// the gateway, as suits a demo: anyone who can reach the port can read
// them. A production server serves metrics on an internal listener.
//
// Every connection is authenticated: a handshake without the access_token
// cookie is answered 401 {"status":"error","message":"missing token",
// "code":"UNAUTHORIZED"}, as the original's handleConnection disconnects
// it. A token in the query string, in an Authorization header or in a
// cookie of another name is not read. (Options.AllowAnonymous admits
// visitors without a session, for a gateway that mixes public and protected
// events; this port does not set it.)
//
// The gateway is served twice: the native protocol at /ws, and socket.io at
// /socket.io/ for the original's front end, which uses socket.io-client:
// io(BACKEND, {withCredentials: true}) sends the cookie, emitWithAck("xyz",
// data) resolves to the ack, failures arrive as the exception event and as
// error acks, and a refused origin or token is a connect_error.
//
// Events (the fixture the black-box tests rely on):
//
//	xyz     guarded and filtered; acks {"received": <data>, "sub": "<sub>"} and emits xyz with the same payload
//	health  Public: skips the Authenticated guard (IS_PUBLIC_KEY), not the handshake's authentication; acks {"ok": true}
//	admin   needs claim role == "admin"; acks {"ok": true}
//	fail    fails with message "xyz failed", code XYZ_FAILED
//	crash   panics; the filter chain answers "Internal server error"
//
// On SIGINT or SIGTERM it stops accepting connections, closes the open ones
// with 1001 after their running handlers finish, and exits with status 0.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgateprom"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nestport:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(out, nil))
	gw, err := newGateway(cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln, cfg, gw, out)
}

// serve serves gw on ln until ctx is done, then shuts down: the gateway
// first (close 1001 after running handlers finish), then the server.
func serve(ctx context.Context, ln net.Listener, cfg config, gw *wsgate.Gateway, out io.Writer) error {
	sio, err := newSocketIO(gw)
	if err != nil {
		return err
	}
	mux := newMux(gw, sio)
	mountMetrics(mux, cfg.metrics)
	srv := newServer(cfg, mux)
	page, socket := cfg.urls(ln.Addr().String())
	fmt.Fprintf(out, "nestport listening on http://%s (WebSocket at %s, socket.io at /socket.io/, allowed origin %s)\n", ln.Addr(), socket, cfg.frontendHost)
	if cfg.generatedSecret {
		printQuickStart(out, cfg, page, socket)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	// http.Server.Shutdown does not touch hijacked (WebSocket)
	// connections: shut the gateway down first, then the server.
	fmt.Fprintln(out, "nestport shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	gwErr := gw.Shutdown(sctx)
	if errors.Is(gwErr, context.DeadlineExceeded) {
		// Connections that did not close in time (a handler still
		// running, a peer that stopped mid-frame) were dropped at the
		// deadline: that is the bound doing its job, not a failure.
		fmt.Fprintln(out, "nestport: connections still open at SHUTDOWN_TIMEOUT were dropped")
		gwErr = nil
	}
	sio.Close() // sessions that never connected; the gateway closed the others
	srvErr := srv.Shutdown(sctx)
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(gwErr, srvErr)
}

// newServer returns the http.Server that serves h with the configured
// timeouts. The bytes a connection carries outside ServeHTTP are the
// server's to bound, not the gateway's:
//
//   - ReadHeaderTimeout: a client that sends its headers slowly (slowloris)
//     would otherwise hold a connection forever.
//   - ReadTimeout: the whole request, body included; a request that
//     announces a body and never sends it would otherwise wait forever for
//     net/http to discard it before the answer goes out. Its deadline
//     stays on the connection while the handler runs, and net/http cancels
//     the request's context when it passes: a handshake (authentication
//     included) must end within it, so it is at least the gateway's
//     ConnectTimeout (both are 10 s by default). The socket.io front end's
//     long polls clear it for themselves.
//   - IdleTimeout: a keep-alive connection that got its answer and sends
//     nothing more would otherwise be held forever.
//
// Hijacking clears the connection's deadlines, so none of them limits a
// WebSocket's lifetime: the gateway's keepalive and limits govern that.
func newServer(cfg config, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		IdleTimeout:       cfg.idleTimeout,
	}
}

// newMux mounts the gateway at /ws, its socket.io front end at /socket.io/
// (socket.io-client's default path), and a page at / whose console can run
// the quick-start snippet from an allowed origin.
func newMux(gw *wsgate.Gateway, sio *socketio.Server) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.Handle("/socket.io/", sio)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>nestport</title><p>nestport is running. Open the console and paste the snippet it printed.</p>\n")
	})
	return mux
}

// printQuickStart prints a token for the generated key and a snippet that
// sets it as the cookie and talks to the gateway.
func printQuickStart(out io.Writer, cfg config, page, socket string) {
	token, err := mintToken(cfg, "demo-user", "admin", time.Hour)
	if err != nil {
		fmt.Fprintln(out, "cannot mint a demo token:", err)
		return
	}
	fmt.Fprintf(out, `
No JWT_SECRET was set, so a key was generated for this run.
A token for sub "demo-user" with role "admin", valid for one hour:

  %s

Open %s in a browser and paste into its console:

  document.cookie = "access_token=%s; path=/; SameSite=Lax";
  const ws = new WebSocket("%s");
  ws.onmessage = (m) => console.log(m.data);
  ws.onopen = () => ws.send(JSON.stringify({event: "xyz", data: {hello: "world"}, id: 1}));

`, token, page, token, socket)
}

// urls returns the page to open and the WebSocket URL for a server
// listening on addr. The page is this server's own unless FRONTEND_HOST
// names another; the socket is then opened to the host the page was opened
// at, so that the cookie set there goes along.
func (cfg config) urls(addr string) (page, socket string) {
	if cfg.ownOrigin {
		return cfg.frontendHost + "/", "ws://" + strings.TrimPrefix(cfg.frontendHost, "http://") + "/ws"
	}
	return cfg.frontendHost + "/ (your front end, the allowed origin)", "ws://" + addr + "/ws"
}

// mintToken signs a token the port accepts; the quick start and the tests
// use it.
func mintToken(cfg config, sub, role string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := appClaims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Issuer:    cfg.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	if cfg.audience != "" {
		claims.Audience = jwt.ClaimStrings{cfg.audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(cfg.secret)
}

// The host server's default timeouts (see newServer). ReadTimeout bounds
// the whole request: the port's requests are a WebSocket handshake or a GET
// of a small page, so 10 s is generous. IdleTimeout lets a browser reuse a
// keep-alive connection for a minute.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
)

// config is the port's configuration, read from the environment.
type config struct {
	addr            string
	frontendHost    string
	secret          []byte
	generatedSecret bool
	ownOrigin       bool // frontendHost is this server's own page
	leeway          time.Duration
	issuer          string
	audience        string
	shutdownTimeout time.Duration
	// The host server's timeouts (see newServer).
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	limits            wsgate.Options // only the limit fields and Hooks are used
	// metrics is the registry /metrics serves (METRICS=1), nil when off;
	// its gateway metrics' hooks are in limits.Hooks.
	metrics *prometheus.Registry
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		addr:            getenv("ADDR"),
		frontendHost:    getenv("FRONTEND_HOST"),
		secret:          []byte(getenv("JWT_SECRET")),
		issuer:          getenv("JWT_ISSUER"),
		audience:        getenv("JWT_AUDIENCE"),
		shutdownTimeout: 10 * time.Second,

		readHeaderTimeout: defaultReadHeaderTimeout,
		readTimeout:       defaultReadTimeout,
		idleTimeout:       defaultIdleTimeout,
	}
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:8080"
	}
	if cfg.frontendHost == "" {
		origin, err := defaultOrigin(cfg.addr)
		if err != nil {
			return cfg, err
		}
		cfg.frontendHost, cfg.ownOrigin = origin, true
	}
	if len(cfg.secret) == 0 {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return cfg, err
		}
		cfg.secret = []byte(hex.EncodeToString(key))
		cfg.generatedSecret = true
	}
	p := envParser{getenv: getenv}
	p.duration("JWT_LEEWAY", &cfg.leeway)
	p.duration("SHUTDOWN_TIMEOUT", &cfg.shutdownTimeout)
	p.positiveDuration("HTTP_READ_HEADER_TIMEOUT", &cfg.readHeaderTimeout)
	p.positiveDuration("HTTP_READ_TIMEOUT", &cfg.readTimeout)
	p.positiveDuration("HTTP_IDLE_TIMEOUT", &cfg.idleTimeout)
	l := &cfg.limits
	p.int64("WS_READ_LIMIT", &l.ReadLimit)
	p.float("WS_EVENTS_PER_SECOND", &l.EventsPerSecond)
	p.int("WS_EVENT_BURST", &l.EventBurst)
	p.int("WS_MAX_RATE_VIOLATIONS", &l.MaxRateViolations)
	p.int("WS_MAX_MALFORMED", &l.MaxMalformedFrames)
	p.int("WS_OUTBOUND_QUEUE", &l.OutboundQueue)
	p.duration("WS_WRITE_TIMEOUT", &l.WriteTimeout)
	p.duration("WS_PING_INTERVAL", &l.PingInterval)
	p.duration("WS_PONG_TIMEOUT", &l.PongTimeout)
	p.int("WS_MAX_CONNECTIONS", &l.MaxConnections)
	p.int("WS_MAX_CONNECTIONS_PER_SUBJECT", &l.MaxConnectionsPerSubject)
	p.int("WS_HANDLER_CONCURRENCY", &l.HandlerConcurrency)
	var metrics bool
	p.parse("METRICS", func(v string) (err error) { metrics, err = strconv.ParseBool(v); return err })
	if p.err != nil || !metrics {
		return cfg, p.err
	}
	reg, m, err := wsgateprom.NewRegistry(wsgateprom.Options{})
	if err != nil {
		return cfg, err
	}
	cfg.metrics, l.Hooks = reg, m.Hooks()
	return cfg, nil
}

// defaultOrigin is the origin of the page this server serves on addr, as a
// browser on this machine opens it: an address on every interface (":8080",
// "0.0.0.0:8080") is opened as 127.0.0.1.
func defaultOrigin(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("ADDR %q: %w", addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("ADDR %q has no fixed port: set FRONTEND_HOST", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// envParser parses optional variables, keeping the first error.
type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) parse(name string, set func(string) error) {
	v := p.getenv(name)
	if v == "" || p.err != nil {
		return
	}
	if err := set(v); err != nil {
		p.err = fmt.Errorf("%s=%q: %w", name, v, err)
	}
}

func (p *envParser) duration(name string, dst *time.Duration) {
	p.parse(name, func(v string) (err error) { *dst, err = time.ParseDuration(v); return err })
}

// positiveDuration parses a duration that must be above zero: for the
// host server's timeouts zero means none at all, which is never safe.
func (p *envParser) positiveDuration(name string, dst *time.Duration) {
	p.parse(name, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be above zero")
		}
		*dst = d
		return nil
	})
}

func (p *envParser) int(name string, dst *int) {
	p.parse(name, func(v string) (err error) { *dst, err = strconv.Atoi(v); return err })
}

func (p *envParser) int64(name string, dst *int64) {
	p.parse(name, func(v string) (err error) { *dst, err = strconv.ParseInt(v, 10, 64); return err })
}

func (p *envParser) float(name string, dst *float64) {
	p.parse(name, func(v string) (err error) { *dst, err = strconv.ParseFloat(v, 64); return err })
}
