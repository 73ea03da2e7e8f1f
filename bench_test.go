package wsgate_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/baseline"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Benchmarks of the gateway against a hand-written baseline measured in the
// same run: a plain github.com/coder/websocket handler that does the same
// work by hand (check the origin, verify the cookie's JWT with golang-jwt,
// decode the envelope, bind the data, encode the ack). Compare the
// "wsgate" and "baseline" sub-benchmarks of one run with each other; the
// absolute figures depend on the machine.
//
//	go test -run '^$' -bench . -benchmem .
//
// The round trip runs over the in-memory transport of wsgatetest (the
// gateway's cost, without the kernel's) and over loopback TCP (what a
// deployment sees).

const (
	benchOrigin   = "https://app.example.com"
	benchIssuer   = "https://auth.example.com"
	benchAudience = "bench"
)

var benchKey = []byte("benchmark-hmac-key-0123456789abcdef")

// benchGateway is the gateway side: JWT from the access_token cookie, the
// Authenticated guard on every event, a typed handler. The rate limit is
// off: a benchmark client is a flood by design.
func benchGateway(b *testing.B) http.Handler { return benchGatewayWith(b, wsgate.Hooks{}) }

// benchGatewayWith is benchGateway with hooks.
func benchGatewayWith(b *testing.B, hooks wsgate.Hooks) *wsgate.Gateway {
	b.Helper()
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: benchKey, Issuer: benchIssuer, Audience: benchAudience,
	})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:         []string{benchOrigin},
		Authenticator:   v,
		Guards:          []wsgate.Guard{wsgate.Authenticated},
		EventsPerSecond: -1,
		MaxConnections:  -1,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hooks:           hooks,

		MaxConnectionsPerSubject: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	wsgate.On(gw, "echo", func(c *wsgate.Context, in baseline.EchoIn) (baseline.EchoOut, error) {
		return baseline.EchoOut{N: in.N, S: in.S, Sub: c.Principal().Subject}, nil
	}, wsgate.HandlerOptions{})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw
}

// benchBaseline is the same server written by hand on coder/websocket, as
// lean as its author could make it while doing the same checks
// (internal/baseline, which cmd/wsgate-load's compare mode runs too).
func benchBaseline(b *testing.B) http.Handler {
	b.Helper()
	return baseline.New(baseline.Config{Origin: benchOrigin, Key: benchKey, Issuer: benchIssuer, Audience: benchAudience})
}

// benchServer serves h over a transport and returns how to dial it.
type benchServer struct {
	url    string
	client *http.Client
}

func benchServeMemory(b *testing.B, h http.Handler) benchServer {
	srv := wsgatetest.NewServer(b, h)
	return benchServer{url: srv.URL, client: srv.HTTPClient()}
}

func benchServeTCP(b *testing.B, h http.Handler) benchServer {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return benchServer{url: "ws" + strings.TrimPrefix(srv.URL, "http"), client: srv.Client()}
}

var benchTransports = []struct {
	name  string
	serve func(*testing.B, http.Handler) benchServer
}{
	{"memory", benchServeMemory},
	{"tcp", benchServeTCP},
}

var benchServers = []struct {
	name string
	new  func(*testing.B) http.Handler
}{
	{"baseline", benchBaseline},
	{"wsgate", benchGateway},
}

// benchDial opens an authenticated connection as a browser would.
func benchDial(b *testing.B, s benchServer, token string) *websocket.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{
		HTTPClient: s.client,
		HTTPHeader: http.Header{"Origin": {benchOrigin}, "Cookie": {"access_token=" + token}},
	})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	return ws
}

func benchToken(b *testing.B) string {
	return wsgatetest.Signer{Key: benchKey, Issuer: benchIssuer, Audience: benchAudience}.Token(b, "alice", nil)
}

// BenchmarkRoundTrip is one guarded request and its ack, client to handler
// and back, on one connection.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tr := range benchTransports {
		for _, sv := range benchServers {
			b.Run(tr.name+"/"+sv.name, func(b *testing.B) {
				ws := benchDial(b, tr.serve(b, sv.new(b)), benchToken(b))
				defer ws.CloseNow()
				ctx := context.Background()
				want := []byte(`{"n":42,"s":"hello","sub":"alice"}`)
				var msg []byte
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					msg = append(msg[:0], `{"event":"echo","data":{"n":42,"s":"hello"},"id":`...)
					msg = strconv.AppendInt(msg, int64(i), 10)
					msg = append(msg, '}')
					if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
						b.Fatalf("write: %v", err)
					}
					_, ack, err := ws.Read(ctx)
					if err != nil {
						b.Fatalf("read: %v", err)
					}
					if !bytes.Contains(ack, want) {
						b.Fatalf("ack %d: %s, want data %s", i, ack, want)
					}
				}
			})
		}
	}
}

// BenchmarkHandshake is one authenticated connection opened and closed:
// origin check, cookie, JWT verification, upgrade.
func BenchmarkHandshake(b *testing.B) {
	for _, sv := range benchServers {
		b.Run(sv.name, func(b *testing.B) {
			s := benchServeMemory(b, sv.new(b))
			token := benchToken(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ws := benchDial(b, s, token)
				_ = ws.CloseNow()
			}
		})
	}
}

// BenchmarkIdleConnection holds b.N authenticated connections open and
// reports the memory (live heap and goroutine stacks) and goroutines each
// costs once idle ("B/conn",
// "goroutines/conn"). Both ends run in this process, so the figures include
// the client's share, the same for both sub-benchmarks: their difference is
// what the gateway adds.
func BenchmarkIdleConnection(b *testing.B) {
	for _, sv := range benchServers {
		b.Run(sv.name, func(b *testing.B) {
			s := benchServeMemory(b, sv.new(b))
			token := benchToken(b)
			conns := make([]*websocket.Conn, 0, b.N)
			defer func() {
				for _, ws := range conns {
					_ = ws.CloseNow()
				}
			}()
			heap0, g0 := benchHeap()
			b.ResetTimer()
			for range b.N {
				conns = append(conns, benchDial(b, s, token))
			}
			b.StopTimer()
			// Let each session settle into its idle read.
			time.Sleep(100 * time.Millisecond)
			heap1, g1 := benchHeap()
			b.ReportMetric(float64(heap1-heap0)/float64(b.N), "B/conn")
			b.ReportMetric(float64(g1-g0)/float64(b.N), "goroutines/conn")
		})
	}
}

// benchHeap returns the live heap after a collection plus the goroutine
// stacks in use, and the goroutine count.
func benchHeap() (int64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse), runtime.NumGoroutine()
}
