package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

// A front end of the tests' own, to drive the seam (Admit, Serve,
// Transport, Codec) the way the socket.io front end does, without its
// protocol: messages are JSON arrays, [event, data] or [event, data, id]
// from the client, and the codec frames answers as
//
//	["emit", event, data]   ["ack", id, data]   ["nack", id, error]

type arrayCodec struct{ exceptionToo bool }

func (c *arrayCodec) Decode(msg []byte) (wsgate.Inbound, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(msg, &parts); err != nil || len(parts) < 2 || len(parts) > 3 {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "not an event array"}
	}
	var name string
	if json.Unmarshal(parts[0], &name) != nil || name == "" {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "bad event name"}
	}
	in := wsgate.Inbound{Event: []byte(name), Data: parts[1]}
	if len(parts) == 3 {
		id, err := strconv.ParseInt(string(parts[2]), 10, 64)
		if err != nil {
			return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "bad id"}
		}
		in.ID, in.HasID = id, true
	}
	return in, nil
}

func (c *arrayCodec) AppendEvent(b []byte, event string, data []byte) []byte {
	ev, _ := json.Marshal(event)
	return fmt.Appendf(b, `["emit",%s,%s]`, ev, data)
}

func (c *arrayCodec) AppendAck(b []byte, id int64, data []byte) []byte {
	return fmt.Appendf(b, `["ack",%d,%s]`, id, data)
}

func (c *arrayCodec) AppendErrorAck(b []byte, id int64, body []byte) []byte {
	return fmt.Appendf(b, `["nack",%d,%s]`, id, body)
}

func (c *arrayCodec) ExceptionOnErrorAck() bool { return c.exceptionToo }

// chanTransport is a Transport over channels: the test is the peer.
type chanTransport struct {
	in, out    chan []byte
	gone       chan struct{}
	failWrites atomic.Bool // writes fail while reads go on, as a half-broken socket
	once       sync.Once
	mu         sync.Mutex
	closed     *wsgate.StatusCode
}

func newChanTransport() *chanTransport {
	return &chanTransport{in: make(chan []byte, 16), out: make(chan []byte, 64), gone: make(chan struct{})}
}

func (t *chanTransport) ReadMessage(b []byte, max int64) ([]byte, error) {
	select {
	case m := <-t.in:
		if int64(len(m)) > max {
			m = m[:max]
		}
		return append(b, m...), nil
	case <-t.gone:
		return b, errors.New("transport dropped")
	}
}

func (t *chanTransport) WriteMessage(b []byte) error {
	if t.failWrites.Load() {
		return errors.New("broken pipe")
	}
	select {
	case t.out <- append([]byte(nil), b...):
		return nil
	case <-t.gone:
		return errors.New("transport dropped")
	}
}

func (t *chanTransport) Ping(ctx context.Context) error { return nil }

func (t *chanTransport) Close(code wsgate.StatusCode, reason string) error {
	t.mu.Lock()
	t.closed = &code
	t.mu.Unlock()
	t.Drop()
	return nil
}

func (t *chanTransport) Drop() { t.once.Do(func() { close(t.gone) }) }

func (t *chanTransport) closedWith() (wsgate.StatusCode, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed == nil {
		return 0, false
	}
	return *t.closed, true
}

// next returns the next message the gateway wrote.
func (t *chanTransport) next(tb testing.TB) string {
	tb.Helper()
	select {
	case m := <-t.out:
		return string(m)
	case <-time.After(testWait):
		tb.Fatal("timed out waiting for a message from the gateway")
		return ""
	}
}

// serveFront admits r on gw and serves it over a new chanTransport.
func serveFront(t *testing.T, gw *wsgate.Gateway, codec wsgate.Codec, r *http.Request, token string) (*chanTransport, <-chan struct{}) {
	t.Helper()
	adm, err := gw.Admit(r, token)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	tr := newChanTransport()
	done := make(chan struct{})
	go func() {
		defer close(done)
		adm.Serve(tr, codec)
	}()
	t.Cleanup(func() {
		tr.Drop()
		<-done
	})
	return tr, done
}

