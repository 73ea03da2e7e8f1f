package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runInProcess runs the program's run function with vars, on a free port,
// and returns its base URL. Cleanup cancels it, as SIGTERM does, and
// checks that it returns nil.
func runInProcess(t *testing.T, vars map[string]string) string {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	vars["ADDR"] = "127.0.0.1:0"
	go func() { done <- run(ctx, env(vars), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v, want nil after cancellation", err)
			}
		case <-time.After(waitFor):
			t.Errorf("run did not return after cancellation:\n%s", out.String())
		}
	})
	re := regexp.MustCompile(`msg=listening addr=(http://\S+)`)
	deadline := time.Now().Add(waitFor)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run returned %v before listening:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout != 5*time.Second || srv.ReadTimeout != 10*time.Second || srv.IdleTimeout != 60*time.Second {
		t.Errorf("timeouts %v %v %v, want 5s 10s 60s", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
}

// TestSlowHeadersDropped: a client that never finishes its headers is
// dropped after ReadHeaderTimeout, over real TCP.
func TestSlowHeadersDropped(t *testing.T) {
	needLoopback(t)
	t.Parallel()
	base := runInProcess(t, map[string]string{"JWT_SECRET": strings.Repeat("k", 32)})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(readHeaderTimeout + waitFor))
	_, err = bufio.NewReader(c).ReadString('\n')
	took := time.Since(start)
	if err == nil {
		// net/http may answer 408 before closing; then the close follows.
		_, err = io.ReadAll(c)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was still open %v later", took)
	}
	if took < readHeaderTimeout-time.Second {
		t.Errorf("dropped after %v, before ReadHeaderTimeout %v", took, readHeaderTimeout)
	}
}
