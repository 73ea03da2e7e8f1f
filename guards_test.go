package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// recordingGuard returns a guard that records name and returns err.
func recordingGuard(rec *recorder, name string, err error) wsgate.Guard {
	return func(c *wsgate.Context) error {
		rec.add(name)
		return err
	}
}

func TestGuardOrder(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	gw, srv := newServer(t, wsgate.Options{
		Guards: []wsgate.Guard{recordingGuard(rec, "gw1", nil), recordingGuard(rec, "gw2", nil)},
	})
	gw.Handle("go", func(c *wsgate.Context) (any, error) {
		rec.add("handler")
		return "done", nil
	}, wsgate.HandlerOptions{Guards: []wsgate.Guard{recordingGuard(rec, "h1", nil), recordingGuard(rec, "h2", nil)}})
	gw.Handle("plain", func(c *wsgate.Context) (any, error) {
		rec.add("plain")
		return nil, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantOK(t, c.Request("go", nil))
	if got := rec.String(); got != "gw1,gw2,h1,h2,handler" {
		t.Fatalf("order = %s, want gateway guards, handler guards, handler", got)
	}
	// A handler without guards of its own still gets the gateway's.
	wantOK(t, c.Request("plain", nil))
	if got := rec.String(); got != "gw1,gw2,h1,h2,handler,gw1,gw2,plain" {
		t.Fatalf("order = %s", got)
	}
}

func TestGuardFirstDenialStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		gateway []error
		handler []error
		want    string // steps that ran
	}{
		{"gateway guard denies", []error{nil, wsgate.ErrForbidden, nil}, []error{nil}, "gw0,gw1"},
		{"first gateway guard denies", []error{wsgate.ErrForbidden, nil}, []error{nil}, "gw0"},
		{"handler guard denies", []error{nil}, []error{nil, wsgate.ErrForbidden, nil}, "gw0,h0,h1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			var gguards, hguards []wsgate.Guard
			for i, err := range tt.gateway {
				gguards = append(gguards, recordingGuard(rec, fmt.Sprintf("gw%d", i), err))
			}
			for i, err := range tt.handler {
				hguards = append(hguards, recordingGuard(rec, fmt.Sprintf("h%d", i), err))
			}
			var handled atomic.Int32
			gw, srv := newServer(t, wsgate.Options{Guards: gguards})
			gw.Handle("guarded", func(c *wsgate.Context) (any, error) {
				handled.Add(1)
				return nil, nil
			}, wsgate.HandlerOptions{Guards: hguards})
			c := srv.Dial(wsgatetest.DialOptions{})

			wantError(t, c.Request("guarded", nil), wsgate.CodeForbidden, "Forbidden resource")
			c.Emit("guarded", nil)
			if ex := c.WaitException(); ex.Code != wsgate.CodeForbidden || ex.Message != "Forbidden resource" {
				t.Fatalf("exception = %+v", ex)
			}
			if got := rec.String(); got != tt.want+","+tt.want {
				t.Fatalf("guards that ran = %s, want %s twice", got, tt.want)
			}
			if n := handled.Load(); n != 0 {
				t.Fatalf("handler ran %d times after a denial", n)
			}
		})
	}
}

func TestGuardAllow(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	var handled atomic.Int32
	h := func(c *wsgate.Context) (any, error) {
		handled.Add(1)
		return "in", nil
	}
	gw.Handle("no", h, wsgate.HandlerOptions{Guards: []wsgate.Guard{
		wsgate.Allow(func(c *wsgate.Context) bool { return false }),
	}})
	gw.Handle("yes", h, wsgate.HandlerOptions{Guards: []wsgate.Guard{
		wsgate.Allow(func(c *wsgate.Context) bool { return c.Event() == "yes" }),
	}})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("no", nil), wsgate.CodeForbidden, "Forbidden resource")
	if n := handled.Load(); n != 0 {
		t.Fatalf("handler ran %d times", n)
	}
	if data := wantOK(t, c.Request("yes", nil)); data != `"in"` {
		t.Fatalf("allowed = %s", data)
	}
}

