package socketio_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

const testOrigin = "https://app.example.com"

// wait bounds every wait of these tests: generous, for a loaded machine.
const wait = 20 * time.Second

var testKey = []byte("socketio-tests-hs256-key-of-at-least-32-bytes")

type testClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// env is a gateway served natively at /ws and to socket.io at /socket.io/.
type env struct {
	gw     *wsgate.Gateway
	sio    *socketio.Server
	mux    *http.ServeMux
	tokens wsgatetest.Signer
}

// newEnv builds the test gateway with opts (origins and authentication
// filled in) and its handlers:
//
//	xyz    acks {"received": data, "sub": sub} and emits xyz with the same
//	fail   fails with "xyz failed", XYZ_FAILED
//	admin  needs role admin
//	join   joins the room named by its data
//	kick   closes its own connection with 4000 "kicked"
func newEnv(t testing.TB, opts wsgate.Options, sopts socketio.Options) *env {
	t.Helper()
	verifier, err := wsgate.NewJWT[testClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: testKey, AllowAnyIssuer: true, AllowAnyAudience: true,
		Leeway: -1, // none: a token expiring in a second expires then
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Origins == nil {
		opts.Origins = []string{testOrigin}
	}
	if opts.Authenticator == nil {
		opts.Authenticator = verifier
	}
	if opts.CloseTimeout == 0 {
		// A polling client of a test that no longer polls holds a close
		// this long: keep cleanups short.
		opts.CloseTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	wsgate.On(gw, "xyz", func(c *wsgate.Context, in any) (map[string]any, error) {
		resp := map[string]any{"received": in, "sub": c.Principal().Subject}
		return resp, c.Emit("xyz", resp)
	}, wsgate.HandlerOptions{})
	gw.Handle("fail", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Message: "xyz failed", Code: "XYZ_FAILED"}
	}, wsgate.HandlerOptions{})
	gw.Handle("admin", func(*wsgate.Context) (any, error) {
		return map[string]bool{"ok": true}, nil
	}, wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaim("role", "admin")}})
	wsgate.On(gw, "join", func(c *wsgate.Context, room string) (bool, error) {
		return true, c.Conn().Join(room)
	}, wsgate.HandlerOptions{})
	gw.Handle("kick", func(c *wsgate.Context) (any, error) {
		c.Conn().Close(4000, "kicked")
		return nil, nil
	}, wsgate.HandlerOptions{})
	sio, err := socketio.New(gw, sopts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.Handle("/socket.io/", sio)
	e := &env{gw: gw, sio: sio, mux: mux, tokens: wsgatetest.Signer{Key: testKey}}
	t.Cleanup(e.shutdown)
	return e
}

func (e *env) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = e.gw.Shutdown(ctx)
	e.sio.Close()
}

// serve serves the env over loopback TCP.
func (e *env) serve(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e.mux)
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) token(t testing.TB, sub string) string { return e.tokens.Token(t, sub, nil) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// served waits until the gateway serves n connections: a client hears
// that it is connected (101, or socket.io's CONNECT answer) a moment before
// the gateway's session has registered it for subject and room emits.
func (e *env) served(t testing.TB, n int) {
	t.Helper()
	eventually(t, "the connections to be served", func() bool { return e.gw.Len() == n })
}