func frontRequest(origin, cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/front", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if cookie != "" {
		r.Header.Set("Cookie", wsgate.DefaultTokenCookie+"="+cookie)
	}
	return r
}

func TestFrontEndServesEventsThroughTheCodec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	e.gw.Handle("who", func(c *wsgate.Context) (any, error) {
		return c.Principal().Subject, c.Emit("seen", map[string]int{"n": 1})
	}, wsgate.HandlerOptions{})
	e.gw.Handle("deny", func(*wsgate.Context) (any, error) { return nil, wsgate.ErrForbidden }, wsgate.HandlerOptions{})
	codec := &arrayCodec{}
	tr, _ := serveFront(t, e.gw, codec, frontRequest(testOrigin, e.token("alice")), "")

	tr.in <- []byte(`["who",null,1]`)
	if got, want := tr.next(t), `["emit","seen",{"n":1}]`; got != want {
		t.Fatalf("emit = %s, want %s", got, want)
	}
	if got, want := tr.next(t), `["ack",1,"alice"]`; got != want {
		t.Fatalf("ack = %s, want %s", got, want)
	}
	tr.in <- []byte(`["deny",null,2]`)
	if got := tr.next(t); !strings.HasPrefix(got, `["nack",2,{"status":"error","message":"Forbidden resource","code":"FORBIDDEN"`) {
		t.Fatalf("denied request answered %s", got)
	}
	tr.in <- []byte(`["deny",null]`)
	if got := tr.next(t); !strings.HasPrefix(got, `["emit","exception",{"status":"error"`) {
		t.Fatalf("denied event answered %s", got)
	}
	tr.in <- []byte(`{"not":"an array"}`)
	if got := tr.next(t); !strings.Contains(got, `"message":"not an event array","code":"BAD_REQUEST"`) {
		t.Fatalf("undecodable message answered %s", got)
	}
}

func TestFrontEndExceptionOnErrorAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	e.gw.Handle("deny", func(*wsgate.Context) (any, error) { return nil, wsgate.ErrForbidden }, wsgate.HandlerOptions{})
	tr, _ := serveFront(t, e.gw, &arrayCodec{exceptionToo: true}, frontRequest(testOrigin, e.token("alice")), "")
	tr.in <- []byte(`["deny",null,7]`)
	first, second := tr.next(t), tr.next(t)
	if !strings.HasPrefix(first, `["emit","exception",{"status":"error","message":"Forbidden resource"`) ||
		!strings.HasPrefix(second, `["nack",7,{"status":"error","message":"Forbidden resource"`) {
		t.Fatalf("failed request answered %s then %s, want the exception event then the error ack", first, second)
	}
}

// TestFrontEndJoinsTheGatewaysFanOut: a room holds a native client and a
// front end's connection; one emit reaches both, each in its own framing.
func TestFrontEndJoinsTheGatewaysFanOut(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OnConnect: func(c *wsgate.Conn) { _ = c.Join("lobby") }}
	e := newEnv(t, opts, 0)
	native := e.dial("bob")
	tr, _ := serveFront(t, e.gw, &arrayCodec{}, frontRequest(testOrigin, e.token("alice")), "")
	eventually(t, "both in the room", func() bool { return e.gw.RoomSize("lobby") == 2 })

	if err := e.gw.To("lobby").Emit("news", map[string]string{"s": "hi"}); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.next(t), `["emit","news",{"s":"hi"}]`; got != want {
		t.Fatalf("front end got %s, want %s", got, want)
	}
	if ev := native.WaitEvent("news"); string(ev.Data) != `{"s":"hi"}` {
		t.Fatalf("native client got %s", ev.Data)
	}
	// A subject disconnect reaches the front end's transport as a close.
	if err := e.gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the front end's transport to be closed", func() bool {
		code, ok := tr.closedWith()
		return ok && code == wsgate.StatusPolicyViolation
	})
}

func TestFrontEndAdmitRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	cases := []struct {
		name   string
		r      *http.Request
		token  string
		status int
	}{
		{"no origin", frontRequest("", e.token("alice")), "", http.StatusForbidden},
		{"foreign origin", frontRequest("https://evil.example", e.token("alice")), "", http.StatusForbidden},
		{"no token", frontRequest(testOrigin, ""), "", http.StatusUnauthorized},
		{"bad cookie", frontRequest(testOrigin, "x.y.z"), "", http.StatusUnauthorized},
		{"bad explicit token", frontRequest(testOrigin, ""), "x.y.z", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		_, err := e.gw.Admit(tc.r, tc.token)
		var ge *wsgate.Error
		if !errors.As(err, &ge) || ge.Status != tc.status {
			t.Errorf("%s: Admit = %v, want an *Error with status %d", tc.name, err, tc.status)
		}
	}
	// A good explicit token stands in for the token sources.
	adm, err := e.gw.Admit(frontRequest(testOrigin, ""), e.token("carol"))
	if err != nil || adm.Principal().Subject != "carol" {
		t.Fatalf("Admit with an explicit token = %v", err)
	}
	adm.Release()
}

// TestFrontEndExplicitTokenSkipsTokenSources: a token the front end read
// itself is the one verified; the gateway's TokenSources are not read for
// it, not even to be overruled.
func TestFrontEndExplicitTokenSkipsTokenSources(t *testing.T) {
	t.Parallel()
	var extracts atomic.Int32
	counting := wsgate.TokenSource{Name: "counting", Extract: func(*http.Request) (string, error) {
		extracts.Add(1)
		return "", wsgate.ErrNoToken
	}}
	e := newEnv(t, wsgate.Options{TokenSources: []wsgate.TokenSource{counting}}, 0)
	adm, err := e.gw.Admit(frontRequest(testOrigin, ""), e.token("carol"))
	if err != nil || adm.Principal().Subject != "carol" {
		t.Fatalf("Admit with an explicit token = %v", err)
	}
	adm.Release()
	if n := extracts.Load(); n != 0 {
		t.Errorf("Admit with an explicit token read the TokenSources %d times, want 0", n)
	}
	// Without one, the sources are read as at the handshake.
	if _, err := e.gw.Admit(frontRequest(testOrigin, ""), ""); err == nil {
		t.Fatal("Admit without any token succeeded")
	}
	if n := extracts.Load(); n != 1 {
		t.Errorf("Admit without a token read the TokenSources %d times, want 1", n)
	}
}

// TestFrontEndShutdown: Shutdown closes a front end's connection with 1001
// through its Transport, and Serve returns.
func TestFrontEndShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	tr, done := serveFront(t, e.gw, &arrayCodec{}, frontRequest(testOrigin, e.token("alice")), "")
	eventually(t, "the connection to be served", func() bool { return e.gw.Len() == 1 })
	shutdown(t, e.gw)
	recv(t, done, "Serve to return")
	if code, ok := tr.closedWith(); !ok || code != wsgate.StatusGoingAway {
		t.Fatalf("transport closed with %v (%v), want 1001", code, ok)
	}
}

// TestFailedWriteEndsTheConnection: a write that fails ends the connection
// although reads still work: its handlers' context is cancelled, the end is
// reported as 1006 "write failed", and nothing more is accepted.
func TestFailedWriteEndsTheConnection(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	started, ended := blockUntilDone(e.gw)
	tr, done := serveFront(t, e.gw, &arrayCodec{}, frontRequest(testOrigin, e.token("alice")), "")
	tr.in <- []byte(`["wait",null]`)
	conn := recv(t, started, "the handler to start")

	tr.failWrites.Store(true)
	if err := conn.Emit("ping", nil); err != nil {
		t.Fatalf("Emit queued nothing: %v", err)
	}
	wantCancelled(t, ended)
	if d := recv(t, gone, "OnDisconnect"); d.status.Code != wsgate.StatusAbnormalClosure || d.status.Reason != "write failed" {
		t.Fatalf("OnDisconnect status %+v, want 1006 \"write failed\"", d.status)
	}
	recv(t, done, "Serve to return")
	if err := conn.Emit("late", nil); !errors.Is(err, wsgate.ErrClosed) {
		t.Fatalf("Emit after the failed write = %v, want ErrClosed", err)
	}
}