func TestGuardPlainErrorIsInternalAndLogged(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	connID := make(chan string, 1)
	gw, srv := newServer(t, wsgate.Options{Logger: logs.logger()})
	var handled atomic.Int32
	gw.Handle("fragile-event", func(c *wsgate.Context) (any, error) {
		handled.Add(1)
		return nil, nil
	}, wsgate.HandlerOptions{Guards: []wsgate.Guard{func(c *wsgate.Context) error {
		connID <- c.Conn().ID()
		return errors.New("guard-secret: database password rejected")
	}}})
	r := dialRawClient(t, srv, nil)

	r.send(`{"event":"fragile-event","id":1}`)
	f := r.read()
	if f != `{"id":1,"error":{"status":"error","message":"Internal server error","code":"INTERNAL"}}` {
		t.Fatalf("answer = %s", f)
	}
	id := recv(t, connID, "the guard")
	log := logs.String()
	for _, want := range []string{"fragile-event", id, "guard-secret"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log does not contain %q:\n%s", want, log)
		}
	}
	if n := handled.Load(); n != 0 {
		t.Fatalf("handler ran %d times after a failing guard", n)
	}
	for _, f := range r.closeAndDrain() {
		if strings.Contains(f, "guard-secret") {
			t.Fatalf("the guard's error text reached the client: %s", f)
		}
	}
}

func TestGuardPanicRecovered(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	gw, srv := newServer(t, wsgate.Options{Logger: logs.logger()})
	var handled atomic.Int32
	gw.Handle("boom", func(c *wsgate.Context) (any, error) {
		handled.Add(1)
		return nil, nil
	}, wsgate.HandlerOptions{Guards: []wsgate.Guard{func(c *wsgate.Context) error {
		panic("guard-panic-value")
	}}})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("boom", nil), wsgate.CodeInternal, "Internal server error")
	c.Emit("boom", nil)
	if ex := c.WaitException(); ex.Message != "Internal server error" {
		t.Fatalf("exception = %+v", ex)
	}
	if data := wantOK(t, c.Request("ping", nil)); data != `"pong"` {
		t.Fatalf("ping after a guard panic = %s", data)
	}
	if n := handled.Load(); n != 0 {
		t.Fatalf("handler ran %d times after a panicking guard", n)
	}
	if log := logs.String(); !strings.Contains(log, "guard-panic-value") || !strings.Contains(log, "boom") {
		t.Fatalf("the panic was not logged:\n%s", log)
	}
}

func TestGuardPublicAndAuthenticated(t *testing.T) {
	t.Parallel()
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	opts.Guards = []wsgate.Guard{wsgate.Authenticated}
	gw, srv := newServer(t, opts)
	who := func(c *wsgate.Context) (any, error) {
		if p := c.Principal(); p != nil {
			return p.Subject, nil
		}
		return "anonymous", nil
	}
	gw.Handle("private", who, wsgate.HandlerOptions{})
	gw.Handle("public", who, wsgate.HandlerOptions{Public: true})

	anon := dialBearer(t, srv, "", nil)
	wantError(t, anon.Request("private", nil), wsgate.CodeUnauthorized, "Unauthorized")
	anon.Emit("private", nil)
	if ex := anon.WaitException(); ex.Code != wsgate.CodeUnauthorized {
		t.Fatalf("exception = %+v", ex)
	}
	if data := wantOK(t, anon.Request("public", nil)); data != `"anonymous"` {
		t.Fatalf("public as anonymous = %s", data)
	}

	alice := dialBearer(t, srv, "alice", nil)
	if data := wantOK(t, alice.Request("private", nil)); data != `"alice"` {
		t.Fatalf("private as alice = %s", data)
	}
	if data := wantOK(t, alice.Request("public", nil)); data != `"alice"` {
		t.Fatalf("public as alice = %s", data)
	}
}

