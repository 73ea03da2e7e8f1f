package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

// testMux is newMux with the port's socket.io front end, which the test's
// cleanup closes after shutting the gateway down.
func testMux(t testing.TB, gw *wsgate.Gateway) *http.ServeMux {
	t.Helper()
	sio, err := newSocketIO(gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		sio.Close()
	})
	return newMux(gw, sio)
}

// sioClient is a minimal socket.io client over Engine.IO polling, in
// memory: what socket.io-client does by default before it upgrades (the
// socketio package's own tests drive the real socket.io-client).
type sioClient struct {
	t      *testing.T
	hc     *http.Client
	url    string
	origin string
	cookie string
	queue  []string // packets polled and not yet asked for
}

const sioBase = "http://wsgatetest.invalid/socket.io/?EIO=4&transport=polling"

func (c *sioClient) do(method, url, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Origin", c.origin)
	if c.cookie != "" {
		req.Header.Set("Cookie", "access_token="+c.cookie)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// open runs the Engine.IO handshake and sends CONNECT; it returns the
// HTTP status of a refused handshake, or 0.
func (c *sioClient) open() int {
	c.t.Helper()
	status, body := c.do(http.MethodGet, sioBase, "")
	if status != http.StatusOK {
		return status
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "0")), &open); err != nil {
		c.t.Fatalf("open packet %q: %v", body, err)
	}
	c.url = sioBase + "&sid=" + open.SID
	c.post("40")
	return 0
}

func (c *sioClient) post(pkt string) {
	c.t.Helper()
	if status, body := c.do(http.MethodPost, c.url, pkt); status != http.StatusOK {
		c.t.Fatalf("POST %q: %d %s", pkt, status, body)
	}
}

// next polls until a packet with prefix arrives and returns it.
func (c *sioClient) next(prefix string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		for len(c.queue) > 0 {
			pkt := c.queue[0]
			c.queue = c.queue[1:]
			if strings.HasPrefix(pkt, prefix) {
				return pkt
			}
			if pkt == "2" {
				c.post("3")
			}
			seen = append(seen, pkt)
		}
		status, body := c.do(http.MethodGet, c.url, "")
		if status != http.StatusOK {
			c.t.Fatalf("GET: %d %s", status, body)
		}
		c.queue = strings.Split(body, "\x1e")
	}
	c.t.Fatalf("no packet %q; saw %q", prefix, seen)
	return ""
}

// TestSocketIO: the front end of the NestJS original, which speaks
// socket.io, works against /socket.io/: with the cookie, xyz acks
// {"received", "sub"} and emits xyz; admin without the role and fail give
// the exception event and the error ack with the native endpoint's
// messages and codes; a refused origin or token is refused.
func TestSocketIO(t *testing.T) {
	t.Parallel()
	srv, cfg, _ := newPort(t)
	token, err := mintToken(cfg, "alice", "user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := &sioClient{t: t, hc: srv.HTTPClient(), origin: frontend, cookie: token}
	if status := c.open(); status != 0 {
		t.Fatalf("handshake refused: %d", status)
	}
	if got := c.next("4"); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("CONNECT answered %s", got)
	}

	// socket.emitWithAck("xyz", {hello: "world"})
	c.post(`420["xyz",{"hello":"world"}]`)
	want := `{"received":{"hello":"world"},"sub":"alice"}`
	if got := c.next(`42["xyz"`); got != `42["xyz",`+want+`]` {
		t.Fatalf("xyz event: %s", got)
	}
	if got := c.next("430"); got != `430[`+want+`]` {
		t.Fatalf("xyz ack: %s", got)
	}

	// The same failures as the native endpoint, to the byte.
	native := dialAs(t, srv, cfg, "bob", "user")
	for i, event := range []string{"admin", "fail", "crash"} {
		nack := native.Request(event, nil)
		if nack.OK() {
			t.Fatalf("native %s succeeded", event)
		}
		body, _ := json.Marshal(nack.Error)
		id := string(rune('1' + i))
		c.post(`42` + id + `["` + event + `"]`)
		if got := c.next(`42["exception"`); got != `42["exception",`+string(body)+`]` {
			t.Errorf("%s: exception %s, want the native error %s", event, got, body)
		}
		if got := c.next(`43` + id); got != `43`+id+`[`+string(body)+`]` {
			t.Errorf("%s: ack %s, want the native error %s", event, got, body)
		}
	}

	// Refusals.
	evil := &sioClient{t: t, hc: srv.HTTPClient(), origin: "https://evil.example", cookie: token}
	if status := evil.open(); status != http.StatusForbidden {
		t.Errorf("a refused origin's handshake: %d, want 403", status)
	}
	expired, _ := mintToken(cfg, "alice", "user", -time.Hour)
	for name, tok := range map[string]string{"no token": "", "expired": expired, "garbage": "not.a.jwt"} {
		r := &sioClient{t: t, hc: srv.HTTPClient(), origin: frontend, cookie: tok}
		if status := r.open(); status != 0 {
			t.Fatalf("%s: handshake %d", name, status)
		}
		got := r.next("4")
		if !strings.HasPrefix(got, `44{"message":`) || !strings.HasSuffix(got, `"data":{"status":401,"code":"UNAUTHORIZED"}}`) {
			t.Errorf("%s: CONNECT answered %s, want CONNECT_ERROR 401", name, got)
		}
	}
}