// TestFrontEndCheckOrigin: the handshake's origin policy, for a front end
// to apply to each of its requests.
func TestFrontEndCheckOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	for _, tc := range []struct {
		name    string
		origins []string
		ok      bool
	}{
		{"allowed", []string{testOrigin}, true},
		{"refused", []string{"https://evil.example"}, false},
		{"null", []string{"null"}, false},
		{"missing", nil, false},
		{"twice", []string{testOrigin, testOrigin}, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/front", nil)
		for _, o := range tc.origins {
			r.Header.Add("Origin", o)
		}
		err := e.gw.CheckOrigin(r)
		var ge *wsgate.Error
		if tc.ok != (err == nil) || !tc.ok && (!errors.As(err, &ge) || ge.Status != http.StatusForbidden) {
			t.Errorf("%s: CheckOrigin = %v", tc.name, err)
		}
	}
	// AllowMissingOrigin admits a request without one.
	lax := newEnv(t, wsgate.Options{AllowMissingOrigin: true}, 0)
	if err := lax.gw.CheckOrigin(httptest.NewRequest(http.MethodGet, "/front", nil)); err != nil {
		t.Errorf("AllowMissingOrigin: CheckOrigin = %v", err)
	}
}

// TestFrontEndCORS: CORS answers from the gateway's policy, credentials
// allowed; a refused origin gets no Access-Control-Allow-Origin.
func TestFrontEndCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	h := e.gw.CORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	for origin, allowed := range map[string]bool{testOrigin: true, "https://evil.example": false} {
		r := httptest.NewRequest(http.MethodPost, "/front", strings.NewReader("x"))
		r.Header.Set("Origin", origin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("Access-Control-Allow-Origin")
		if allowed && (got != origin || w.Header().Get("Access-Control-Allow-Credentials") != "true") || !allowed && got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, credentials %q", origin, got, w.Header().Get("Access-Control-Allow-Credentials"))
		}
		if w.Body.String() != "ok" {
			t.Errorf("%s: the wrapped handler did not run", origin)
		}
	}
	pre := httptest.NewRequest(http.MethodOptions, "/front", nil)
	pre.Header.Set("Origin", testOrigin)
	pre.Header.Set("Access-Control-Request-Method", http.MethodPost)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, pre)
	if w.Header().Get("Access-Control-Allow-Origin") != testOrigin || w.Body.String() == "ok" {
		t.Errorf("preflight: %d %v %q", w.Code, w.Header(), w.Body.String())
	}
}

// TestFrontEndAuthenticate: the token sources and the authenticator
// alone: a principal, nothing without a token, the handshake's refusal for
// a bad one.
func TestFrontEndAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	p, err := e.gw.Authenticate(frontRequest(testOrigin, e.token("alice")))
	if err != nil || p == nil || p.Subject != "alice" {
		t.Fatalf("Authenticate = %v, %v", p, err)
	}
	if p, err := e.gw.Authenticate(frontRequest(testOrigin, "")); p != nil || err != nil {
		t.Fatalf("no token: Authenticate = %v, %v; want nil, nil", p, err)
	}
	var ge *wsgate.Error
	if _, err := e.gw.Authenticate(frontRequest(testOrigin, "x.y.z")); !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized {
		t.Fatalf("bad token: Authenticate = %v, want 401", err)
	}
	// A cookie without an Origin is refused, as at the handshake.
	if _, err := e.gw.Authenticate(frontRequest("", e.token("alice"))); !errors.As(err, &ge) || ge.Status != http.StatusForbidden {
		t.Fatalf("cookie without Origin: Authenticate = %v, want 403", err)
	}
	// A token cookie present twice is refused, as at the handshake.
	twice := frontRequest(testOrigin, e.token("alice"))
	twice.Header.Add("Cookie", wsgate.DefaultTokenCookie+"="+e.token("bob"))
	if _, err := e.gw.Authenticate(twice); !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.Message != "ambiguous token" {
		t.Fatalf("token cookie twice: Authenticate = %v, want 401 \"ambiguous token\"", err)
	}
}

