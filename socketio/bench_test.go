package socketio_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Benchmarks of the socket.io front end against the native protocol,
// measured in the same run, on the same gateway and handler: compare the
// sub-benchmarks of one run with each other.
//
//	go test -run '^$' -bench . -benchmem ./socketio
//
// "native" is wire protocol v1 at /ws; "socketio-websocket" a socket.io
// client on WebSocket (after the upgrade, or websocket-only);
// "socketio-polling" one that stays on HTTP long-polling.

type benchIn struct {
	N int    `json:"n"`
	S string `json:"s"`
}

type benchOut struct {
	N   int    `json:"n"`
	S   string `json:"s"`
	Sub string `json:"sub"`
}

func benchEnv(b *testing.B) *env {
	e := newEnv(b, wsgate.Options{
		Guards:                   []wsgate.Guard{wsgate.Authenticated},
		EventsPerSecond:          -1,
		MaxConnections:           -1,
		MaxConnectionsPerSubject: -1,
	}, socketio.Options{})
	wsgate.On(e.gw, "echo", func(c *wsgate.Context, in benchIn) (benchOut, error) {
		return benchOut{N: in.N, S: in.S, Sub: c.Principal().Subject}, nil
	}, wsgate.HandlerOptions{})
	return e
}

// benchConn is one client connection of a benchmark: request sends the
// echo event with id i and returns its answer.
type benchConn interface {
	request(i int) []byte
	close()
}

type benchDialer struct {
	name string
	dial func(b *testing.B, hc *http.Client, base, token string) benchConn
}

var benchDialers = []benchDialer{
	{"native", dialNative},
	{"socketio-websocket", dialSIOWebSocket},
	{"socketio-polling", dialSIOPolling},
}

var benchWant = []byte(`{"n":42,"s":"hello","sub":"alice"}`)

type wsBench struct {
	b      *testing.B
	ws     *websocket.Conn
	msg    []byte
	native bool
}

func benchWSDial(b *testing.B, hc *http.Client, url, token string) *websocket.Conn {
	h := http.Header{"Origin": {testOrigin}, "Cookie": {wsgate.DefaultTokenCookie + "=" + token}}
	ws, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		b.Fatalf("dial %s: %v", url, err)
	}
	return ws
}

func dialNative(b *testing.B, hc *http.Client, base, token string) benchConn {
	return &wsBench{b: b, ws: benchWSDial(b, hc, "ws"+strings.TrimPrefix(base, "http")+"/ws", token), native: true}
}

func dialSIOWebSocket(b *testing.B, hc *http.Client, base, token string) benchConn {
	c := &wsBench{b: b, ws: benchWSDial(b, hc, "ws"+strings.TrimPrefix(base, "http")+"/socket.io/?EIO=4&transport=websocket", token)}
	c.read("0{")
	c.write([]byte("40"))
	c.read("40{")
	return c
}

func (c *wsBench) write(m []byte) {
	if err := c.ws.Write(context.Background(), websocket.MessageText, m); err != nil {
		c.b.Fatalf("write: %v", err)
	}
}

// read returns the next message with prefix, answering pings.
func (c *wsBench) read(prefix string) []byte {
	for {
		_, m, err := c.ws.Read(context.Background())
		if err != nil {
			c.b.Fatalf("read: %v", err)
		}
		if bytes.HasPrefix(m, []byte(prefix)) {
			return m
		}
		if string(m) == "2" {
			c.write([]byte("3"))
		}
	}
}

func (c *wsBench) request(i int) []byte {
	if c.native {
		c.msg = append(c.msg[:0], `{"event":"echo","data":{"n":42,"s":"hello"},"id":`...)
		c.msg = strconv.AppendInt(c.msg, int64(i), 10)
		c.msg = append(c.msg, '}')
		c.write(c.msg)
		_, m, err := c.ws.Read(context.Background())
		if err != nil {
			c.b.Fatalf("read: %v", err)
		}
		return m
	}
	c.msg = strconv.AppendInt(append(c.msg[:0], "42"...), int64(i), 10)
	c.msg = append(c.msg, `["echo",{"n":42,"s":"hello"}]`...)
	c.write(c.msg)
	return c.read("43")
}

func (c *wsBench) close() { _ = c.ws.Close(websocket.StatusNormalClosure, "") }

type pollBench struct {
	b   *testing.B
	hc  *http.Client
	url string
	tok string
	buf bytes.Buffer
	msg []byte
}

func dialSIOPolling(b *testing.B, hc *http.Client, base, token string) benchConn {
	c := &pollBench{b: b, hc: hc, tok: token, url: base + "/socket.io/?EIO=4&transport=polling"}
	open := c.do(http.MethodGet, nil)
	sid := open[bytes.Index(open, []byte(`"sid":"`))+7:]
	c.url += "&sid=" + string(sid[:bytes.IndexByte(sid, '"')])
	c.do(http.MethodPost, []byte("40"))
	c.next("40{")
	return c
}

