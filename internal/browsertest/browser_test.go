package browsertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/browsertest"
	"github.com/wsgate/wsgate/internal/leakcheck"
	"github.com/wsgate/wsgate/wsgatetest"
)

// TestMain fails the run if a test leaves a goroutine of this module behind.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// site is three origins of one site (127.0.0.1, three ports) and what the
// gateway saw of them. app serves a page at / and the gateway at /ws; front
// is a front end of its own (as FRONTEND_HOST in examples/nestport), so its
// requests to the gateway are cross-origin and go through CORS. Both are
// allowed; other is not.
type site struct {
	app, front, other *httptest.Server
	tokens            wsgatetest.Signer
	connects, auths   atomic.Int32 // OnConnect and Authenticate calls
	mu                sync.Mutex
	seen              map[string][]string // requests to /ws by Origin, as "METHOD upgrade cookie STATUS"
}

// newSite serves a gateway like examples/nestport's at app's /ws.
func newSite(t *testing.T) *site {
	t.Helper()
	key := []byte("browsertest-hs256-key-of-at-least-32-bytes")
	s := &site{tokens: wsgatetest.Signer{Key: key, Issuer: "auth", Audience: "app"}, seen: map[string][]string{}}
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>browsertest</title>\n")
	})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	s.app, s.front, s.other = httptest.NewServer(mux), httptest.NewServer(page), httptest.NewServer(page)
	for _, srv := range []*httptest.Server{s.app, s.front, s.other} {
		t.Cleanup(srv.Close)
	}

	verifier, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: key, Issuer: "auth", Audience: "app"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{s.app.URL, s.front.URL},
		Authenticator: wsgate.AuthenticatorFunc(func(ctx context.Context, token string) (*wsgate.Principal, error) {
			s.auths.Add(1)
			return verifier.Authenticate(ctx, token)
		}),
		Guards:    []wsgate.Guard{wsgate.Authenticated},
		OnConnect: func(*wsgate.Conn) { s.connects.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// xyz acks {"received": data, "sub": sub} and emits the same, as nestport's does.
	wsgate.On(gw, "xyz", func(c *wsgate.Context, in any) (map[string]any, error) {
		claims, _ := wsgate.ClaimsFrom[*jwt.RegisteredClaims](c)
		resp := map[string]any{"received": in, "sub": claims.Subject}
		return resp, c.Emit("xyz", resp)
	}, wsgate.HandlerOptions{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		_, err := r.Cookie("access_token")
		what := fmt.Sprintf("%s upgrade=%t cookie=%t", r.Method, r.Header.Get("Upgrade") == "websocket", err == nil)
		gw.ServeHTTP(recorder{w, func(status int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.seen[r.Header.Get("Origin")] = append(s.seen[r.Header.Get("Origin")], fmt.Sprint(what, " ", status))
		}}, r)
	})
	return s
}

// saw checks the requests from origin the gateway answered.
func (s *site) saw(t *testing.T, origin string, want ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(s.seen[origin], want) {
		t.Errorf("gateway answered from %s:\n\t%q\nwant\n\t%q", origin, s.seen[origin], want)
	}
}

// recorder reports the status of the gateway's answer (101 for an upgrade)
// before writing it, so before the browser can see it.
type recorder struct {
	http.ResponseWriter
	record func(status int)
}

// WriteHeader records status, then writes it.
func (r recorder) WriteHeader(status int) { r.record(status); r.ResponseWriter.WriteHeader(status) }

