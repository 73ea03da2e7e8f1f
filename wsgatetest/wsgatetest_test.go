package wsgatetest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

const origin = "https://app.example.com"

type claims struct {
	jwt.RegisteredClaims
}

// newGateway returns a gateway with cookie authentication for key and an
// "echo" event that acks its data.
func newGateway(t *testing.T, key []byte, opts wsgate.Options) *wsgate.Gateway {
	t.Helper()
	v, err := wsgate.NewJWT[claims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: key, Issuer: "test", Audience: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Origins = []string{origin}
	opts.Authenticator = v
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	gw.Handle("echo", func(c *wsgate.Context) (any, error) {
		return c.Data(), nil
	}, wsgate.HandlerOptions{})
	gw.Handle("shout", func(c *wsgate.Context) (any, error) {
		return nil, c.Emit("shouted", strings.ToUpper(string(c.Data())))
	}, wsgate.HandlerOptions{})
	return gw
}

func newKey(t *testing.T) []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func signer(key []byte) wsgatetest.Signer {
	return wsgatetest.Signer{Key: key, Issuer: "test", Audience: "test"}
}

func cookie(token string) []*http.Cookie {
	return []*http.Cookie{{Name: "access_token", Value: token}}
}

func TestDialRequestAndEvents(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	c := srv.Dial(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).Token(t, "alice", nil))})

	ack := c.Request("echo", map[string]int{"n": 1})
	if !ack.OK() || string(ack.Data) != `{"n":1}` {
		t.Fatalf("ack = %+v %s, want data {\"n\":1}", ack.Error, ack.Data)
	}
	c.Emit("shout", "hi")
	ev := c.WaitEvent("shouted")
	var got string
	if err := ev.Decode(&got); err != nil || got != `"HI"` {
		t.Fatalf("shouted = %s (%v), want \"\\\"HI\\\"\"", ev.Data, err)
	}
	c.Close()
}

func TestRefusedHandshakeIsAValue(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	tests := []struct {
		name   string
		opts   wsgatetest.DialOptions
		status int
		msg    string
	}{
		{"wrong origin", wsgatetest.DialOptions{Origin: "https://evil.example", Cookies: cookie(signer(key).Token(t, "a", nil))}, 403, "origin not allowed"},
		{"no token", wsgatetest.DialOptions{Origin: origin}, 401, "missing token"},
		{"expired", wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).Expired(t, "a"))}, 401, "token expired"},
		{"not yet valid", wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).NotYetValid(t, "a"))}, 401, "token not valid yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.Refused(tt.opts)
			if r.Status != tt.status || r.Body.Message != tt.msg || r.Body.Status != "error" {
				t.Fatalf("refusal = %d %s, want %d %q", r.Status, r.RawBody, tt.status, tt.msg)
			}
		})
	}
}

func TestErrorAckAndException(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	c := srv.Dial(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).Token(t, "a", nil))})

	ack := c.Request("nope", nil)
	if ack.OK() || ack.Error.Code != wsgate.CodeUnknownEvent {
		t.Fatalf("ack of an unknown event = %+v, want code %s", ack.Error, wsgate.CodeUnknownEvent)
	}
	c.Emit("nope", nil)
	if ex := c.WaitException(); ex.Code != wsgate.CodeUnknownEvent || ex.Status != "error" {
		t.Fatalf("exception = %+v", ex)
	}
}

func TestWaitClosedReportsCodeAndReason(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	c := srv.Dial(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).Token(t, "a", nil))})
	c.SendBinary([]byte{1, 2, 3})
	st := c.WaitClosed()
	if st.Code != wsgate.StatusUnsupportedData {
		t.Fatalf("close = %d %q, want 1003", st.Code, st.Reason)
	}
}