func (c *pollBench) do(method string, body []byte) []byte {
	req, _ := http.NewRequest(method, c.url, bytes.NewReader(body))
	req.Header.Set("Origin", testOrigin)
	req.Header.Set("Cookie", wsgate.DefaultTokenCookie+"="+c.tok)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.b.Fatal(err)
	}
	defer resp.Body.Close()
	c.buf.Reset()
	_, _ = io.Copy(&c.buf, resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.b.Fatalf("%s: %d %s", method, resp.StatusCode, c.buf.Bytes())
	}
	return c.buf.Bytes()
}

func (c *pollBench) next(prefix string) []byte {
	for {
		for _, p := range bytes.Split(c.do(http.MethodGet, nil), []byte{0x1e}) {
			if bytes.HasPrefix(p, []byte(prefix)) {
				return p
			}
			if string(p) == "2" {
				c.do(http.MethodPost, []byte("3"))
			}
		}
	}
}

func (c *pollBench) request(i int) []byte {
	c.msg = strconv.AppendInt(append(c.msg[:0], "42"...), int64(i), 10)
	c.msg = append(c.msg, `["echo",{"n":42,"s":"hello"}]`...)
	c.do(http.MethodPost, c.msg)
	return append([]byte(nil), c.next("43")...)
}

func (c *pollBench) close() { c.do(http.MethodPost, []byte("1")) }

// BenchmarkRoundTrip is one guarded request and its answer on one
// connection, in memory (the gateway's cost without the kernel's) and over
// loopback TCP.
func BenchmarkRoundTrip(b *testing.B) {
	for _, net := range []string{"memory", "tcp"} {
		for _, d := range benchDialers {
			b.Run(net+"/"+d.name, func(b *testing.B) {
				e := benchEnv(b)
				hc, base := wsgatetest.NewServer(b, e.mux).HTTPClient(), "http://wsgatetest.invalid"
				if net == "tcp" {
					srv := httptest.NewServer(e.mux)
					b.Cleanup(srv.Close)
					hc, base = srv.Client(), srv.URL
				}
				c := d.dial(b, hc, base, e.token(b, "alice"))
				defer c.close()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if ack := c.request(i); !bytes.Contains(ack, benchWant) {
						b.Fatalf("answer %d: %s", i, ack)
					}
				}
			})
		}
	}
}

// BenchmarkHandshake is one authenticated connection opened (cookie, JWT,
// and for socket.io the Engine.IO open and the CONNECT) and closed, in
// memory.
func BenchmarkHandshake(b *testing.B) {
	for _, d := range benchDialers {
		b.Run(d.name, func(b *testing.B) {
			e := benchEnv(b)
			hc := wsgatetest.NewServer(b, e.mux).HTTPClient()
			token := e.token(b, "alice")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d.dial(b, hc, "http://wsgatetest.invalid", token).close()
			}
		})
	}
}

// BenchmarkIdleConnection holds b.N authenticated connections open and
// reports the memory (live heap and goroutine stacks) and the goroutines
// each costs once idle. Both ends run in this process, so the figures
// include the client's share, the same for the native and the socket.io
// WebSocket client (coder/websocket); a polling client holds a waiting GET.
func BenchmarkIdleConnection(b *testing.B) {
	for _, d := range benchDialers {
		b.Run(d.name, func(b *testing.B) {
			e := benchEnv(b)
			hc := wsgatetest.NewServer(b, e.mux).HTTPClient()
			token := e.token(b, "alice")
			conns := make([]benchConn, 0, b.N)
			heap0, g0 := benchHeap()
			b.ResetTimer()
			for range b.N {
				conns = append(conns, d.dial(b, hc, "http://wsgatetest.invalid", token))
			}
			b.StopTimer()
			for _, c := range conns {
				if p, ok := c.(*pollBench); ok {
					go p.hold() // an idle polling client keeps a GET waiting
				}
			}
			e.served(b, b.N)
			time.Sleep(100 * time.Millisecond) // let each session settle into its idle wait
			heap1, g1 := benchHeap()
			b.ReportMetric(float64(heap1-heap0)/float64(b.N), "B/conn")
			b.ReportMetric(float64(g1-g0)/float64(b.N), "goroutines/conn")
			e.shutdown()
		})
	}
}

// hold keeps a GET waiting, as an idle polling client does, until the
// session ends.
func (c *pollBench) hold() {
	req, _ := http.NewRequest(http.MethodGet, c.url, nil)
	req.Header.Set("Origin", testOrigin)
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

func benchHeap() (int64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse), runtime.NumGoroutine()
}