func TestGuardRequireClaim(t *testing.T) {
	t.Parallel()
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	gw, srv := newServer(t, opts)
	gw.Handle("admin", func(c *wsgate.Context) (any, error) { return c.Principal().Subject, nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaim("role", "admin")}})
	gw.Handle("staff", func(c *wsgate.Context) (any, error) { return c.Principal().Subject, nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaim("role", "admin", "support")}})

	tests := []struct {
		subject   string
		claims    map[string]any
		admin     string // "" for success, else the error code
		staff     string
		adminData string
	}{
		{"root", map[string]any{"role": "admin"}, "", "", `"root"`},
		{"dana", map[string]any{"role": []string{"dev", "admin"}}, "", "", `"dana"`},
		{"sam", map[string]any{"role": "support"}, wsgate.CodeForbidden, "", ""},
		{"devon", map[string]any{"role": "dev"}, wsgate.CodeForbidden, wsgate.CodeForbidden, ""},
		{"lee", map[string]any{"role": []string{"dev", "ops"}}, wsgate.CodeForbidden, wsgate.CodeForbidden, ""},
		{"case", map[string]any{"role": "Admin"}, wsgate.CodeForbidden, wsgate.CodeForbidden, ""},
		{"norole", nil, wsgate.CodeForbidden, wsgate.CodeForbidden, ""},
		{"", nil, wsgate.CodeUnauthorized, wsgate.CodeUnauthorized, ""},
	}
	for _, tt := range tests {
		c := dialBearer(t, srv, tt.subject, tt.claims)
		ack := c.Request("admin", nil)
		if tt.admin == "" {
			if data := wantOK(t, ack); data != tt.adminData {
				t.Errorf("%q admin = %s, want %s", tt.subject, data, tt.adminData)
			}
		} else {
			wantError(t, ack, tt.admin, "")
		}
		ack = c.Request("staff", nil)
		if tt.staff == "" {
			wantOK(t, ack)
		} else {
			wantError(t, ack, tt.staff, "")
		}
		if tt.admin == wsgate.CodeForbidden {
			wantError(t, c.Request("admin", nil), wsgate.CodeForbidden, "Forbidden resource")
		}
	}
}

func TestGuardReadsMetadata(t *testing.T) {
	t.Parallel()
	opts := bearerJWTOptions(t)
	// A roles guard in the NestJS style: it reads the handler's required
	// roles from metadata, and lets handlers without any through.
	opts.Guards = []wsgate.Guard{func(c *wsgate.Context) error {
		v, ok := c.Metadata("roles")
		if !ok {
			return nil
		}
		claims, _ := wsgate.ClaimsFrom[*multiRoleClaims](c)
		for _, r := range v.([]string) {
			if claims != nil && claims.Role == r {
				return nil
			}
		}
		return wsgate.ErrForbidden
	}}
	gw, srv := newServer(t, opts)
	seen := make(chan any, 1)
	gw.Handle("open", func(c *wsgate.Context) (any, error) {
		v, ok := c.Metadata("roles")
		if ok {
			seen <- v
		}
		return "open", nil
	}, wsgate.HandlerOptions{})
	gw.Handle("audit", func(c *wsgate.Context) (any, error) {
		v, _ := c.Metadata("level")
		return v, nil
	}, wsgate.HandlerOptions{Metadata: map[string]any{"roles": []string{"auditor", "admin"}, "level": 3}})

	auditor := dialBearer(t, srv, "ann", map[string]any{"role": "auditor"})
	if data := wantOK(t, auditor.Request("audit", nil)); data != "3" {
		t.Fatalf("audit = %s", data)
	}
	dev := dialBearer(t, srv, "dev", map[string]any{"role": "dev"})
	wantError(t, dev.Request("audit", nil), wsgate.CodeForbidden, "Forbidden resource")
	wantOK(t, dev.Request("open", nil))
	select {
	case v := <-seen:
		t.Fatalf("handler without metadata saw roles %v", v)
	default:
	}
}

