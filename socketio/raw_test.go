package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// A raw Engine.IO polling client, to test the protocol's details that
// socket.io-client hides. It runs over wsgatetest's in-memory transport.

type pollClient struct {
	t      testing.TB
	hc     *http.Client
	base   string
	origin string
	cookie string
	sid    string
	open   map[string]any
	queue  []string // packets polled and not yet looked at
}

const memBase = "http://wsgatetest.invalid/socket.io/?EIO=4&transport=polling"

// request sends one request and returns its status and body.
func (p *pollClient) request(method, url, body string) (int, string) {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if p.origin != "" {
		req.Header.Set("Origin", p.origin)
	}
	if p.cookie != "" {
		req.Header.Set("Cookie", wsgate.DefaultTokenCookie+"="+p.cookie)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// handshake opens a polling session and returns the client.
func handshake(t testing.TB, srv *wsgatetest.Server, origin, token string) *pollClient {
	t.Helper()
	p := &pollClient{t: t, hc: srv.HTTPClient(), base: memBase, origin: origin, cookie: token}
	status, body := p.request(http.MethodGet, p.base, "")
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake answered %d %q", status, body)
	}
	if err := json.Unmarshal([]byte(body[1:]), &p.open); err != nil {
		t.Fatal(err)
	}
	p.sid, _ = p.open["sid"].(string)
	return p
}

func (p *pollClient) url() string { return p.base + "&sid=" + p.sid }

// post sends packets and fails unless they are accepted.
func (p *pollClient) post(packets ...string) {
	p.t.Helper()
	if status, body := p.request(http.MethodPost, p.url(), strings.Join(packets, "\x1e")); status != http.StatusOK || body != "ok" {
		p.t.Fatalf("POST %q answered %d %q", packets, status, body)
	}
}

// poll returns the packets of one GET.
func (p *pollClient) poll() []string {
	p.t.Helper()
	status, body := p.request(http.MethodGet, p.url(), "")
	if status != http.StatusOK {
		p.t.Fatalf("GET answered %d %q", status, body)
	}
	return strings.Split(body, "\x1e")
}

// expect polls until a packet with prefix arrives, answering pings, and
// returns it; other packets are returned in skipped order in the second
// result.
func (p *pollClient) expect(prefix string) (string, []string) {
	p.t.Helper()
	var skipped []string
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if len(p.queue) == 0 {
			p.queue = p.poll()
		}
		for len(p.queue) > 0 {
			pkt := p.queue[0]
			p.queue = p.queue[1:]
			if strings.HasPrefix(pkt, prefix) {
				return pkt, skipped
			}
			if pkt == "2" {
				p.post("3")
				continue
			}
			skipped = append(skipped, pkt)
		}
	}
	p.t.Fatalf("no packet %q within %v; got %q", prefix, wait, skipped)
	return "", nil
}

// connect sends CONNECT and expects it accepted.
func (p *pollClient) connect() {
	p.t.Helper()
	p.post("40")
	if pkt, _ := p.expect("40"); !strings.HasPrefix(pkt, `40{"sid":"`) {
		p.t.Fatalf("CONNECT answered %q", pkt)
	}
}
