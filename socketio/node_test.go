package socketio_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this file drive the real socket.io-client, from the npm
// registry (testdata/node, pinned by its package-lock.json; `npm ci` there
// installs it), through testdata/node/client.mjs. Without node or
// node_modules they are skipped, unless CI=true, where they fail.

const nodeDir = "testdata/node"

// report is one line client.mjs wrote.
type report struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Transport string            `json:"transport"`
	Message   string            `json:"message"`
	Data      json.RawMessage   `json:"data"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Ref       int               `json:"ref"`
	Result    json.RawMessage   `json:"result"`
	Timeout   bool              `json:"timeout"`
	Reason    string            `json:"reason"`
}

func (r report) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// nodeClient is a running client.mjs.
type nodeClient struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   *json.Encoder
	closeIn func() error
	mu      sync.Mutex
	backlog []report
	arrived chan struct{}
	done    chan struct{}
	stderr  strings.Builder
}

// needNode skips the test under -short, and when node or the installed
// client is missing, unless CI=true.
func needNode(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: does not run node")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeDir, "node_modules", "socket.io-client", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("socket.io-client tests need node and `npm ci` in %s: %v", nodeDir, err)
		}
		t.Skipf("socket.io-client tests need node and `npm ci` in %s: %v", nodeDir, err)
	}
	return node
}

func startNode(t testing.TB) *nodeClient {
	t.Helper()
	node := needNode(t)
	cmd := exec.Command(node, "client.mjs")
	cmd.Dir = nodeDir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeClient{t: t, cmd: cmd, stdin: json.NewEncoder(in), closeIn: in.Close, arrived: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{b: &n.stderr, mu: &n.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r report
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				r = report{Type: "garbage", Message: sc.Text()}
			}
			n.mu.Lock()
			n.backlog = append(n.backlog, r)
			n.mu.Unlock()
			select {
			case n.arrived <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = n.stdin.Encode(map[string]string{"op": "exit"})
		_ = n.closeIn()
		select {
		case <-n.done:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-n.done
		}
		_ = cmd.Wait()
	})
	return n
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (n *nodeClient) send(cmd map[string]any) {
	n.t.Helper()
	if err := n.stdin.Encode(cmd); err != nil {
		n.t.Fatalf("client.mjs: %v", err)
	}
}

// connect opens a socket named name to url with the io() options opts.
func (n *nodeClient) connect(name, url string, opts map[string]any) {
	n.send(map[string]any{"op": "connect", "name": name, "url": url, "opts": opts})
}

// next returns the first report of name of type typ (any type for "") for
// which match, if not nil, holds, and removes it and the reports of name
// before it.
func (n *nodeClient) next(name, typ string, match func(report) bool) report {
	n.t.Helper()
	deadline := time.After(wait)
	for {
		n.mu.Lock()
		for i, r := range n.backlog {
			if r.Name != name || typ != "" && r.Type != typ || match != nil && !match(r) {
				continue
			}
			n.backlog = append(n.backlog[:i:i], n.backlog[i+1:]...)
			n.mu.Unlock()
			return r
		}
		n.mu.Unlock()
		select {
		case <-n.arrived:
		case <-n.done:
			n.mu.Lock()
			defer n.mu.Unlock()
			n.t.Fatalf("client.mjs ended while waiting for %s %s; reports %v; stderr %s", name, typ, n.backlog, n.stderr.String())
		case <-deadline:
			n.mu.Lock()
			defer n.mu.Unlock()
			n.t.Fatalf("timed out waiting for %s %s; reports %v; stderr %s", name, typ, n.backlog, n.stderr.String())
		}
	}
}

// event waits for the event ev on name.
func (n *nodeClient) event(name, ev string) report {
	n.t.Helper()
	return n.next(name, "event", func(r report) bool { return r.Event == ev })
}

// ack sends emitWithAck(event, args...) and waits for its answer.
func (n *nodeClient) ack(name string, ref int, event string, args ...any) report {
	n.t.Helper()
	if args == nil {
		args = []any{}
	}
	n.send(map[string]any{"op": "ack", "name": name, "ref": ref, "event": event, "args": args})
	return n.next(name, "ack", func(r report) bool { return r.Ref == ref })
}

// has reports whether a report of name of type typ is waiting.
func (n *nodeClient) has(name, typ string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.backlog {
		if r.Name == name && r.Type == typ {
			return true
		}
	}
	return false
}

// clientOpts are io() options for a Node client: Node sends no Origin and
// keeps no cookies, so both are headers here, as a browser would send them.
func clientOpts(origin, token string, extra map[string]any) map[string]any {
	h := map[string]string{}
	if origin != "" {
		h["Origin"] = origin
	}
	if token != "" {
		h["Cookie"] = "access_token=" + token
	}
	opts := map[string]any{"extraHeaders": h, "reconnection": false}
	for k, v := range extra {
		opts[k] = v
	}
	return opts
}

func jsonEq(t testing.TB, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s is not JSON: %v", what, want, err)
	}
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}
