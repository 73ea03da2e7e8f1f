package baseline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate/internal/baseline"
	"github.com/wsgate/wsgate/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

var cfg = baseline.Config{Origin: "https://app.example.com", Key: []byte("baseline-test-key-0123456789abcdef"), Issuer: "iss", Audience: "aud"}

func token(t *testing.T, key []byte) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "alice", Issuer: cfg.Issuer, Audience: jwt.ClaimStrings{cfg.Audience},
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, h http.Handler, header http.Header) (*websocket.Conn, int) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols
}

func roundTrip(t *testing.T, ws *websocket.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandwrittenRefuses(t *testing.T) {
	t.Parallel()
	h := baseline.New(cfg)
	for name, tc := range map[string]struct {
		header http.Header
		want   int
	}{
		"other origin": {http.Header{"Origin": {"https://evil.example"}, "Cookie": {"access_token=" + token(t, cfg.Key)}}, 403},
		"no cookie":    {http.Header{"Origin": {cfg.Origin}}, 401},
		"bad key":      {http.Header{"Origin": {cfg.Origin}, "Cookie": {"access_token=" + token(t, []byte("another-key-0123456789abcdefghijk"))}}, 401},
	} {
		if _, status := dial(t, h, tc.header); status != tc.want {
			t.Errorf("%s: status %d, want %d", name, status, tc.want)
		}
	}
}

func TestHandwrittenEventsAndRooms(t *testing.T) {
	t.Parallel()
	h := baseline.New(cfg)
	header := http.Header{"Origin": {cfg.Origin}, "Cookie": {"access_token=" + token(t, cfg.Key)}}
	ws, status := dial(t, h, header)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", status)
	}
	if got, want := roundTrip(t, ws, `{"event":"echo","data":{"n":7,"s":"hi"},"id":1}`), `{"id":1,"data":{"n":7,"s":"hi","sub":"alice"}}`; got != want {
		t.Errorf("echo: %s, want %s", got, want)
	}
	if got, want := roundTrip(t, ws, `{"event":"join","data":{"room":"r"},"id":2}`), `{"id":2,"data":null}`; got != want {
		t.Errorf("join: %s, want %s", got, want)
	}
	// say emits to the room, the sender included, then acks.
	if got, want := roundTrip(t, ws, `{"event":"say","data":{"room":"r","data":{"x":1}},"id":3}`), `{"event":"said","data":{"x":1}}`; got != want {
		t.Errorf("say: %s, want %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, b, err := ws.Read(ctx); err != nil || string(b) != `{"id":3,"data":null}` {
		t.Errorf("say's ack: %s, %v", b, err)
	}
	if got, want := roundTrip(t, ws, `{"event":"echo","data":"not an object","id":4}`), `{"id":4,"error":{"message":"invalid data"}}`; got != want {
		t.Errorf("bad data: %s, want %s", got, want)
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	ws, status := dial(t, baseline.Echo(), nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", status)
	}
	if got := roundTrip(t, ws, `anything at all`); got != `anything at all` {
		t.Errorf("echo: %s", got)
	}
}