// TestFrontEndAuthenticatePanicking: Authenticate answers an authenticator
// that panics as the handshake does: 500, the panic logged, not returned.
func TestFrontEndAuthenticatePanicking(t *testing.T) {
	t.Parallel()
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{testOrigin}, Logger: quietLogger(),
		Authenticator: wsgate.AuthenticatorFunc(func(context.Context, string) (*wsgate.Principal, error) {
			panic("authenticator bug")
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := gw.Authenticate(frontRequest(testOrigin, "some-token"))
	var ge *wsgate.Error
	if p != nil || !errors.As(err, &ge) || ge.Status != http.StatusInternalServerError {
		t.Errorf("Authenticate = %v, %v; want an *Error with status 500", p, err)
	}
}

// TestFrontEndAuthenticateReadsSourcesOnce: Authenticate reads the token
// sources once, both to tell that there is no token and to find the one it
// verifies.
func TestFrontEndAuthenticateReadsSourcesOnce(t *testing.T) {
	t.Parallel()
	var extracts atomic.Int32
	var token atomic.Value
	token.Store("")
	counting := wsgate.TokenSource{Name: "counting", Extract: func(*http.Request) (string, error) {
		extracts.Add(1)
		if tok := token.Load().(string); tok != "" {
			return tok, nil
		}
		return "", wsgate.ErrNoToken
	}}
	e := newEnv(t, wsgate.Options{TokenSources: []wsgate.TokenSource{counting}}, 0)
	if p, err := e.gw.Authenticate(frontRequest(testOrigin, "")); p != nil || err != nil {
		t.Fatalf("no token: Authenticate = %v, %v; want nil, nil", p, err)
	}
	token.Store(e.token("alice"))
	if p, err := e.gw.Authenticate(frontRequest(testOrigin, "")); err != nil || p == nil || p.Subject != "alice" {
		t.Fatalf("Authenticate = %v, %v", p, err)
	}
	if n := extracts.Load(); n != 2 {
		t.Errorf("two calls of Authenticate read the TokenSources %d times, want 2", n)
	}
}

// TestFrontEndOptions: the options with their defaults filled in.
func TestFrontEndOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{ReadLimit: 1234}, 0)
	o := e.gw.Options()
	if o.ReadLimit != 1234 || o.PingInterval != wsgate.DefaultPingInterval || o.PongTimeout != wsgate.DefaultPongTimeout ||
		o.ConnectTimeout != wsgate.DefaultConnectTimeout {
		t.Fatalf("Options = ReadLimit %d, PingInterval %v, PongTimeout %v, ConnectTimeout %v", o.ReadLimit, o.PingInterval, o.PongTimeout, o.ConnectTimeout)
	}
}

// openerTransport is a chanTransport that tells its peer the connection is
// open, as socket.io's CONNECT answer does.
type openerTransport struct {
	*chanTransport
	opened func() error
}

func (t openerTransport) Open() error { return t.opened() }

// TestFrontEndOpener: Serve calls Open once the connection is registered
// (an emit to its subject from then on reaches it) and before OnConnect.
func TestFrontEndOpener(t *testing.T) {
	t.Parallel()
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	e := newEnv(t, wsgate.Options{OnConnect: func(*wsgate.Conn) { note("OnConnect") }}, 0)
	adm, err := e.gw.Admit(frontRequest(testOrigin, e.token("alice")), "")
	if err != nil {
		t.Fatal(err)
	}
	tr := openerTransport{chanTransport: newChanTransport()}
	tr.opened = func() error {
		note("Open")
		// The peer now knows: an emit to its subject must reach it.
		return e.gw.ToSubject("alice").Emit("welcome", nil)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		adm.Serve(tr, &arrayCodec{})
	}()
	if got := tr.next(t); got != `["emit","welcome",null]` {
		t.Fatalf("first message %s, want the welcome emitted from Open", got)
	}
	tr.Drop()
	recv(t, done, "Serve to return")
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 || order[0] != "Open" || order[1] != "OnConnect" {
		t.Fatalf("calls %v, want Open then OnConnect", order)
	}
}

