// Command chat is a small multi-room chat on wsgate: a page with a login
// form, rooms and direct messages over the browser's native WebSocket, and
// a server that runs alone or as several processes on one Redis.
//
// Run it alone, with no configuration at all (the rooms live in this
// process):
//
//	go run ./examples/chat
//
// and open http://127.0.0.1:8090/ in two browsers (or a browser and a
// private window: the session is a cookie). Several processes share their
// rooms and users through Redis:
//
//	export JWT_SECRET=$(openssl rand -hex 32) REDIS_URL=redis://127.0.0.1:6379/0
//	ADDR=127.0.0.1:8090 go run ./examples/chat &
//	ADDR=127.0.0.1:8091 go run ./examples/chat &
//
// Configuration, all from the environment:
//
//	ADDR           listen address (default 127.0.0.1:8090); a port of 0 picks a free one
//	FRONTEND_HOST  the one allowed browser origin, scheme://host[:port] (default http://<ADDR>,
//	               with the port actually bound and 127.0.0.1 for an address on every interface)
//	JWT_SECRET     HS256 key of the session tokens, at least 32 bytes. Default: one generated
//	               for this process, which no other process can verify: set the same secret
//	               on every process of a deployment.
//	REDIS_URL      redis:// or rediss:// URL of the Redis the processes share (redisbroker,
//	               keys under the prefix "chat"). Default: none, one process on its own.
//	SHUTDOWN_TIMEOUT  how long SIGINT/SIGTERM waits for handlers and Redis (default 10s)
//	METRICS        1 (or true) serves Prometheus metrics at GET /metrics (default off)
//
// It logs (log/slog, text, on standard output) a line with msg=listening and
// the address it serves on, once it serves. On SIGINT or SIGTERM it closes
// every connection with 1001, flushes what it still has to send to Redis,
// and exits with status 0.
//
// # HTTP
//
//	GET  /        the page (index.html, app.js, app.css: no build step, nothing from a CDN)
//	GET  /ws      the WebSocket (wsgate, protocol v1)
//	POST /login   form field name: 1 to 32 of A-Z a-z 0-9 _ -. Sets the access_token cookie
//	              (HttpOnly, SameSite=Lax, Path=/, Secure over TLS or when FRONTEND_HOST is
//	              https), a JWT with sub = name valid for one hour, and answers 204. Any other
//	              name: 400 VALIDATION_FAILED.
//	POST /logout  with that cookie: clears it, closes every connection of that user on every
//	              process with 1008 "logged out", and answers 204.
//	GET  /metrics with METRICS=1 only (404 otherwise): the Prometheus text format
//
// /login and /logout check the Origin as the gateway does: a request without
// one, or from another origin than FRONTEND_HOST, is answered 403
// ORIGIN_NOT_ALLOWED (a page of another site must not log a user in or out).
// Every refusal is a JSON body {"status":"error","message":…,"code":…}.
// The login takes no password: put your own authentication in front of
// /login; the rest does not change.
//
// With METRICS=1, GET /metrics answers the Prometheus text format: the
// gateway's wsgate_… metrics (connections, refused handshakes, events by
// name and outcome, guard denials, rate-limited events and, with
// REDIS_URL, the Broker's publications, deliveries and delivery lag; see
// the README), and the Go runtime's and the process's. They are served on
// ADDR beside the page, as suits a demo: anyone who can reach the port can
// read them. A production server serves metrics on an internal listener.
//
// # Events
//
// A WebSocket handshake without a valid access_token cookie is refused with
// 401 before the upgrade: the chat has no anonymous visitors. Then (rooms
// are 1 to 64 of A-Z a-z 0-9 _ -, texts 1 to 1000 characters; anything else
// is answered VALIDATION_FAILED):
//
//	join  {"room": r}             ack {"room": r}
//	leave {"room": r}             ack {"room": r}
//	say   {"room": r, "text": t}  ack {"ok": true}; every connection in r, on every process,
//	                              the sender's included, gets message {"room", "from", "text"}.
//	                              Into a room the connection has not joined: FORBIDDEN.
//	dm    {"to": u, "text": t}    ack {"ok": true}; every connection of user u, on every
//	                              process, gets direct {"from", "text"}.
//
// A connection is in at most 100 rooms; a join past that is answered
// TOO_MANY_ROOMS. A dm to a user with no connection reaches nobody and is
// still acknowledged: the ack says the message was sent, not read.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// The host server's timeouts. The chat's requests are a WebSocket
// handshake, a small form or a small static file.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 60 * time.Second
)

// redisPrefix is the prefix of the chat's Redis keys (see redisbroker).
const redisPrefix = "chat"

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(out, nil))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close() // a no-op once the server has closed it
	if cfg.frontendHost == "" {
		cfg.frontendHost = ownOrigin(ln.Addr())
	}

	var broker *redisbroker.Broker
	var fanout wsgate.Broker // nil, not a nil *redisbroker.Broker, without Redis
	if cfg.redisURL != "" {
		broker, err = redisbroker.Open(cfg.redisURL, redisbroker.Options{Prefix: redisPrefix, Logger: logger})
		if err != nil {
			return err
		}
		fanout = broker
	}
	app, err := newChat(cfg, logger, fanout)
	if err != nil {
		if broker != nil {
			broker.Close()
		}
		return err
	}
	return serve(ctx, ln, cfg, app, broker, logger)
}

// serve serves app on ln until ctx is done, then shuts down: the gateway
// first (close 1001 once running handlers finish), then the HTTP server,
// then the Broker, which sends what it still holds.
func serve(ctx context.Context, ln net.Listener, cfg config, app *chat, broker *redisbroker.Broker, logger *slog.Logger) error {
	srv := newServer(app.handler(), logger)
	mode := "in-process"
	if broker != nil {
		mode = "redis"
	}
	if cfg.generatedSecret {
		logger.Warn("JWT_SECRET is not set: generated a key for this process; no other process can verify its sessions")
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", "http://"+ln.Addr().String(), "origin", cfg.frontendHost, "broker", mode)

	select {
	case err := <-serveErr: // the listener failed
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		app.gw.Shutdown(sctx)
		if broker != nil {
			broker.Close()
		}
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// http.Server.Shutdown does not touch hijacked (WebSocket)
	// connections: the gateway closes them first.
	gwErr := app.gw.Shutdown(sctx)
	if errors.Is(gwErr, context.DeadlineExceeded) {
		// Connections that did not close in time (a handler still
		// running, a peer that stopped mid-frame) were dropped at the
		// deadline: that is the bound doing its job, not a failure.
		logger.Warn("connections still open at SHUTDOWN_TIMEOUT were dropped")
		gwErr = nil
	}
	srvErr := srv.Shutdown(sctx)
	var brokerErr error
	if broker != nil {
		brokerErr = broker.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(gwErr, srvErr, brokerErr)
}

// newServer returns the http.Server of h. The bytes outside the gateway
// are the server's to bound, and each zero timeout means forever:
// ReadHeaderTimeout stops a client that sends its headers slowly
// (slowloris), ReadTimeout one whose announced body never comes, and
// IdleTimeout a keep-alive connection that went quiet. Hijacking clears
// them for the WebSocket, which the gateway's keepalive and limits govern.
func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// handler routes the chat's requests.
func (c *chat) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", c.gw)
	mux.HandleFunc("/login", c.login)
	mux.HandleFunc("/logout", c.logout)
	page := pageHandler(c.cfg.frontendHost)
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /app.js", page)
	mux.Handle("GET /app.css", page)
	mountMetrics(mux, c.metrics)
	return mux
}