func TestGuardAndHandlerClaimsFrom(t *testing.T) {
	t.Parallel()
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	var mu sync.Mutex
	var guardSaw []string
	opts.Guards = []wsgate.Guard{func(c *wsgate.Context) error {
		claims, ok := wsgate.ClaimsFrom[*multiRoleClaims](c)
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			guardSaw = append(guardSaw, "none")
			return nil
		}
		guardSaw = append(guardSaw, claims.Subject+"@"+claims.Tenant)
		if claims.Tenant == "blocked" {
			return wsgate.ErrForbidden
		}
		return nil
	}}
	gw, srv := newServer(t, opts)
	gw.Handle("tenant", func(c *wsgate.Context) (any, error) {
		claims, ok := wsgate.ClaimsFrom[*multiRoleClaims](c)
		if !ok {
			return "anonymous", nil
		}
		// Claims of another type are not found.
		if _, other := wsgate.ClaimsFrom[*AppClaims](c); other {
			return nil, errors.New("ClaimsFrom found claims of another type")
		}
		return map[string]string{"sub": claims.Subject, "tenant": claims.Tenant, "iss": claims.Issuer}, nil
	}, wsgate.HandlerOptions{})

	c := dialBearer(t, srv, "alice", map[string]any{"tenant": "acme"})
	if data := wantOK(t, c.Request("tenant", nil)); data != `{"iss":"`+testIssuer+`","sub":"alice","tenant":"acme"}` {
		t.Fatalf("tenant = %s", data)
	}
	blocked := dialBearer(t, srv, "mallory", map[string]any{"tenant": "blocked"})
	wantError(t, blocked.Request("tenant", nil), wsgate.CodeForbidden, "")
	anon := dialBearer(t, srv, "", nil)
	if data := wantOK(t, anon.Request("tenant", nil)); data != `"anonymous"` {
		t.Fatalf("tenant as anonymous = %s", data)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(guardSaw, ","); got != "alice@acme,mallory@blocked,none" {
		t.Fatalf("guard saw %s", got)
	}
}

// TestClaimsFromValueOrPointer: a guard written with the claims type itself
// (not a pointer) finds the claims the JWT verifier stored as a pointer,
// and so does the pointer spelling.
func TestClaimsFromValueOrPointer(t *testing.T) {
	t.Parallel()
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	gw, srv := newServer(t, opts)
	gw.Handle("value", func(c *wsgate.Context) (any, error) {
		claims, ok := wsgate.ClaimsFrom[multiRoleClaims](c)
		if !ok {
			return "none", nil
		}
		return claims.Subject + "@" + claims.Tenant, nil
	}, wsgate.HandlerOptions{})
	gw.Handle("pointer", func(c *wsgate.Context) (any, error) {
		claims, ok := wsgate.ClaimsFrom[*multiRoleClaims](c)
		if !ok {
			return "none", nil
		}
		return claims.Subject + "@" + claims.Tenant, nil
	}, wsgate.HandlerOptions{})
	gw.Handle("other", func(c *wsgate.Context) (any, error) {
		_, v := wsgate.ClaimsFrom[AppClaims](c)
		_, p := wsgate.ClaimsFrom[*AppClaims](c)
		return []bool{v, p}, nil
	}, wsgate.HandlerOptions{})

	alice := dialBearer(t, srv, "alice", map[string]any{"tenant": "acme"})
	for _, ev := range []string{"value", "pointer"} {
		if data := wantOK(t, alice.Request(ev, nil)); data != `"alice@acme"` {
			t.Errorf("%s as alice = %s, want \"alice@acme\"", ev, data)
		}
	}
	if data := wantOK(t, alice.Request("other", nil)); data != `[false,false]` {
		t.Errorf("claims of another type found: %s", data)
	}
	anon := dialBearer(t, srv, "", nil)
	for _, ev := range []string{"value", "pointer"} {
		if data := wantOK(t, anon.Request(ev, nil)); data != `"none"` {
			t.Errorf("%s as anonymous = %s, want \"none\"", ev, data)
		}
	}
}

