package wsgatetest_test

import (
	"context"
	"crypto/rand"
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
	if st.Code != websocket.StatusUnsupportedData {
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
