package wsgate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// The helpers shared by the external tests of the package. A helper that
// only one test file needs stays in that file.

// ---------------------------------------------------------------- fixtures

// testWait bounds every wait of the tests (a dial, an ack, a close, an
// event, a condition): long enough for a loaded 2-core machine under -race,
// short enough that a hang is reported rather than left to the test binary's
// own timeout.
const testWait = 10 * time.Second

// testOrigin is the one browser origin the test gateways allow.
const testOrigin = "https://app.example.org"

// testIssuer and testAudience are the iss and aud of every test token and
// verifier.
const (
	testIssuer   = "https://auth.example.org"
	testAudience = "wsgate-tests"
)

var (
	// testKey is the HMAC key of the gateways built with roleJWT and
	// bearerJWTOptions; testSigner signs tokens they accept.
	testKey    = []byte("wsgate-test-key-0123456789-abcdefgh")
	testSigner = wsgatetest.Signer{Key: testKey, Issuer: testIssuer, Audience: testAudience}
	// otherKey is a key no test gateway trusts.
	otherKey = []byte("another-key-entirely-9876543210-zyxwvu")
)

// noLeeway is a JWTOptions.Leeway that makes the verifier check exp
// exactly, so that a token's expiry is the connection's.
const noLeeway = -1

// testClaims holds the registered claims only.
type testClaims struct {
	jwt.RegisteredClaims
}