// TestFailureMessageShowsWhatArrived checks that a helper's failure says
// what came instead of what was awaited.
func TestFailureMessageShowsWhatArrived(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	rec := &recorder{TB: t}
	srv := wsgatetest.NewServer(rec, newGateway(t, key, wsgate.Options{}))
	c := srv.Dial(wsgatetest.DialOptions{
		Origin: origin, Cookies: cookie(signer(key).Token(t, "a", nil)), Timeout: 200 * time.Millisecond,
	})
	c.Emit("shout", "x")
	c.WaitEvent("shouted")
	c.Emit("shout", "y")
	func() {
		defer func() { _ = recover() }() // the recorder's Fatalf panics
		c.WaitEvent("never")
	}()
	if !strings.Contains(rec.msg, `event "never"`) || !strings.Contains(rec.msg, `SHOUTED`) && !strings.Contains(rec.msg, `"shouted"`) {
		t.Fatalf("failure message = %q; want it to name the awaited event and show what arrived", rec.msg)
	}
}

// recorder is a testing.TB whose Fatalf records the message and panics
// instead of ending the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestNoNetworkIsNeeded(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	// websocket.Dial through the server's HTTP client reaches the gateway
	// in memory: the host name does not resolve anywhere.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{"Origin": {origin}, "Cookie": {"access_token=" + signer(key).Token(t, "a", nil)}}
	ws, _, err := websocket.Dial(ctx, srv.URL+"/", &websocket.DialOptions{HTTPClient: srv.HTTPClient(), HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"echo","data":7,"id":1}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || string(b) != `{"id":1,"data":7}` {
		t.Fatalf("read %s, %v", b, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}

// TestRequestSkipsIDsOfRawFrames: Request never numbers a request with an
// id the test already used in a raw frame, which would look like a request
// answered twice.
func TestRequestSkipsIDsOfRawFrames(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	srv := wsgatetest.NewServer(t, newGateway(t, key, wsgate.Options{}))
	c := srv.Dial(wsgatetest.DialOptions{
		Origin:  origin,
		Cookies: []*http.Cookie{{Name: "access_token", Value: signer(key).Token(t, "alice", nil)}},
	})
	c.SendText(`{"event":"echo","data":"raw","id":1}`)
	if ack := c.WaitAck(1); string(ack.Data) != `"raw"` {
		t.Fatalf("raw request: %+v", ack)
	}
	ack := c.Request("echo", "typed")
	if ack.ID == 1 || string(ack.Data) != `"typed"` {
		t.Fatalf("Request after a raw id 1: ack %d %s, want a fresh id and \"typed\"", ack.ID, ack.Data)
	}
}

// TestServerPathBehindAMux: with Server.Path set, dials reach a gateway
// mounted on a mux without a Path of their own; Refused reports a real
// refusal there, and fails the test on a mux's 404.
func TestServerPathBehindAMux(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	mux := http.NewServeMux()
	mux.Handle("/ws", newGateway(t, key, wsgate.Options{}))
	srv := wsgatetest.NewServer(t, mux)
	srv.Path = "/ws"

	c := srv.Dial(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(signer(key).Token(t, "alice", nil))})
	if ack := c.Request("echo", "hi"); string(ack.Data) != `"hi"` {
		t.Fatalf("echo behind a mux = %+v %s", ack.Error, ack.Data)
	}
	if r := srv.Refused(wsgatetest.DialOptions{Origin: origin}); r.Status != http.StatusUnauthorized || r.Body.Message != "missing token" {
		t.Fatalf("refusal behind a mux = %d %s, want 401 missing token", r.Status, r.RawBody)
	}

	// A path the mux does not route: a 404 page, which Refused refuses to
	// take for the gateway's answer.
	rec := &recorder{TB: t}
	wrong := wsgatetest.NewServer(rec, mux)
	func() {
		defer func() { _ = recover() }() // the recorder's Fatalf panics
		wrong.Refused(wsgatetest.DialOptions{Origin: origin, Path: "/socket"})
		t.Error("Refused returned for a 404 that is not a wsgate refusal")
	}()
	if !strings.Contains(rec.msg, "not a wsgate refusal") || !strings.Contains(rec.msg, "404") || !strings.Contains(rec.msg, "/socket") {
		t.Fatalf("failure message = %q; want it to say the 404 at /socket is not a wsgate refusal", rec.msg)
	}
	// DialErr still returns any answer as it came.
	_, err := wrong.DialErr(wsgatetest.DialOptions{Origin: origin, Path: "/socket"})
	var he *wsgatetest.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || he.Path != "/socket" {
		t.Fatalf("DialErr = %v, want the 404 as a *HandshakeError", err)
	}
}

// appClaims is an application's own claims type, for Mint.
type appClaims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant"`
}

