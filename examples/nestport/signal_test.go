package main

import (
	"bufio"
	"context"
	"errors"
	"io"
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
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testSignalShutdown(t, bin, tt.sig)
		})
	}
}

func testSignalShutdown(t *testing.T, bin string, sig syscall.Signal) {
	const shutdownTimeout = 10 * time.Second
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
		if took := time.Since(signalled); took > shutdownTimeout {
			t.Errorf("the program took %v to exit after %v, longer than SHUTDOWN_TIMEOUT %v", took, sig, shutdownTimeout)
		}
	case <-time.After(shutdownTimeout + 20*time.Second):
		t.Fatalf("the program was still running %v after %v", shutdownTimeout+20*time.Second, sig)
	}
}