// roleClaims adds a role that is a string.
type roleClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// multiRoleClaims adds a role that is a string or an array of strings, and
// a tenant.
type multiRoleClaims struct {
	jwt.RegisteredClaims
	Role   any    `json:"role,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// newHS256 returns an HS256 verifier of claims C for key, testIssuer and
// testAudience, with the given leeway (0: the default).
func newHS256[C any, PC interface {
	*C
	jwt.Claims
}](t testing.TB, key []byte, leeway time.Duration) *wsgate.JWT[C, PC] {
	t.Helper()
	v, err := wsgate.NewJWT[C, PC](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: key, Issuer: testIssuer, Audience: testAudience, Leeway: leeway,
	})
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return v
}

// roleJWT returns the HS256 verifier of roleClaims that testSigner's tokens
// pass.
func roleJWT(t testing.TB) wsgate.Authenticator { return newHS256[roleClaims](t, testKey, 0) }

// countingAuthenticator wraps a in an authenticator that counts its
// calls.
func countingAuthenticator(a wsgate.Authenticator) (wsgate.Authenticator, *atomic.Int64) {
	n := new(atomic.Int64)
	return wsgate.AuthenticatorFunc(func(ctx context.Context, token string) (*wsgate.Principal, error) {
		n.Add(1)
		return a.Authenticate(ctx, token)
	}), n
}

// bearerJWTOptions returns options with multiRoleClaims authentication from
// an Authorization header (testSigner's tokens pass).
func bearerJWTOptions(t testing.TB) wsgate.Options {
	return wsgate.Options{
		Authenticator: newHS256[multiRoleClaims](t, testKey, 0),
		TokenSources:  []wsgate.TokenSource{wsgate.BearerToken()},
	}
}

// cookieJWTOptions is the browser set-up: roleJWT reading the default
// cookie, testOrigin allowed.
func cookieJWTOptions(t testing.TB) wsgate.Options {
	return wsgate.Options{Origins: []string{testOrigin}, Authenticator: roleJWT(t)}
}

// bearerHeader is the Authorization header that carries token.
func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// bearerAs is the header that authenticates as subject with extra claims,
// signed by testSigner.
func bearerAs(t testing.TB, subject string, extra map[string]any) http.Header {
	t.Helper()
	return bearerHeader(testSigner.Token(t, subject, extra))
}

// withCookie dials from testOrigin with token in the default cookie.
func withCookie(token string) wsgatetest.DialOptions {
	return wsgatetest.DialOptions{
		Origin:  testOrigin,
		Cookies: []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: token}},
	}
}

// cookieDialOptions dials from testOrigin with token in the default cookie
// (no cookie for ""), the client waiting at most testWait.
func cookieDialOptions(token string) wsgatetest.DialOptions {
	o := withCookie(token)
	o.Timeout = testWait
	if token == "" {
		o.Cookies = nil
	}
	return o
}

// ------------------------------------------------------------------- logs

// quietLogger discards the gateway's logs (many tests make it log errors
// on purpose).
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects a gateway's log lines; safe for the gateway's
// goroutines and the test's.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger returns a text logger at slog's default level (Info) that writes
// to b.
func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// recorder records what ran, in order, from any goroutine.
type recorder struct {
	mu    sync.Mutex
	steps []string
}

func (r *recorder) add(step string) {
	r.mu.Lock()
	r.steps = append(r.steps, step)
	r.mu.Unlock()
}

// String returns the steps joined by commas.
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.steps, ",")
}

// --------------------------------------------------------------- gateways

// newServer returns a gateway for opts served in memory. Clients need no
// Origin header (AllowMissingOrigin is set); a nil Logger is quietLogger.
func newServer(t *testing.T, opts wsgate.Options) (*wsgate.Gateway, *wsgatetest.Server) {
	t.Helper()
	opts.AllowMissingOrigin = true
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return gw, wsgatetest.NewServer(t, gw)
}

// newWhoamiGateway builds a gateway for opts as they are (a nil Logger is
// quietLogger) and registers "whoami", which answers the principal's
// subject, "" for an anonymous connection.
func newWhoamiGateway(t *testing.T, opts wsgate.Options) *wsgate.Gateway {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	gw.Handle("whoami", func(c *wsgate.Context) (any, error) {
		if p := c.Principal(); p != nil {
			return p.Subject, nil
		}
		return "", nil
	}, wsgate.HandlerOptions{})
	return gw
}

// newWhoamiServer returns newWhoamiGateway(t, opts) served in memory.
func newWhoamiServer(t *testing.T, opts wsgate.Options) (*wsgate.Gateway, *wsgatetest.Server) {
	t.Helper()
	gw := newWhoamiGateway(t, opts)
	return gw, wsgatetest.NewServer(t, gw)
}

// realServer serves h over loopback TCP; cleanup closes it.
func realServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// shutdown shuts gw down and fails the test unless Shutdown returns nil
// within testWait.
func shutdown(t *testing.T, gw *wsgate.Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
}

// shutdownOnCleanup runs shutdown when the test ends, so that no session
// (nor a Broker subscription) outlives the test.
func shutdownOnCleanup(t *testing.T, gw *wsgate.Gateway) {
	t.Cleanup(func() { shutdown(t, gw) })
}

// wantShutdownDeadline calls gw.Shutdown with a context that ends after
// deadline and fails the test unless Shutdown returns the context's
// DeadlineExceeded (waiting testWait at most).
func wantShutdownDeadline(t *testing.T, gw *wsgate.Gateway, deadline time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Shutdown(ctx) }()
	if err := recv(t, done, "Shutdown to return at its deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
}

// env is a gateway with HS256 cookie authentication (testClaims, a key of
// its own) and testOrigin, served in memory, with an "echo" event that acks
// its data.
type env struct {
	t      *testing.T
	gw     *wsgate.Gateway
	srv    *wsgatetest.Server
	signer wsgatetest.Signer
}

// newEnv builds the env's gateway from opts (Origins and Authenticator are
// set here, Logger when nil) with a JWT verifier of the given leeway (0:
// the default; noLeeway: none).
func newEnv(t *testing.T, opts wsgate.Options, leeway time.Duration) *env {
	t.Helper()
	key := newHMACKey(t)
	opts.Origins = []string{testOrigin}
	opts.Authenticator = newHS256[testClaims](t, key, leeway)
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	gw.Handle("echo", func(c *wsgate.Context) (any, error) { return c.Data(), nil }, wsgate.HandlerOptions{})
	return &env{
		t:      t,
		gw:     gw,
		srv:    wsgatetest.NewServer(t, gw),
		signer: wsgatetest.Signer{Key: key, Issuer: testIssuer, Audience: testAudience},
	}
}

// token returns a fresh one-hour token for sub that the env accepts.
func (e *env) token(sub string) string {
	e.t.Helper()
	return e.signer.Token(e.t, sub, nil)
}

// dialOptions is cookieDialOptions(token).
func (e *env) dialOptions(token string) wsgatetest.DialOptions { return cookieDialOptions(token) }

// dial connects as sub with a fresh one-hour token.
func (e *env) dial(sub string) *wsgatetest.Client {
	e.t.Helper()
	return e.srv.Dial(e.dialOptions(e.token(sub)))
}

// dialToken connects with token.
func (e *env) dialToken(token string) *wsgatetest.Client {
	e.t.Helper()
	return e.srv.Dial(e.dialOptions(token))
}

// dialErr connects as sub and returns the handshake's error, if any.
func (e *env) dialErr(sub string) (*wsgatetest.Client, error) {
	e.t.Helper()
	return e.srv.DialErr(e.dialOptions(e.token(sub)))
}

// dialRaw connects as sub with a bare websocket.Conn, which reads only
// when told to: a peer that answers no ping and takes no frame. It is
// dropped at the end of the test.
func (e *env) dialRaw(sub string) *websocket.Conn {
	e.t.Helper()
	return dialWebSocket(e.t, e.srv, http.Header{
		"Origin": {testOrigin},
		"Cookie": {wsgate.DefaultTokenCookie + "=" + e.token(sub)},
	})
}

// ---------------------------------------------------------------- clients

// dialBearer dials srv as subject with a bearerAs header; an empty subject
// dials anonymously.
func dialBearer(t *testing.T, srv *wsgatetest.Server, subject string, extra map[string]any) *wsgatetest.Client {
	t.Helper()
	if subject == "" {
		return srv.Dial(wsgatetest.DialOptions{})
	}
	return srv.Dial(wsgatetest.DialOptions{Header: bearerAs(t, subject, extra)})
}

// dialWebSocket dials srv with header using coder/websocket's client,
// within testWait, and drops the connection at the end of the test.
func dialWebSocket(t *testing.T, srv *wsgatetest.Server, header http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL+"/", &websocket.DialOptions{HTTPClient: srv.HTTPClient(), HTTPHeader: header})
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// rawClient is a client that sees the server's frames exactly as sent.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialRawClient dials srv with header (see dialWebSocket).
func dialRawClient(t *testing.T, srv *wsgatetest.Server, header http.Header) *rawClient {
	t.Helper()
	return &rawClient{t: t, ws: dialWebSocket(t, srv, header)}
}

// send writes frame as a text message, within testWait.
func (r *rawClient) send(frame string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		r.t.Fatalf("send %s: %v", frame, err)
	}
}

// read returns the next frame the server sent, waiting at most testWait.
func (r *rawClient) read() string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	_, b, err := r.ws.Read(ctx)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// closeAndDrain closes the connection normally and returns every frame
// that arrived before the close; it fails the test if the close takes
// longer than testWait.
func (r *rawClient) closeAndDrain() []string {
	r.t.Helper()
	var frames []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := r.ws.Read(context.Background())
			if err != nil {
				return
			}
			frames = append(frames, string(b))
		}
	}()
	_ = r.ws.Close(websocket.StatusNormalClosure, "")
	select {
	case <-done:
	case <-time.After(testWait):
		_ = r.ws.CloseNow()
		<-done
		r.t.Fatal("the connection did not close")
	}
	return frames
}

// send sends a request frame written by hand, so that ids and order are
// the test's own.
func send(c *wsgatetest.Client, id int64, event, data string) {
	c.SendText(fmt.Sprintf(`{"event":%q,"data":%s,"id":%d}`, event, data, id))
}

// ------------------------------------------------------------- assertions

// must fails the test with err unless err is nil.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantOK fails the test unless ack is a success, and returns its data.
func wantOK(t *testing.T, ack *wsgatetest.Ack) string {
	t.Helper()
	if !ack.OK() {
		t.Fatalf("ack %d = error %+v, want success", ack.ID, *ack.Error)
	}
	return string(ack.Data)
}

// wantCode fails the test unless ack is an error with code, whatever its
// message.
func wantCode(t *testing.T, ack *wsgatetest.Ack, code string) {
	t.Helper()
	wantError(t, ack, code, "")
}

// wantError fails the test unless ack is an error with code and, when
// message is not empty, that message.
func wantError(t *testing.T, ack *wsgatetest.Ack, code, message string) {
	t.Helper()
	if ack.OK() {
		t.Fatalf("ack %d = success %s, want error %s", ack.ID, ack.Data, code)
	}
	if ack.Error.Status != "error" || ack.Error.Code != code || (message != "" && ack.Error.Message != message) {
		t.Fatalf("ack %d = error %+v, want code %q message %q", ack.ID, *ack.Error, code, message)
	}
}

// wantClosed waits for c to be closed (wsgatetest's own wait) and fails the
// test unless the close has code and, when reason is not empty, reason.
func wantClosed(t *testing.T, c *wsgatetest.Client, code wsgate.StatusCode, reason string) {
	t.Helper()
	st := c.WaitClosed()
	if st.Code != code || (reason != "" && st.Reason != reason) {
		t.Fatalf("closed with %d %q, want %d %q", st.Code, st.Reason, code, reason)
	}
}

// wantWhoami asks the connection who it is ("whoami" of newWhoamiGateway)
// and checks the answer.
func wantWhoami(t *testing.T, c *wsgatetest.Client, want string) {
	t.Helper()
	ack := c.Request("whoami", nil)
	if !ack.OK() {
		t.Fatalf("whoami: error %+v", ack.Error)
	}
	var got string
	if err := ack.Decode(&got); err != nil {
		t.Fatalf("whoami: %s: %v", ack.Data, err)
	}
	if got != want {
		t.Fatalf("whoami = %q, want %q", got, want)
	}
}

// wantRefusal checks a refusal's status, its JSON error body and message,
// and the headers every refusal carries.
func wantRefusal(t *testing.T, he *wsgatetest.HandshakeError, status int, message string) {
	t.Helper()
	if he.Status != status {
		t.Fatalf("status %d (body %s), want %d", he.Status, he.RawBody, status)
	}
	if ct := he.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(he.RawBody, &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", he.RawBody, err)
	}
	if body["status"] != "error" || body["message"] != message {
		t.Errorf("body %s, want status \"error\" and message %q", he.RawBody, message)
	}
	if he.Header.Get("Sec-WebSocket-Accept") != "" || he.Header.Get("Upgrade") != "" && status != http.StatusUpgradeRequired {
		t.Errorf("refusal carries upgrade headers: %v", he.Header)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(he.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 with WWW-Authenticate %q, want Bearer…", he.Header.Get("WWW-Authenticate"))
	}
}

// wantNoLeak fails if body holds token or any long piece of it.
func wantNoLeak(t *testing.T, body []byte, token string) {
	t.Helper()
	if token == "" {
		return
	}
	if bytes.Contains(body, []byte(token)) {
		t.Fatalf("body %s holds the token", body)
	}
	for _, part := range strings.FieldsFunc(token, func(r rune) bool { return r == '.' || r == ' ' }) {
		if len(part) >= 8 && bytes.Contains(body, []byte(part)) {
			t.Fatalf("body %s holds part of the token (%q)", body, part)
		}
	}
}

// ------------------------------------------------------- waits and hooks

// recv receives from ch, failing the test after testWait.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("timed out after %v waiting for %s", testWait, what)
		panic("unreachable")
	}
}

// eventually polls cond every 5 ms until it holds, failing the test after
// testWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantGone waits for OnDisconnect and checks the gateway forgot the
// connection: the teardown ran.
func wantGone(t *testing.T, gw *wsgate.Gateway, gone <-chan disconnect) disconnect {
	t.Helper()
	d := recv(t, gone, "OnDisconnect")
	eventually(t, "the gateway to forget the connection", func() bool { return gw.Len() == 0 })
	return d
}

// disconnect is one call of OnDisconnect.
type disconnect struct {
	subject string
	status  wsgate.CloseStatus
}

// recordDisconnects makes opts report every OnDisconnect on the returned
// channel (buffered: 1024 calls).
func recordDisconnects(opts *wsgate.Options) <-chan disconnect {
	ch := make(chan disconnect, 1024)
	opts.OnDisconnect = func(c *wsgate.Conn, st wsgate.CloseStatus) {
		d := disconnect{status: st}
		if p := c.Principal(); p != nil {
			d.subject = p.Subject
		}
		ch <- d
	}
	return ch
}

// recordConnects makes opts report every connection OnConnect sees on the
// returned channel (buffered: 64), after any OnConnect already set.
func recordConnects(opts *wsgate.Options) <-chan *wsgate.Conn {
	ch := make(chan *wsgate.Conn, 64)
	prev := opts.OnConnect
	opts.OnConnect = func(c *wsgate.Conn) {
		if prev != nil {
			prev(c)
		}
		ch <- c
	}
	return ch
}

// handleBlocking registers "block", which reports its request's id on
// entered and returns "released" once release is closed (or its context's
// error once its context is cancelled).
func handleBlocking(gw *wsgate.Gateway) (entered chan int64, release chan struct{}) {
	entered = make(chan int64, 64)
	release = make(chan struct{})
	gw.Handle("block", func(c *wsgate.Context) (any, error) {
		id, _ := c.ID()
		entered <- id
		select {
		case <-release:
			return "released", nil
		case <-c.Context().Done():
			return nil, c.Context().Err()
		}
	}, wsgate.HandlerOptions{})
	return entered, release
}

// ------------------------------------------------------------------ rooms

// roomInput is the data of newRoomEnv's "join" and "leave".
type roomInput struct {
	Room string `json:"room"`
}

// sayInput is the data of newRoomEnv's "say".
type sayInput struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// newRoomEnv is newEnv with room events, and a Shutdown at the end of the
// test (which ends a Broker's subscription):
//
//	join {room} → Join          leave {room} → Leave
//	rooms → Conn.Rooms()        say {room, text} → "said" to the room but the sender
func newRoomEnv(t *testing.T, opts wsgate.Options) *env {
	t.Helper()
	e := newEnv(t, opts, 0)
	gw := e.gw
	shutdownOnCleanup(t, gw)
	roomErr := func(err error) error {
		if errors.Is(err, wsgate.ErrInvalidRoom) {
			return &wsgate.Error{Code: wsgate.CodeInvalidData, Message: err.Error()}
		}
		return err
	}
	wsgate.On(gw, "join", func(c *wsgate.Context, in roomInput) (any, error) {
		return nil, roomErr(c.Conn().Join(in.Room))
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "leave", func(c *wsgate.Context, in roomInput) (any, error) {
		return nil, roomErr(c.Conn().Leave(in.Room))
	}, wsgate.HandlerOptions{})
	gw.Handle("rooms", func(c *wsgate.Context) (any, error) {
		return c.Conn().Rooms(), nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "say", func(c *wsgate.Context, in sayInput) (any, error) {
		return nil, gw.To(in.Room).Except(c.Conn()).Emit("said", in.Text)
	}, wsgate.HandlerOptions{})
	return e
}

// join makes c join rooms (newRoomEnv's "join") and waits for the acks.
func join(t *testing.T, c *wsgatetest.Client, rooms ...string) {
	t.Helper()
	for _, room := range rooms {
		wantOK(t, c.Request("join", roomInput{room}))
	}
}

// fence broadcasts a "fence" event. What was emitted to a connection
// before it is queued ahead of it, so a client whose next events end with
// the fence has received all of them, and nothing else.
func fence(t *testing.T, gw *wsgate.Gateway) {
	t.Helper()
	if err := gw.Broadcast("fence", nil); err != nil {
		t.Fatal(err)
	}
}

// wantEventsBeforeFence fails the test unless c's next events, up to the
// fence, are exactly want (names and, for each, its data as a JSON
// string), then the fence.
func wantEventsBeforeFence(t *testing.T, c *wsgatetest.Client, who string, want ...string) {
	t.Helper()
	var got []string
	for {
		ev := c.NextEvent()
		if ev.Name == "fence" {
			break
		}
		got = append(got, ev.Name+" "+string(ev.Data))
		if len(got) > len(want)+10 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s received %q before the fence, want %q", who, got, want)
	}
}

// nopBroker accepts every publication and delivers nothing: the cost of a
// Broker to the core, without a transport's.
type nopBroker struct{}

func (nopBroker) Publish(context.Context, *wsgate.BrokerMessage) error { return nil }

func (nopBroker) Subscribe(func(*wsgate.BrokerMessage)) (func(), error) { return func() {}, nil }

// ------------------------------------------------- JWT verifier fixtures

// The verifier tests run every JWT verifier on a fixed clock, verifierNow,
// and build their tokens with signToken (or rawHS256 for JSON no signing
// library writes).

// verifierClaims is the claims type of the verifier tests: registered
// claims plus one application claim (always encoded, even empty).
type verifierClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// verifierNow is the fixed time every verifier of jwtOpts sees.
var verifierNow = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// verifierClock is the JWTOptions.Now of jwtOpts: verifierNow, always.
func verifierClock() time.Time { return verifierNow }

// verifierIssuer and verifierAudience are the iss and aud jwtOpts
// requires.
const (
	verifierIssuer   = "https://auth.example.com"
	verifierAudience = "chat"
)

// goodVerifierClaims are claims that pass every check of jwtOpts at
// verifierNow, for alice with role admin.
func goodVerifierClaims() verifierClaims {
	return verifierClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    verifierIssuer,
			Subject:   "alice",
			Audience:  jwt.ClaimStrings{verifierAudience},
			IssuedAt:  jwt.NewNumericDate(verifierNow.Add(-time.Minute)),
			NotBefore: jwt.NewNumericDate(verifierNow.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(verifierNow.Add(10 * time.Minute)),
		},
		Role: "admin",
	}
}

// newHMACKey returns a random 32-byte HMAC key.
func newHMACKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// signToken signs claims with method and key, adding header fields.
func signToken(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtOpts returns options, on verifierClock, that goodVerifierClaims pass
// for methods and key, changed by edit (nil: none).
func jwtOpts(methods []string, key any, edit func(*wsgate.JWTOptions)) wsgate.JWTOptions {
	opts := wsgate.JWTOptions{
		Methods:  methods,
		Key:      key,
		Issuer:   verifierIssuer,
		Audience: verifierAudience,
		Now:      verifierClock,
	}
	if edit != nil {
		edit(&opts)
	}
	return opts
}

// newVerifier returns the verifier of verifierClaims for opts.
func newVerifier(t testing.TB, opts wsgate.JWTOptions) *wsgate.JWT[verifierClaims, *verifierClaims] {
	t.Helper()
	v, err := wsgate.NewJWT[verifierClaims](opts)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return v
}

// mustAcceptToken authenticates token and checks the principal against claims.
func mustAcceptToken(t *testing.T, a wsgate.Authenticator, token string, want verifierClaims, leeway time.Duration) *wsgate.Principal {
	t.Helper()
	p, err := a.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.Subject != want.Subject {
		t.Errorf("Subject = %q, want %q", p.Subject, want.Subject)
	}
	var wantExp time.Time
	if want.ExpiresAt != nil {
		wantExp = want.ExpiresAt.Add(leeway)
	}
	if !p.Expires.Equal(wantExp) {
		t.Errorf("Expires = %v, want %v", p.Expires, wantExp)
	}
	c, ok := p.Claims.(*verifierClaims)
	if !ok {
		t.Fatalf("Claims is %T, want *verifierClaims", p.Claims)
	}
	if c.Role != want.Role || c.Subject != want.Subject || c.Issuer != want.Issuer {
		t.Errorf("Claims = %+v, want %+v", c, want)
	}
	payload := strings.Split(token, ".")[1]
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.RawClaims) != string(raw) {
		t.Errorf("RawClaims = %s, want %s", p.RawClaims, raw)
	}
	if role, ok := p.Claim("role"); ok != (want.Role != "") || (ok && role != want.Role) {
		t.Errorf(`Claim("role") = %v, %v; want %q`, role, ok, want.Role)
	}
	return p
}

// mustRefuseToken authenticates token, expects a refusal with msg and checks
// that the answer leaks nothing of the token.
func mustRefuseToken(t *testing.T, a wsgate.Authenticator, token, msg string) *wsgate.Error {
	t.Helper()
	p, err := a.Authenticate(context.Background(), token)
	if err == nil {
		t.Fatalf("Authenticate accepted the token: %+v", p)
	}
	if p != nil {
		t.Errorf("Authenticate returned a principal with an error")
	}
	var e *wsgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T (%v), want *wsgate.Error", err, err)
	}
	if e.Status != http.StatusUnauthorized || e.Code != wsgate.CodeUnauthorized {
		t.Errorf("Status, Code = %d, %q; want 401, %q", e.Status, e.Code, wsgate.CodeUnauthorized)
	}
	if e.Message != msg {
		t.Errorf("Message = %q, want %q (cause: %v)", e.Message, msg, e.Err)
	}
	if e.Err == nil {
		t.Error("Err is nil: the cause is lost for logs")
	}
	for _, part := range append(strings.Split(token, "."), token) {
		if len(part) >= 4 && (strings.Contains(e.Message, part) || strings.Contains(e.Error(), part)) {
			t.Errorf("the answer %q contains token text", e.Error())
		}
	}
	return e
}

// Tokens built byte by byte, for JSON that no signing library writes.

// hs256Header is the JOSE header of an ordinary HS256 token.
const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// rawHS256 signs header and claims, JSON texts used exactly as given.
func rawHS256(t testing.TB, key []byte, header, claims string) string {
	t.Helper()
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