// valueClaims is stored by value by valueAuthenticator.
type valueClaims struct {
	Plan string `json:"plan"`
}

// TestClaimsFromCustomAuthenticator: claims an authenticator stores by
// value are found by the value and the pointer spelling alike; nil claims
// are no claims.
func TestClaimsFromCustomAuthenticator(t *testing.T) {
	t.Parallel()
	auth := wsgate.AuthenticatorFunc(func(_ context.Context, token string) (*wsgate.Principal, error) {
		switch token {
		case "value":
			return &wsgate.Principal{Subject: "v", Claims: valueClaims{Plan: "pro"}}, nil
		case "nil-pointer":
			return &wsgate.Principal{Subject: "n", Claims: (*valueClaims)(nil)}, nil
		}
		return &wsgate.Principal{Subject: "none"}, nil
	})
	gw, srv := newServer(t, wsgate.Options{Authenticator: auth, TokenSources: []wsgate.TokenSource{wsgate.BearerToken()}})
	gw.Handle("plan", func(c *wsgate.Context) (any, error) {
		v, vok := wsgate.ClaimsFrom[valueClaims](c)
		p, pok := wsgate.ClaimsFrom[*valueClaims](c)
		if pok && p == nil {
			return nil, errors.New("ok with a nil pointer")
		}
		plan := ""
		if pok {
			p.Plan = "changed" // a copy: the principal's claims stay as they are
			plan = p.Plan
		}
		again, _ := wsgate.ClaimsFrom[valueClaims](c)
		return map[string]any{"value": vok, "pointer": pok, "plan": v.Plan, "copy": plan, "again": again.Plan}, nil
	}, wsgate.HandlerOptions{})

	for token, want := range map[string]string{
		"value":       `{"again":"pro","copy":"changed","plan":"pro","pointer":true,"value":true}`,
		"nil-pointer": `{"again":"","copy":"","plan":"","pointer":false,"value":false}`,
		"none":        `{"again":"","copy":"","plan":"","pointer":false,"value":false}`,
	} {
		c := srv.Dial(wsgatetest.DialOptions{Header: http.Header{"Authorization": {"Bearer " + token}}})
		if data := wantOK(t, c.Request("plan", nil)); data != want {
			t.Errorf("token %s: %s, want %s", token, data, want)
		}
	}
}

func TestGuardRequireClaims(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	opts.Logger = logs.logger()
	gw, srv := newServer(t, opts)
	acmeOnly := func(c *wsgate.Context, claims *multiRoleClaims) bool { return claims.Tenant == "acme" }
	gw.Handle("pointer", func(c *wsgate.Context) (any, error) { return "in", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaims(acmeOnly)}})
	gw.Handle("value", func(c *wsgate.Context) (any, error) { return "in", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaims(func(c *wsgate.Context, claims multiRoleClaims) bool {
			return claims.Tenant == "acme" && c.Event() == "value"
		})}})
	gw.Handle("mistyped", func(c *wsgate.Context) (any, error) { return "in", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaims(func(*wsgate.Context, *AppClaims) bool { return true })}})

	acme := dialBearer(t, srv, "alice", map[string]any{"tenant": "acme"})
	other := dialBearer(t, srv, "bob", map[string]any{"tenant": "globex"})
	anon := dialBearer(t, srv, "", nil)
	for _, ev := range []string{"pointer", "value"} {
		if data := wantOK(t, acme.Request(ev, nil)); data != `"in"` {
			t.Errorf("%s as acme = %s", ev, data)
		}
		wantError(t, other.Request(ev, nil), wsgate.CodeForbidden, "Forbidden resource")
		wantError(t, anon.Request(ev, nil), wsgate.CodeUnauthorized, "Unauthorized")
	}
	// Claims of another type: a loud internal error, not a silent denial.
	wantError(t, acme.Request("mistyped", nil), wsgate.CodeInternal, "Internal server error")
	if log := logs.String(); !strings.Contains(log, "AppClaims") || !strings.Contains(log, "multiRoleClaims") {
		t.Fatalf("the mistyped guard's failure does not name both types:\n%s", log)
	}
}

