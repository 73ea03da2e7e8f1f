package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Chromium returns the path of a Chromium or Chrome binary. Under -short
// it skips the test, and without one too, unless CI is "true": CI installs
// Chromium, so a missing binary there is a failure.
func Chromium(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("browsertest: -short: starts no browser")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("browsertest: no chromium, chromium-browser or google-chrome in PATH, and CI=true")
	}
	tb.Skip("browsertest: no chromium, chromium-browser or google-chrome in PATH")
	return ""
}

// Page is the one tab of a headless Chromium, and the DevTools connection
// to the browser.
type Page struct {
	ws      *websocket.Conn
	session string // the tab's flat session
	mu      sync.Mutex
	next    int64
	calls   map[int64]chan message   // pending calls, by id
	waiters map[string]chan struct{} // awaited events, by session and method
	done    chan struct{}            // closed when the read loop ends
	err     error                    // why it ended; set before done is closed
}

// message is any message Chromium sends: a reply (ID set) or an event.
type message struct {
	ID        int64                     `json:"id"`
	Result    json.RawMessage           `json:"result"`
	Error     *struct{ Message string } `json:"error"`
	Method    string                    `json:"method"`
	SessionID string                    `json:"sessionId"`
}

// Launch starts Chromium with a fresh profile, connects to its browser
// endpoint and opens a blank tab. Chromium is killed, and waited for, when
// the test ends.
func Launch(ctx context.Context, tb testing.TB) *Page {
	tb.Helper()
	cmd := exec.Command(Chromium(tb), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--remote-debugging-port=0",
		"--user-data-dir="+tb.TempDir(), "about:blank")
	stderr := &devtoolsLine{found: make(chan string, 1)}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second // bounds Wait if a child keeps stderr open
	if err := cmd.Start(); err != nil {
		tb.Fatalf("browsertest: starting chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { cmd.Process.Kill(); <-exited })

	var url string
	select {
	case url = <-stderr.found:
	case <-exited:
		tb.Fatalf("browsertest: chromium exited before listening:\n%s", stderr.text())
	case <-ctx.Done():
		tb.Fatalf("browsertest: no DevTools endpoint: %v\n%s", ctx.Err(), stderr.text())
	}
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		tb.Fatalf("browsertest: dialing %s: %v", url, err)
	}
	ws.SetReadLimit(64 << 20)
	p := &Page{ws: ws, calls: map[int64]chan message{}, waiters: map[string]chan struct{}{}, done: make(chan struct{})}
	go p.readLoop()
	tb.Cleanup(func() { ws.CloseNow(); <-p.done })

	var target struct{ TargetID string }
	var attached struct{ SessionID string }
	err = p.Call(ctx, "Target.createTarget", map[string]any{"url": "about:blank"}, "", &target)
	if err == nil {
		err = p.Call(ctx, "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, "", &attached)
	}
	p.session = attached.SessionID
	if err == nil {
		err = p.Call(ctx, "Page.enable", nil, p.session, nil)
	}
	if err != nil {
		tb.Fatalf("browsertest: opening a tab: %v", err)
	}
	return p
}

// readLoop hands replies to their callers and awaited events to their
// waiters, and drops every other event, until the connection closes.
func (p *Page) readLoop() {
	for {
		_, data, err := p.ws.Read(context.Background())
		if err != nil {
			p.err = err
			close(p.done)
			return
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		p.mu.Lock()
		if ch, ok := p.calls[m.ID]; ok && m.ID != 0 {
			ch <- m // buffered; delivered once
			delete(p.calls, m.ID)
		} else if ch, ok := p.waiters[m.SessionID+" "+m.Method]; ok {
			close(ch)
			delete(p.waiters, m.SessionID+" "+m.Method)
		}
		p.mu.Unlock()
	}
}

// Call sends a command, to the page attached as sessionID or to the
// browser when it is empty, and decodes the reply's result into result
// (when not nil).
func (p *Page) Call(ctx context.Context, method string, params any, sessionID string, result any) error {
	p.mu.Lock()
	p.next++
	id, reply := p.next, make(chan message, 1)
	p.calls[id] = reply
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.calls, id); p.mu.Unlock() }()

	req, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
		SessionID string `json:"sessionId,omitempty"`
	}{id, method, params, sessionID})
	if err != nil {
		return err
	}
	if err := p.ws.Write(ctx, websocket.MessageText, req); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-reply:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case <-p.done:
		return fmt.Errorf("%s: connection lost: %w", method, p.err)
	}
}

// Navigate loads url and waits for its load event. It checks that the page
// then shows url, so that later evaluations run in the new document.
func (p *Page) Navigate(ctx context.Context, url string) error {
	loaded := make(chan struct{}) // closed by readLoop
	p.mu.Lock()
	p.waiters[p.session+" Page.loadEventFired"] = loaded
	p.mu.Unlock()
	var nav struct{ ErrorText string }
	if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, p.session, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("navigating to %s: %s", url, nav.ErrorText)
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		return fmt.Errorf("loading %s: %w", url, ctx.Err())
	case <-p.done:
		return fmt.Errorf("loading %s: connection lost: %w", url, p.err)
	}
	var href string
	if err := p.Eval(ctx, "location.href", &href); err != nil {
		return err
	}
	if href != url {
		return fmt.Errorf("navigated to %s, the page shows %s", url, href)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page, awaits it when it is
// a promise, and decodes its JSON value into out unless out is nil. A
// thrown exception or a rejected promise is an error.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	params := map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}
	if err := p.Call(ctx, "Runtime.evaluate", params, p.session, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("javascript: %s %s", e.Text, e.Exception.Description)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// devtoolsLine is Chromium's stderr: it sends the DevTools URL on found
// once "DevTools listening on ws://…" is printed, and keeps what came
// before for error messages. It never fails, so Chromium never blocks on it.
type devtoolsLine struct {
	mu    sync.Mutex
	buf   []byte
	found chan string
	sent  bool
}

// Write scans for the DevTools line.
func (w *devtoolsLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent && len(w.buf) < 64<<10 {
		w.buf = append(w.buf, p...)
		_, rest, ok := bytes.Cut(w.buf, []byte("DevTools listening on "))
		if url, _, ok2 := bytes.Cut(rest, []byte("\n")); ok && ok2 {
			w.found <- string(bytes.TrimSpace(url))
			w.sent = true
		}
	}
	return len(p), nil
}

// text returns what Chromium printed before the DevTools line.
func (w *devtoolsLine) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
