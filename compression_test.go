package wsgate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
)

const compressOrigin = "https://app.example.com"

// compressGateway serves an anonymous gateway with an "echo" event over
// loopback TCP, where the extension is negotiated as in production.
func compressGateway(t *testing.T, opts wsgate.Options) string {
	t.Helper()
	opts.Origins = []string{compressOrigin}
	opts.Logger = quietLogger()
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	wsgate.On(gw, "echo", func(_ *wsgate.Context, in string) (string, error) {
		return in, nil
	}, wsgate.HandlerOptions{})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// compressDial dials offering mode and returns the connection, the
// extension the gateway answered with, and a count of the bytes the client
// has read from its socket.
func compressDial(t *testing.T, url string, mode websocket.CompressionMode) (*websocket.Conn, string, *atomic.Int64) {
	t.Helper()
	var read atomic.Int64
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, read: &read}, nil
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      http.Header{"Origin": {compressOrigin}},
		CompressionMode: mode,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws, resp.Header.Get("Sec-WebSocket-Extensions"), &read
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// compressEcho sends a request for a large, repetitive payload and returns
// the bytes the client read for its ack.
func compressEcho(t *testing.T, ws *websocket.Conn, read *atomic.Int64, payload string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := json.Marshal(map[string]any{"event": "echo", "data": payload, "id": 1})
	before := read.Load()
	if err := ws.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var ack struct {
		ID   int64  `json:"id"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(msg, &ack); err != nil || ack.ID != 1 || ack.Data != payload {
		t.Fatalf("ack: %.200s (%v)", msg, err)
	}
	return read.Load() - before
}

// TestCompressionOptIn: a client offering permessage-deflate gets it only
// when the gateway opted in, and then the frames on the wire are
// compressed (the gateway's frame follower in internal/wsio/peerconn.go copes with
// compressed frames, whose RSV1 bit is set).
func TestCompressionOptIn(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("wsgate compresses repetitive messages. ", 200) // 7.8 KB
	for _, tc := range []struct {
		name       string
		gateway    wsgate.Compression
		client     websocket.CompressionMode
		wantExt    string // a substring; "" means no extension
		compressed bool
	}{
		{"default, client offers context takeover", wsgate.CompressionOff, websocket.CompressionContextTakeover, "", false},
		{"default, client offers no context takeover", wsgate.CompressionOff, websocket.CompressionNoContextTakeover, "", false},
		{"no context takeover", wsgate.CompressionNoContextTakeover, websocket.CompressionContextTakeover, "server_no_context_takeover", true},
		{"context takeover", wsgate.CompressionContextTakeover, websocket.CompressionContextTakeover, "permessage-deflate", true},
		{"context takeover, client offers none", wsgate.CompressionContextTakeover, websocket.CompressionDisabled, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := compressGateway(t, wsgate.Options{Compression: tc.gateway})
			ws, ext, read := compressDial(t, url, tc.client)
			switch {
			case tc.wantExt == "" && ext != "":
				t.Fatalf("Sec-WebSocket-Extensions: %q, want none", ext)
			case tc.wantExt != "" && !strings.Contains(ext, tc.wantExt):
				t.Fatalf("Sec-WebSocket-Extensions: %q, want %q", ext, tc.wantExt)
			}
			if tc.name == "context takeover" && strings.Contains(ext, "no_context_takeover") {
				t.Fatalf("Sec-WebSocket-Extensions: %q, want context takeover", ext)
			}
			// Twice: with context takeover the second message reuses the window.
			for range 2 {
				n := compressEcho(t, ws, read, payload)
				if tc.compressed && n >= int64(len(payload))/4 {
					t.Fatalf("read %d bytes for a %d-byte payload: not compressed", n, len(payload))
				}
				if !tc.compressed && n < int64(len(payload)) {
					t.Fatalf("read %d bytes for a %d-byte payload: compressed without opting in", n, len(payload))
				}
			}
		})
	}
}

// TestCompressionThreshold: messages under the threshold go uncompressed.
func TestCompressionThreshold(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("a", 2000)
	url := compressGateway(t, wsgate.Options{Compression: wsgate.CompressionNoContextTakeover, CompressionThreshold: 4096})
	ws, ext, read := compressDial(t, url, websocket.CompressionNoContextTakeover)
	if !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions: %q", ext)
	}
	if n := compressEcho(t, ws, read, payload); n < int64(len(payload)) {
		t.Fatalf("read %d bytes for a %d-byte payload under the threshold: compressed", n, len(payload))
	}
}

func TestCompressionOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, opts := range []wsgate.Options{
		{Compression: wsgate.Compression(3)},
		{Compression: wsgate.Compression(-1)},
		{Compression: wsgate.CompressionContextTakeover, CompressionThreshold: -1},
	} {
		if _, err := wsgate.New(opts); err == nil {
			t.Errorf("New(Compression %v, CompressionThreshold %d): no error", opts.Compression, opts.CompressionThreshold)
		}
	}
	if got := wsgate.CompressionContextTakeover.String(); got != "CompressionContextTakeover" {
		t.Errorf("String: %q", got)
	}
}

// Compression is an opt-in: here for a gateway whose messages are large,
// repetitive and carry no secret next to what a client sends, where
// bandwidth costs more than memory.
func ExampleCompression() {
	gw, err := wsgate.New(wsgate.Options{
		Origins:              []string{"https://app.example.com"},
		Compression:          wsgate.CompressionNoContextTakeover, // no state kept between messages
		CompressionThreshold: 1024,                                // smaller messages go as they are
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Shutdown(context.Background())
	fmt.Println("compressing messages of 1 KiB and more for clients that offer permessage-deflate")
	// Output: compressing messages of 1 KiB and more for clients that offer permessage-deflate
}