// TestGuardSentinelsCannotBeChanged: ErrForbidden and ErrUnauthorized are
// not *Error values anyone can edit, yet errors.Is matches any error that
// carries their code, and filters receive an *Error for them.
func TestGuardSentinelsCannotBeChanged(t *testing.T) {
	t.Parallel()
	for _, s := range []struct {
		err  error
		code string
	}{{wsgate.ErrForbidden, wsgate.CodeForbidden}, {wsgate.ErrUnauthorized, wsgate.CodeUnauthorized}} {
		var e *wsgate.Error
		if errors.As(s.err, &e) {
			t.Errorf("errors.As(%v) found an *Error that could be edited", s.err)
		}
		if !errors.Is(&wsgate.Error{Code: s.code, Message: "custom"}, s.err) {
			t.Errorf("an *Error with code %s does not match %v", s.code, s.err)
		}
		if !errors.Is(s.err, &wsgate.Error{Code: s.code}) {
			t.Errorf("%v does not match an *Error with its code", s.err)
		}
		if !errors.Is(fmt.Errorf("wrapped: %w", s.err), s.err) {
			t.Errorf("a wrapped %v does not match it", s.err)
		}
		if errors.Is(&wsgate.Error{Code: "OTHER"}, s.err) {
			t.Errorf("an *Error with another code matches %v", s.err)
		}
	}
	if errors.Is(wsgate.ErrForbidden, wsgate.ErrUnauthorized) {
		t.Error("ErrForbidden matches ErrUnauthorized")
	}

	var seen atomic.Pointer[wsgate.Error]
	gw, srv := newServer(t, wsgate.Options{Filters: []wsgate.Filter{wsgate.Catch(func(c *wsgate.Context, e *wsgate.Error) error {
		seen.Store(e)
		e.Message += " (edited)" // only this answer
		return e
	})}})
	gw.Handle("handler-denies", func(*wsgate.Context) (any, error) {
		return nil, fmt.Errorf("checking the document: %w", wsgate.ErrForbidden)
	}, wsgate.HandlerOptions{})
	gw.Handle("guard-denies", func(*wsgate.Context) (any, error) { return "open", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{func(*wsgate.Context) error { return wsgate.ErrUnauthorized }}})
	c := srv.Dial(wsgatetest.DialOptions{})
	for range 2 {
		wantError(t, c.Request("handler-denies", nil), wsgate.CodeForbidden, "Forbidden resource (edited)")
		if e := seen.Load(); e == nil || !errors.Is(e, wsgate.ErrForbidden) || !strings.Contains(e.Err.Error(), "checking the document") {
			t.Fatalf("filter saw %+v, want an *Error for ErrForbidden with the wrapping error as its cause", e)
		}
		wantError(t, c.Request("guard-denies", nil), wsgate.CodeUnauthorized, "Unauthorized (edited)")
	}
	if got := wsgate.ErrForbidden.Error() + " | " + wsgate.ErrUnauthorized.Error(); got != "FORBIDDEN: Forbidden resource | UNAUTHORIZED: Unauthorized" {
		t.Fatalf("sentinels after filters edited their answers: %s", got)
	}
}

