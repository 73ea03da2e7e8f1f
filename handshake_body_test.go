package wsgate_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
)

// The gateway's own answers to requests it will not upgrade must not wait
// for a request body that nobody reads: a client that announces a body and
// never sends it gets its answer at once, and the connection is closed
// rather than held for the rest of the body.

// bodyDeadline is how long a raw client waits for the whole exchange: far
// more than an answer needs on a loaded machine, and far less than a
// server waiting for a body that never comes would take (forever, without
// a ReadTimeout).
const bodyDeadline = 5 * time.Second

// rawExchange sends request over a fresh TCP connection to addr and never
// sends anything more. It returns the response and reports whether the
// server then closed the connection, both within bodyDeadline.
func rawExchange(t *testing.T, addr, request string) (resp *http.Response, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(bodyDeadline)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("write request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v while the announced body never came: %v", bodyDeadline, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	resp.Body.Close()
	// The server must end the connection: anything it sends now is a
	// failure, and so is silence until the deadline.
	n, err := br.Read(make([]byte, 1))
	switch {
	case n > 0:
		t.Fatalf("the server sent more after its answer")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return resp, false
	}
	return resp, true
}

func TestHandshakeRefusalsDoNotWaitForTheBody(t *testing.T) {
	t.Parallel()
	gw := newWhoamiGateway(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: roleJWT(t)})
	shutdownOnCleanup(t, gw)
	srv := realServer(t, gw)
	addr := srv.Listener.Addr().String()

	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tc := range []struct {
		name    string
		request string
		status  int
	}{
		{"426 plain POST, large body announced", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\nContent-Length: 1000000\r\n\r\n", http.StatusUpgradeRequired},
		{"426 plain POST, small body announced", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\nContent-Length: 1000\r\n\r\n", http.StatusUpgradeRequired},
		{"426 chunked body", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\nTransfer-Encoding: chunked\r\n\r\n", http.StatusUpgradeRequired},
		{"426 partial body", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\nContent-Length: 1000\r\n\r\n{\"a\":", http.StatusUpgradeRequired},
		{"403 origin", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example.net\r\nContent-Length: 1000\r\n\r\n", http.StatusForbidden},
		{"403 origin, large body", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example.net\r\nContent-Length: 1000000\r\n\r\n", http.StatusForbidden},
		{"400 bad handshake", "POST /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\n" + upgrade + "Content-Length: 1000\r\n\r\n", http.StatusBadRequest},
		// A handshake has no body: one that announces a body is refused
		// before the token is read.
		{"400 upgrade with a body", "GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\n" + upgrade + "Content-Length: 1000\r\n\r\n", http.StatusBadRequest},
		{"400 upgrade with a chunked body", "GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\n" + upgrade + "Transfer-Encoding: chunked\r\n\r\n", http.StatusBadRequest},
		{"preflight", "OPTIONS /ws HTTP/1.1\r\nHost: x\r\nOrigin: " + testOrigin + "\r\nAccess-Control-Request-Method: GET\r\nContent-Length: 1000\r\n\r\n", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, closed := rawExchange(t, addr, tc.request)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !closed {
				t.Fatalf("the answer came, but the server held the connection for the body for %v", bodyDeadline)
			}
			if !resp.Close {
				t.Errorf("the answer does not say Connection: close")
			}
		})
	}
}

// TestHandshakeRefusalKeepsTheConnectionWithoutBody: a refusal of a request
// without a body leaves the connection to keep-alive, as net/http would.
func TestHandshakeRefusalKeepsTheConnectionWithoutBody(t *testing.T) {
	t.Parallel()
	gw := newWhoamiGateway(t, wsgate.Options{Origins: []string{testOrigin}, Authenticator: roleJWT(t)})
	shutdownOnCleanup(t, gw)
	srv := realServer(t, gw)
	client := srv.Client()
	for range 2 {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", testOrigin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || resp.Close {
			t.Fatalf("status %d, close %v; want 426 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
	}
}
