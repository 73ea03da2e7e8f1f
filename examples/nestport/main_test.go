package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

const frontend = "https://app.example.com"

// newPort serves the port in memory and returns it with a log buffer.
func newPort(t *testing.T) (*wsgatetest.Server, config, *syncWriter) {
	t.Helper()
	cfg, err := loadConfig(env(map[string]string{
		"FRONTEND_HOST": frontend,
		"JWT_SECRET":    "0123456789abcdef0123456789abcdef-test-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: new(bytes.Buffer)}
	gw, err := newGateway(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return wsgatetest.NewServer(t, testMux(t, gw)), cfg, logs
}

func dialAs(t *testing.T, srv *wsgatetest.Server, cfg config, sub, role string) *wsgatetest.Client {
	t.Helper()
	token, err := mintToken(cfg, sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return srv.Dial(wsgatetest.DialOptions{
		Path:    "/ws",
		Origin:  frontend,
		Cookies: []*http.Cookie{{Name: "access_token", Value: token}},
	})
}

func TestXYZAuthorized(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	c := dialAs(t, srv, cfg, "alice", "user")

	ack := c.Request("xyz", map[string]any{"hello": "world"})
	want := `{"received":{"hello":"world"},"sub":"alice"}`
	if !ack.OK() || string(ack.Data) != want {
		t.Fatalf("xyz ack = %s %+v, want %s", ack.Data, ack.Error, want)
	}
	if ev := c.WaitEvent("xyz"); string(ev.Data) != want {
		t.Fatalf("xyz emit = %s, want %s", ev.Data, want)
	}
}

// TestNoUsableToken: the NestJS original disconnects a client whose
// handshake has no cookie header, or no verifying access_token cookie, in
// handleConnection. The port refuses every such handshake with 401 and the
// handshake contract's JSON body, before any upgrade: handleConnection
// (OnConnect) never runs.
func TestNoUsableToken(t *testing.T) {
	t.Parallel()
	srv, cfg, logs := newPort(t)
	token, err := mintToken(cfg, "alice", "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts wsgatetest.DialOptions
	}{
		{"no Cookie header", wsgatetest.DialOptions{}},
		{"cookies without access_token", wsgatetest.DialOptions{
			Cookies: []*http.Cookie{{Name: "theme", Value: "dark"}, {Name: "lang", Value: "en"}},
		}},
		{"token only in the query string", wsgatetest.DialOptions{
			Query: url.Values{"access_token": {token}, "token": {token}},
		}},
		{"token in a cookie of another name", wsgatetest.DialOptions{
			Cookies: []*http.Cookie{{Name: "token", Value: token}, {Name: "jwt", Value: token}},
		}},
		{"token in a cookie whose name differs in case", wsgatetest.DialOptions{
			Cookies: []*http.Cookie{{Name: "Access_Token", Value: token}},
		}},
		{"token in a prefixed cookie the port does not read", wsgatetest.DialOptions{
			Cookies: []*http.Cookie{{Name: "__Host-access_token", Value: token}},
		}},
		{"token only in an Authorization header", wsgatetest.DialOptions{
			Header: http.Header{"Authorization": {"Bearer " + token}},
		}},
	}
	for _, tt := range tests {
		opts := tt.opts
		opts.Path, opts.Origin = "/ws", frontend
		r := srv.Refused(opts)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: status %d %s, want 401", tt.name, r.Status, r.RawBody)
			continue
		}
		want := wsgatetest.ErrorBody{Status: "error", Message: "missing token", Code: wsgate.CodeUnauthorized}
		if r.Body.Status != want.Status || r.Body.Message != want.Message || r.Body.Code != want.Code {
			t.Errorf("%s: body %s, want %+v", tt.name, r.RawBody, want)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", tt.name, got)
		}
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", tt.name, r.Header.Get("WWW-Authenticate"))
		}
		if bytes.Contains(r.RawBody, []byte(token[:20])) {
			t.Errorf("%s: the answer echoes the token: %s", tt.name, r.RawBody)
		}
	}
	if strings.Contains(logs.String(), "handleConnection") {
		t.Errorf("a handshake without a usable token reached handleConnection; logs:\n%s", logs.String())
	}
}

// TestHealthIsPublicNotAnonymous: health is Public in the NestJS sense
// (IS_PUBLIC_KEY): it skips the authentication guard that protects the
// other events, but not the connection's authentication. Any authenticated
// user reaches it, whatever the role; without a token there is no
// connection to send it on.
func TestHealthIsPublicNotAnonymous(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	c := dialAs(t, srv, cfg, "dave", "")
	if ack := c.Request("health", nil); !ack.OK() || string(ack.Data) != `{"ok":true}` {
		t.Fatalf("health as an authenticated user = %s %+v", ack.Data, ack.Error)
	}
	if ack := c.Request("admin", nil); ack.OK() || ack.Error.Code != wsgate.CodeForbidden {
		t.Fatalf("admin without the role = %s %+v, want FORBIDDEN", ack.Data, ack.Error)
	}
	if r := srv.Refused(wsgatetest.DialOptions{Path: "/ws", Origin: frontend}); r.Status != http.StatusUnauthorized {
		t.Fatalf("a visitor without a token: %d %s, want 401 (health is Public, not anonymous)", r.Status, r.RawBody)
	}
}

func TestWrongOrigin(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	token, _ := mintToken(cfg, "alice", "admin", time.Hour)
	for _, origin := range []string{"https://evil.example", "null", "https://app.example.com.evil.example", "http://app.example.com"} {
		r := srv.Refused(wsgatetest.DialOptions{
			Path: "/ws", Origin: origin,
			Cookies: []*http.Cookie{{Name: "access_token", Value: token}},
		})
		if r.Status != http.StatusForbidden || r.Body.Message != "origin not allowed" {
			t.Errorf("origin %q: %d %s, want 403 origin not allowed", origin, r.Status, r.RawBody)
		}
	}
	// A cookie without any Origin is cross-site WebSocket hijacking's
	// shape: refused too.
	r := srv.Refused(wsgatetest.DialOptions{Path: "/ws", Cookies: []*http.Cookie{{Name: "access_token", Value: token}}})
	if r.Status != http.StatusForbidden {
		t.Errorf("no origin: %d %s, want 403", r.Status, r.RawBody)
	}
}

func TestBadTokens(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	expired, _ := mintToken(cfg, "alice", "user", -time.Hour)
	other := cfg
	other.secret = []byte("another-secret-another-secret-another")
	forged, _ := mintToken(other, "alice", "admin", time.Hour)
	for name, token := range map[string]string{
		"expired": expired, "forged": forged, "garbage": "not.a.jwt", "oversized": strings.Repeat("a", 9000),
	} {
		r := srv.Refused(wsgatetest.DialOptions{
			Path: "/ws", Origin: frontend,
			Cookies: []*http.Cookie{{Name: "access_token", Value: token}},
		})
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token: %d %s, want 401 with WWW-Authenticate", name, r.Status, r.RawBody)
		}
		if len(token) > 10 && bytes.Contains(r.RawBody, []byte(token[:10])) {
			t.Errorf("%s token: the answer echoes the token: %s", name, r.RawBody)
		}
	}
}

func TestAdminNeedsRole(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	user := dialAs(t, srv, cfg, "bob", "user")
	if ack := user.Request("admin", nil); ack.OK() || ack.Error.Message != "Forbidden resource" {
		t.Fatalf("admin as user = %s %+v, want Forbidden resource", ack.Data, ack.Error)
	}
	admin := dialAs(t, srv, cfg, "carol", "admin")
	if ack := admin.Request("admin", nil); !ack.OK() || string(ack.Data) != `{"ok":true}` {
		t.Fatalf("admin as admin = %s %+v", ack.Data, ack.Error)
	}
}

func TestFailAndCrash(t *testing.T) {
	t.Parallel()
	srv, cfg, logs := newPort(t)
	c := dialAs(t, srv, cfg, "alice", "user")

	ack := c.Request("fail", nil)
	if ack.OK() || ack.Error.Message != "xyz failed" || ack.Error.Code != "XYZ_FAILED" || ack.Error.Status != "error" {
		t.Fatalf("fail = %+v, want xyz failed / XYZ_FAILED", ack.Error)
	}
	ack = c.Request("crash", nil)
	if ack.OK() || ack.Error.Message != "Internal server error" {
		t.Fatalf("crash = %+v, want Internal server error", ack.Error)
	}
	c.Emit("crash", nil)
	if ex := c.WaitException(); ex.Message != "Internal server error" || strings.Contains(string(ex.Data), "panic") {
		t.Fatalf("crash exception = %+v", ex)
	}
	// The connection survived the panics.
	if ack := c.Request("health", nil); !ack.OK() {
		t.Fatalf("health after crash = %+v", ack.Error)
	}
	if !strings.Contains(logs.String(), "crash event") {
		t.Fatalf("the panic was not logged; logs:\n%s", logs.String())
	}
	// allExceptions owns the log line: each of the two crashes is logged
	// once, not once more by the default filter.
	if n := strings.Count(logs.String(), "crash event"); n != 2 {
		t.Fatalf("the two crashes were logged %d times; logs:\n%s", n, logs.String())
	}
}

func TestPageAndConfig(t *testing.T) {
	t.Parallel()
	srv, _, _ := newPort(t)
	resp, err := srv.HTTPClient().Get("http://wsgatetest.invalid/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "nestport") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, body)
	}

	cfg, err := loadConfig(env(map[string]string{"WS_READ_LIMIT": "1024", "JWT_LEEWAY": "45s"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.frontendHost != "http://127.0.0.1:8080" || !cfg.generatedSecret ||
		len(cfg.secret) < 32 || cfg.limits.ReadLimit != 1024 || cfg.leeway != 45*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
	if _, err := loadConfig(env(map[string]string{"WS_PING_INTERVAL": "soon"})); err == nil {
		t.Fatal("a malformed duration was accepted")
	}
}

// TestShutdownOnSignal serves the real program over an in-memory listener,
// cancels it as SIGTERM does, and checks that an open connection is closed
// with 1001 and serve returns nil.
func TestShutdownOnSignal(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(map[string]string{"FRONTEND_HOST": frontend, "JWT_SECRET": strings.Repeat("k", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	logw := &syncWriter{w: &out}
	gw, err := newGateway(cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln := newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, gw, logw) }()

	token, _ := mintToken(cfg, "alice", "user", time.Hour)
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, "ws://nestport.invalid/ws", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: ln.dial}},
		HTTPHeader: http.Header{"Origin": {frontend}, "Cookie": {"access_token=" + token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM
	_, _, err = ws.Read(dctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("read after shutdown: %v (code %d), want close 1001", err, code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after cancellation")
	}
}

// pipeListener is a net.Listener over in-memory pipes: no port is opened.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "nestport.invalid" }

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// syncWriter makes a writer safe for concurrent use.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}
