package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// These tests run the port's real server over loopback TCP: the timeouts
// under test are the TCP connection's deadlines, which an in-memory
// listener would not show as a client sees them.

// listenLoopback listens on a free loopback port. It skips the test when
// loopback is down, as in a network namespace of its own (CI runs this
// package a second time in one, to prove the in-memory tests need no
// network); the ordinary run has loopback and runs it. With loopback down
// a listen may still succeed, so a probe connection decides.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		noLoopback(t, "no loopback network to listen on", err)
	}
	c, err := net.DialTimeout("tcp", probe.Addr().String(), 10*time.Second)
	probe.Close()
	if err != nil {
		noLoopback(t, "no loopback network to connect over", err)
	}
	c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serveTCP runs serve, the program's serving path, on a loopback port with
// the test configuration plus extra, and returns the configuration and the
// address. Cleanup cancels it, as SIGTERM does, and checks that it returns
// nil.
func serveTCP(t *testing.T, extra map[string]string) (config, string) {
	t.Helper()
	vars := map[string]string{"FRONTEND_HOST": frontend, "JWT_SECRET": strings.Repeat("k", 32)}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	out := &syncWriter{w: new(bytes.Buffer)}
	gw, err := newGateway(cfg, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, gw, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve = %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not return after cancellation; output:\n%s", out.String())
		}
	})
	return cfg, ln.Addr().String()
}

func TestServerTimeoutsFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(cfg, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 5*time.Second || srv.ReadTimeout != 10*time.Second || srv.IdleTimeout != 60*time.Second {
		t.Errorf("defaults: ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v; want 5s, 10s, 60s",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}

	cfg, err = loadConfig(env(map[string]string{
		"HTTP_READ_HEADER_TIMEOUT": "2s", "HTTP_READ_TIMEOUT": "3s", "HTTP_IDLE_TIMEOUT": "4m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv = newServer(cfg, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 2*time.Second || srv.ReadTimeout != 3*time.Second || srv.IdleTimeout != 4*time.Minute {
		t.Errorf("configured: ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v; want 2s, 3s, 4m",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}

	// Zero would mean no timeout at all: refused, as is anything that is
	// not a duration.
	for _, name := range []string{"HTTP_READ_HEADER_TIMEOUT", "HTTP_READ_TIMEOUT", "HTTP_IDLE_TIMEOUT"} {
		for _, v := range []string{"0", "0s", "-1s", "soon", "10"} {
			_, err := loadConfig(env(map[string]string{name: v}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: err = %v, want an error naming the variable", name, v, err)
			}
		}
	}
}

// TestIdleKeepAliveConnectionClosed: a plain HTTP connection that got its
// answers and then sends nothing is closed after HTTP_IDLE_TIMEOUT. The
// read timeout is set far longer, so that it is IdleTimeout (and not
// net/http's fallback to ReadTimeout) that closes it.
func TestIdleKeepAliveConnectionClosed(t *testing.T) {
	t.Parallel()
	_, addr := serveTCP(t, map[string]string{"HTTP_IDLE_TIMEOUT": "200ms", "HTTP_READ_TIMEOUT": "1h"})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)

	// Two requests on the one connection: it is kept alive between them.
	for i := range 2 {
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("response %d: %d, close %v; want 200 on a kept-alive connection", i, resp.StatusCode, resp.Close)
		}
	}

	// Now idle: the server closes the connection. The deadline is
	// generous; without IdleTimeout the read would reach it.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := br.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the idle keep-alive connection was still open 20 s later; want it closed after HTTP_IDLE_TIMEOUT (200ms)")
		}
		t.Fatalf("read on the idle connection = %d, %v; want EOF (closed by the server)", n, err)
	}
}

// TestUnsentBodyAnswered: a request that announces a body and never sends
// it is answered, and its connection closed, once HTTP_READ_TIMEOUT has
// passed: net/http waits to discard the body before it answers, and only
// the read deadline ends that wait.
func TestUnsentBodyAnswered(t *testing.T) {
	t.Parallel()
	_, addr := serveTCP(t, map[string]string{"HTTP_READ_TIMEOUT": "300ms"})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /ws HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body never came: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("answer %d %s, want a 4xx refusal", resp.StatusCode, body)
	}
	if _, err := br.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer: %v, want the connection closed (EOF)", err)
	}
}

// TestWebSocketOutlivesReadTimeout: the host server's timeouts bound plain
// HTTP only. Hijacking clears the connection's deadlines, so a WebSocket
// opened under a 100ms ReadTimeout (and header and idle timeouts as short)
// still works many times that later.
func TestWebSocketOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	cfg, addr := serveTCP(t, map[string]string{
		"HTTP_READ_HEADER_TIMEOUT": timeout.String(), "HTTP_READ_TIMEOUT": timeout.String(), "HTTP_IDLE_TIMEOUT": timeout.String(),
	})
	token, err := mintToken(cfg, "alice", "user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {frontend}, "Cookie": {"access_token=" + token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	// Let every one of the server's timeouts pass many times over: a
	// longer wait on a loaded machine only makes the point stronger.
	time.Sleep(10 * timeout)

	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"xyz","data":"still here","id":1}`)); err != nil {
		t.Fatalf("write after %v: %v", 10*timeout, err)
	}
	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after %v: %v (close code %d); want the ack: the WebSocket must outlive ReadTimeout",
				10*timeout, err, websocket.CloseStatus(err))
		}
		var ack struct {
			ID   *int64          `json:"id"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(frame, &ack); err != nil {
			t.Fatalf("frame %s: %v", frame, err)
		}
		if ack.ID == nil {
			continue // the xyz emit that precedes the ack
		}
		if want := `{"received":"still here","sub":"alice"}`; *ack.ID != 1 || string(ack.Data) != want {
			t.Fatalf("ack %s, want id 1 with %s", frame, want)
		}
		break
	}
	ws.Close(websocket.StatusNormalClosure, "")
}

// TestLongPollOutlivesReadTimeout: a socket.io client on long-polling keeps
// a GET waiting for up to the ping interval, here ten times the host
// server's ReadTimeout; the poll is answered with the ping, not cut off.
func TestLongPollOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	cfg, addr := serveTCP(t, map[string]string{
		"HTTP_READ_HEADER_TIMEOUT": timeout.String(), "HTTP_READ_TIMEOUT": timeout.String(),
		"WS_PING_INTERVAL": (10 * timeout).String(),
	})
	token, err := mintToken(cfg, "alice", "user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := &sioClient{t: t, hc: &http.Client{Timeout: 30 * time.Second}, origin: frontend, cookie: token}
	base := "http://" + addr + "/socket.io/?EIO=4&transport=polling"
	status, body := c.do(http.MethodGet, base, "")
	if status != http.StatusOK {
		t.Fatalf("handshake: %d %s", status, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "0")), &open); err != nil {
		t.Fatal(err)
	}
	c.url = base + "&sid=" + open.SID
	c.post("40")
	c.next("40{")
	status, body = c.do(http.MethodGet, c.url, "")
	if status != http.StatusOK || body != "2" {
		t.Fatalf("a poll of ten ReadTimeouts answered %d %q, want the ping", status, body)
	}
	c.post("3")
}

// noLoopback skips the test for want of loopback: expected in CI's second
// run, inside a network namespace of its own (.ci/run sets WSGATE_NO_NETWORK
// there), and a failure in any other CI run, where it would hide the test.
func noLoopback(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" && os.Getenv("WSGATE_NO_NETWORK") != "1" {
		t.Fatalf("%s: %v (CI has loopback outside the network-free run)", what, err)
	}
	t.Skipf("%s: %v", what, err)
}