// TestSignerMint: Mint signs the application's claims type, fills in what
// the gateway checks, and makes expired and not-yet-valid tokens with the
// same claims; what the claims set themselves is kept.
func TestSignerMint(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	v, err := wsgate.NewJWT[appClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: key, Issuer: "test", Audience: "test"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{Origins: []string{origin}, Authenticator: v})
	if err != nil {
		t.Fatal(err)
	}
	gw.Handle("whoami", func(c *wsgate.Context) (any, error) {
		claims, _ := wsgate.ClaimsFrom[appClaims](c)
		return claims.Subject + "@" + claims.Tenant + " " + claims.Issuer, nil
	}, wsgate.HandlerOptions{})
	srv := wsgatetest.NewServer(t, gw)
	tokens := signer(key)
	alice := func() *appClaims {
		return &appClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}, Tenant: "acme"}
	}

	c := srv.Dial(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(tokens.Mint(t, alice(), wsgatetest.TokenOptions{}))})
	if ack := c.Request("whoami", nil); string(ack.Data) != `"alice@acme test"` {
		t.Fatalf("whoami = %+v %s", ack.Error, ack.Data)
	}

	wrongIssuer := alice()
	wrongIssuer.Issuer = "someone-else"
	for _, tt := range []struct {
		name  string
		token string
		msg   string
	}{
		{"expired", tokens.Mint(t, alice(), wsgatetest.TokenOptions{ExpiresIn: -time.Hour}), "token expired"},
		{"not yet valid", tokens.Mint(t, alice(), wsgatetest.TokenOptions{ValidIn: time.Hour}), "token not valid yet"},
		{"own issuer kept", tokens.Mint(t, wrongIssuer, wsgatetest.TokenOptions{}), "invalid token"},
	} {
		r := srv.Refused(wsgatetest.DialOptions{Origin: origin, Cookies: cookie(tt.token)})
		if r.Status != http.StatusUnauthorized || r.Body.Message != tt.msg {
			t.Errorf("%s: %d %s, want 401 %q", tt.name, r.Status, r.RawBody, tt.msg)
		}
	}

	// The window Mint fills in, read back from the token.
	now := time.Now()
	for _, tt := range []struct {
		name         string
		opts         wsgatetest.TokenOptions
		nbfIn, expIn time.Duration // from now, to the second
	}{
		{"default", wsgatetest.TokenOptions{}, -time.Minute, time.Hour},
		{"expired", wsgatetest.TokenOptions{ExpiresIn: -time.Hour}, -2 * time.Hour, -time.Hour},
		{"not yet valid", wsgatetest.TokenOptions{ValidIn: time.Hour}, time.Hour, 2 * time.Hour},
		{"short", wsgatetest.TokenOptions{ExpiresIn: 2 * time.Second}, -time.Minute, 2 * time.Second},
	} {
		var got appClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tokens.Mint(t, alice(), tt.opts), &got); err != nil {
			t.Fatal(err)
		}
		near := func(d *jwt.NumericDate, want time.Duration) bool {
			return d != nil && d.Sub(now.Add(want)).Abs() <= 2*time.Second
		}
		if !near(got.NotBefore, tt.nbfIn) || !near(got.ExpiresAt, tt.expIn) || got.IssuedAt == nil || got.IssuedAt.After(time.Now()) ||
			!got.IssuedAt.Before(got.ExpiresAt.Time) || got.Tenant != "acme" || got.Audience[0] != "test" {
			t.Errorf("%s: claims %+v, want nbf now%+v, exp now%+v, iat in the past", tt.name, got, tt.nbfIn, tt.expIn)
		}
	}
}