// recordHandler is a slog.Handler that keeps every record, for tests of what
// the gateway logs.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// at returns the records of level, each as "message event=…" when it has
// an event attribute.
func (h *recordHandler) at(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level != level {
			continue
		}
		line := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "event" {
				line += " event=" + a.Value.String()
			}
			return true
		})
		out = append(out, line)
	}
	return out
}

// TestPublicWarnsWhenNoVisitorCanReachIt: a Public handler on a gateway
// that admits no connection without a token is logged once, at
// registration; where visitors can connect, nothing is logged.
func TestPublicWarnsWhenNoVisitorCanReachIt(t *testing.T) {
	t.Parallel()
	h := func(*wsgate.Context) (any, error) { return "ok", nil }
	tests := []struct {
		name      string
		anonymous bool // AllowAnonymous
		auth      bool // an Authenticator
		public    bool
		guards    bool       // Authenticated on every event
		warn      bool       // a record at level
		level     slog.Level // Info with guards (Public still passes an expired token), Warn without
	}{
		{"authenticator without AllowAnonymous", false, true, true, true, true, slog.LevelInfo},
		{"authenticator without AllowAnonymous, no guards", false, true, true, false, true, slog.LevelWarn},
		{"AllowAnonymous", true, true, true, true, false, slog.LevelInfo},
		{"no authenticator: every connection is anonymous", false, false, true, true, false, slog.LevelInfo},
		{"not Public", false, true, false, true, false, slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recordHandler{}
			opts := wsgate.Options{Logger: slog.New(rec), AllowMissingOrigin: true}
			if tt.guards {
				opts.Guards = []wsgate.Guard{wsgate.Authenticated}
			}
			if tt.auth {
				opts.Authenticator = bearerJWTOptions(t).Authenticator
				opts.TokenSources = []wsgate.TokenSource{wsgate.BearerToken()}
				opts.AllowAnonymous = tt.anonymous
			}
			gw, err := wsgate.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			gw.Handle("health", h, wsgate.HandlerOptions{Public: tt.public})
			gw.Handle("private", h, wsgate.HandlerOptions{})
			warnings := append(rec.at(slog.LevelWarn), rec.at(slog.LevelInfo)...)
			if tt.warn && len(rec.at(tt.level)) != 1 {
				t.Fatalf("records %q, want one at %v", warnings, tt.level)
			}
			switch {
			case !tt.warn && len(warnings) != 0:
				t.Fatalf("warnings %q, want none", warnings)
			case tt.warn && (len(warnings) != 1 || !strings.Contains(warnings[0], "AllowAnonymous") || !strings.HasSuffix(warnings[0], "event=health")):
				t.Fatalf("warnings %q, want one for event health that names AllowAnonymous", warnings)
			}
		})
	}
}

// TestPublicNeedsAllowAnonymous shows why the warning exists: without
// AllowAnonymous a visitor without a token never reaches the Public
// handler (401 at the handshake); with it, the visitor does.
func TestPublicNeedsAllowAnonymous(t *testing.T) {
	t.Parallel()
	for _, anonymous := range []bool{false, true} {
		opts := bearerJWTOptions(t)
		opts.AllowAnonymous = anonymous
		opts.Guards = []wsgate.Guard{wsgate.Authenticated}
		gw, srv := newServer(t, opts)
		gw.Handle("health", func(*wsgate.Context) (any, error) { return "up", nil }, wsgate.HandlerOptions{Public: true})
		if !anonymous {
			if r := srv.Refused(wsgatetest.DialOptions{}); r.Status != http.StatusUnauthorized {
				t.Fatalf("visitor without AllowAnonymous: %d %s, want 401", r.Status, r.RawBody)
			}
			continue
		}
		if data := wantOK(t, srv.Dial(wsgatetest.DialOptions{}).Request("health", nil)); data != `"up"` {
			t.Fatalf("visitor with AllowAnonymous: %s", data)
		}
	}
}
