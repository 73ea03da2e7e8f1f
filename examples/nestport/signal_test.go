package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// listeningRe finds the address the program reports once it serves.
var listeningRe = regexp.MustCompile(`^nestport listening on http://(\S+) `)

// TestSignalShutdown builds the program, runs it, opens a WebSocket, sends
// it SIGTERM or SIGINT, and checks what the doc comment promises: the
// connection is closed with 1001 and the process exits with status 0
// within SHUTDOWN_TIMEOUT.
func TestSignalShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no go command to build the program with, and CI=true: %v", err)
		}
		t.Skipf("no go command to build the program with: %v", err)
	}
	// The program listens on loopback: skip where there is none, as in a
	// network namespace of its own.
	listenLoopback(t).Close()

	bin := filepath.Join(t.TempDir(), "nestport")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, tt := range []struct {
		name    string
		sig     syscall.Signal
		stalled bool
	}{
		{"SIGTERM", syscall.SIGTERM, false},
		{"SIGINT", syscall.SIGINT, false},
		// A peer that announced a huge frame and stopped sending must not
		// keep the program from exiting within SHUTDOWN_TIMEOUT.
		{"SIGTERM with a stalled frame", syscall.SIGTERM, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testSignalShutdown(t, bin, tt.sig, tt.stalled)
		})
	}
}

func testSignalShutdown(t *testing.T, bin string, sig syscall.Signal, stalled bool) {
	shutdownTimeout := 10 * time.Second
	if stalled {
		// Shorter than the gateway's CloseTimeout (5 s): the deadline,
		// not the close watchdog, must end the stalled socket.
		shutdownTimeout = 2 * time.Second
	}
	secret := strings.Repeat("s", 32)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"ADDR=127.0.0.1:0",
		"FRONTEND_HOST="+frontend,
		"JWT_SECRET="+secret,
		"SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
	)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody is looking any more; keep draining
			}
		}
		io.Copy(io.Discard, stdout)
		// Wait only once stdout is drained, as exec requires.
		exited <- cmd.Wait()
	}()
	finished := false
	defer func() {
		if !finished {
			cmd.Process.Kill()
			<-exited
		}
	}()

	var addr string
	var output []string
	timeout := time.After(30 * time.Second)
	for addr == "" {
		select {
		case line := <-lines:
			output = append(output, line)
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				addr = m[1]
			}
		case err := <-exited:
			finished = true
			t.Fatalf("the program exited before serving: %v\n%s", err, strings.Join(output, "\n"))
		case <-timeout:
			t.Fatalf("no listening line within 30 s:\n%s", strings.Join(output, "\n"))
		}
	}

	cfg := config{secret: []byte(secret)}
	token, err := mintToken(cfg, "alice", "user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {frontend}, "Cookie": {"access_token=" + token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	// One round trip, so that the session is surely running.
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"health","id":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, frame, err := ws.Read(ctx); err != nil || string(frame) != `{"id":1,"data":{"ok":true}}` {
		t.Fatalf("health = %s, %v", frame, err)
	}
	if stalled {
		stalledSocket(t, addr, token)
	}

	signalled := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("read after %v: %v (code %d), want close 1001", sig, err, code)
	}
	// SHUTDOWN_TIMEOUT bounds the drain; the rest of the margin is for a
	// loaded machine.
	select {
	case err := <-exited:
		finished = true
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("exit after %v: status %d, want 0", sig, ee.ExitCode())
			}
			t.Fatalf("exit after %v: %v", sig, err)
		}
		// "A little" past SHUTDOWN_TIMEOUT: the sockets are dropped at
		// the deadline, and the server then shuts down at once.
		if took := time.Since(signalled); took > shutdownTimeout+3*time.Second {
			t.Errorf("the program took %v to exit after %v, longer than SHUTDOWN_TIMEOUT %v and a little", took, sig, shutdownTimeout)
		}
	case <-time.After(shutdownTimeout + 20*time.Second):
		t.Fatalf("the program was still running %v after %v", shutdownTimeout+20*time.Second, sig)
	}
}

// stalledSocket opens a second connection by hand and sends the header of
// a text frame announcing 2^40 bytes, then 100 of them, and nothing more:
// the gateway's read is left waiting in the middle of a frame.
func stalledSocket(t *testing.T, addr, token string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: access_token=%s\r\n\r\n",
		addr, key, frontend, token)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade of the stalled socket: %v %v", resp, err)
	}
	frame := []byte{0x81, 0x80 | 127}
	frame = binary.BigEndian.AppendUint64(frame, 1<<40)
	frame = append(frame, 1, 2, 3, 4) // the mask key
	if _, err := nc.Write(append(frame, make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
}