// Unwrap lets websocket.Accept reach the http.Hijacker.
func (r recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// browse launches Chromium and returns a function that opens url in its tab
// and evaluates script there, a JavaScript expression whose %s verbs take
// args JSON-encoded, decoding its value into out.
func browse(ctx context.Context, t *testing.T) func(url string, out any, script string, args ...any) {
	page := browsertest.Launch(ctx, t)
	return func(url string, out any, script string, args ...any) {
		t.Helper()
		for i, a := range args {
			b, _ := json.Marshal(a)
			args[i] = string(b)
		}
		if err := page.Navigate(ctx, url); err != nil {
			t.Fatal(err)
		}
		if err := page.Eval(ctx, fmt.Sprintf(script, args...), out); err != nil {
			t.Fatal(err)
		}
	}
}

// setCookie is the README's quick start: the page sets the token cookie.
const setCookie = `document.cookie = "access_token=" + %s + "; path=/; SameSite=Lax"`

// openSocket opens the WebSocket, sends an xyz request once open, and
// resolves with what happened when two frames arrived or it closed.
const openSocket = `new Promise((resolve) => {
	const out = {opened: false, error: false, closeCode: 0, frames: []};
	const ws = new WebSocket(%s);
	const timer = setTimeout(() => { out.timedOut = true; ws.close(); resolve(out); }, 10000);
	const finish = () => { clearTimeout(timer); resolve(out); };
	ws.onopen = () => { out.opened = true; ws.send(JSON.stringify({event: "xyz", data: {hello: "world"}, id: 1})); };
	ws.onmessage = (m) => { out.frames.push(m.data); if (out.frames.length === 2) { ws.close(1000); finish(); } };
	ws.onerror = () => { out.error = true; };
	ws.onclose = (e) => { out.closeCode = e.code; finish(); };
})`

// socket is what openSocket resolves with.
type socket struct {
	Opened, Error, TimedOut bool
	CloseCode               int
	Frames                  []string
}

// TestAllowedOriginRoundTrip: a page of the allowed origin sets the cookie,
// opens the socket, and gets the xyz ack and the emitted xyz event.
func TestAllowedOriginRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, run := newSite(t), browse(ctx, t)
	var got socket
	run(s.app.URL+"/", nil, setCookie, s.tokens.Token(t, "alice", nil))
	run(s.app.URL+"/", &got, openSocket, "ws"+strings.TrimPrefix(s.app.URL, "http")+"/ws")

	var frames []string // canonical JSON: keys sorted
	for _, f := range got.Frames {
		var v any
		json.Unmarshal([]byte(f), &v)
		b, _ := json.Marshal(v)
		frames = append(frames, string(b))
	}
	slices.Sort(frames)
	want := []string{
		`{"data":{"received":{"hello":"world"},"sub":"alice"},"event":"xyz"}`,
		`{"data":{"received":{"hello":"world"},"sub":"alice"},"id":1}`,
	}
	if !got.Opened || got.TimedOut || !slices.Equal(frames, want) {
		t.Errorf("socket from the allowed origin: %+v, want frames %q", got, want)
	}
	s.saw(t, s.app.URL, "GET upgrade=true cookie=true 101")
	if n, a := s.connects.Load(), s.auths.Load(); n != 1 || a != 1 {
		t.Errorf("OnConnect called %d times, Authenticate %d times; want 1 and 1", n, a)
	}
}

// TestCrossSiteHijackRefused: the allowed page sets the victim's cookie; a
// page of another origin on the same host opens the socket. The browser
// attaches the cookie (cookies are not port-scoped), and the gateway refuses
// with 403 before reading it: no socket opens, nobody is authenticated.
func TestCrossSiteHijackRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, run := newSite(t), browse(ctx, t)
	var got socket
	run(s.app.URL+"/", nil, setCookie, s.tokens.Token(t, "victim", nil))
	run(s.other.URL+"/", &got, openSocket, "ws"+strings.TrimPrefix(s.app.URL, "http")+"/ws")

	if got.Opened || !got.Error || got.TimedOut || got.CloseCode != 1006 || len(got.Frames) != 0 {
		t.Errorf("socket from %s: %+v; want an error and close 1006 without open", s.other.URL, got)
	}
	s.saw(t, s.other.URL, "GET upgrade=true cookie=true 403")
	if n, a := s.connects.Load(), s.auths.Load(); n != 0 || a != 0 {
		t.Errorf("OnConnect called %d times, Authenticate %d times; want neither", n, a)
	}
}

// fetchBoth makes, with credentials, a simple GET and a preflighted POST to
// the gateway's HTTP URL, and reports each status or error name.
const fetchBoth = `(async () => {
	const out = {};
	try {
		const r = await fetch(%[1]s, {credentials: "include"});
		out.getStatus = r.status; out.getCode = (await r.json()).code;
	} catch (e) { out.getError = e.name; }
	try {
		const r = await fetch(%[1]s, {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: "{}"});
		out.postStatus = r.status;
	} catch (e) { out.postError = e.name; }
	return out;
})()`

// fetched is what fetchBoth resolves with.
type fetched struct {
	GetStatus, PostStatus        int
	GetCode, GetError, PostError string
}

// TestCORS: the allowed front end, another origin than the gateway's, reads
// the gateway's 426 through CORS with credentials, from a simple and from a
// preflighted request. From the origin not allowed both are blocked, and
// the refused preflight keeps the POST from being sent at all.
func TestCORS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, run := newSite(t), browse(ctx, t)
	var front, other fetched
	run(s.front.URL+"/", nil, setCookie, s.tokens.Token(t, "alice", nil))
	run(s.front.URL+"/", &front, fetchBoth, s.app.URL+"/ws")
	run(s.other.URL+"/", &other, fetchBoth, s.app.URL+"/ws")

	if want := (fetched{GetStatus: 426, GetCode: "UPGRADE_REQUIRED", PostStatus: 426}); front != want {
		t.Errorf("fetch from the allowed front end: %+v, want %+v", front, want)
	}
	s.saw(t, s.front.URL, "GET upgrade=false cookie=true 426", "OPTIONS upgrade=false cookie=false 204", "POST upgrade=false cookie=true 426")
	if want := (fetched{GetError: "TypeError", PostError: "TypeError"}); other != want {
		t.Errorf("fetch from %s: %+v, want %+v", s.other.URL, other, want)
	}
	s.saw(t, s.other.URL, "GET upgrade=false cookie=true 403", "OPTIONS upgrade=false cookie=false 403")
}