// laxCodec is arrayCodec without its check of the event name: whatever
// string the client sends is the name.
type laxCodec struct{ arrayCodec }

func (c *laxCodec) Decode(msg []byte) (wsgate.Inbound, error) {
	var parts []json.RawMessage
	var name string
	if json.Unmarshal(msg, &parts) != nil || len(parts) != 3 || json.Unmarshal(parts[0], &name) != nil {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "not an event array"}
	}
	id, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil {
		return wsgate.Inbound{}, &wsgate.DecodeError{Reason: "bad id"}
	}
	return wsgate.Inbound{Event: []byte(name), Data: parts[1], ID: id, HasID: true}, nil
}

// TestFrontEndCodecEventNames: a codec's event name is held to the wire
// envelope's rules (not empty, no control characters, at most 128 bytes):
// one that breaks them is answered BAD_REQUEST, the connection goes on.
func TestFrontEndCodecEventNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	e.gw.Handle("who", func(c *wsgate.Context) (any, error) { return c.Principal().Subject, nil }, wsgate.HandlerOptions{})
	tr, _ := serveFront(t, e.gw, &laxCodec{}, frontRequest(testOrigin, e.token("alice")), "")

	for i, tc := range []struct{ name, message string }{
		{"", "invalid event"},
		{"a\u0001b", "invalid event"},
		{"\u0085", "invalid event"},
		{strings.Repeat("n", 129), "event name too long"},
	} {
		name, _ := json.Marshal(tc.name)
		tr.in <- fmt.Appendf(nil, `[%s,null,%d]`, name, i)
		want := fmt.Sprintf(`["nack",%d,{"status":"error","message":%q,"code":"BAD_REQUEST"`, i, tc.message)
		if got := tr.next(t); !strings.HasPrefix(got, want) {
			t.Fatalf("event name %q answered %s, want %s…", tc.name, got, want)
		}
	}
	tr.in <- []byte(`["who",null,9]`)
	if got, want := tr.next(t), `["ack",9,"alice"]`; got != want {
		t.Fatalf("after the refused names: %s, want %s", got, want)
	}
}

// TestFrontEndRefuse: a front end's refusal is answered as the gateway's
// own (status, JSON body with its data, headers) and reported to
// HandshakeRefused; an error that is not an *Error leaks nothing.
func TestFrontEndRefuse(t *testing.T) {
	t.Parallel()
	var refused []wsgate.Refusal
	var mu sync.Mutex
	e := newEnv(t, wsgate.Options{Hooks: wsgate.Hooks{HandshakeRefused: func(_ *http.Request, info wsgate.Refusal) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, info)
	}}}, 0)

	w := httptest.NewRecorder()
	e.gw.Refuse(w, frontRequest(testOrigin, ""), &wsgate.Error{Status: http.StatusUnauthorized, Code: "EXPIRED",
		Message: "come back", Data: map[string]int{"retry": 3}})
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" ||
		w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("refusal answered %d %v", w.Code, w.Header())
	}
	if got, want := strings.TrimSpace(w.Body.String()), `{"status":"error","message":"come back","code":"EXPIRED","data":{"retry":3}}`; got != want {
		t.Fatalf("body %s, want %s", got, want)
	}

	w = httptest.NewRecorder()
	e.gw.Refuse(w, frontRequest(testOrigin, ""), errors.New("database password is hunter2"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "hunter2") ||
		!strings.Contains(w.Body.String(), `"message":"Internal server error"`) {
		t.Fatalf("a plain error answered %d %s", w.Code, w.Body)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []wsgate.Refusal{{Status: 401, Code: "EXPIRED"}, {Status: 500, Code: wsgate.CodeInternal}}
	if !slices.Equal(refused, want) {
		t.Fatalf("HandshakeRefused saw %+v, want %+v", refused, want)
	}
}
