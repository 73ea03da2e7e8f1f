package browsertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate/internal/browsertest"
	"github.com/wsgate/wsgate/wsgatetest"
)

// TestChatAcrossProcesses runs examples/chat as two processes on one
// Redis, built from source (the chat is a module of its own, which imports
// redisbroker: the core module runs it as a program), and opens each in a
// browser of its own, as two users. Alice, on process one, and Bob, on
// process two, log in through the page's form and join a room; a message
// Alice types reaches Bob's page. Then Bob logs out: the server closes his
// page's socket with 1008 "logged out" (the page does not close it
// itself), and his socket on the other process too; Alice's stays open.
func TestChatAcrossProcesses(t *testing.T) {
	browsertest.Chromium(t) // skip before building anything when there is none
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	redisURL := "REDIS_URL=redis://" + browsertest.StartRedis(t) + "/0"
	secret := strings.Repeat("browsertest-chat-secret-", 2)
	bin := browsertest.Build(t, "github.com/wsgate/wsgate/examples/chat")
	env := []string{"ADDR=127.0.0.1:0", "JWT_SECRET=" + secret, redisURL}
	one, two := browsertest.Start(t, bin, env...), browsertest.Start(t, bin, env...)

	// Two browsers: two cookie jars (cookies are not port-scoped, so one
	// browser would send one user's cookie to both processes).
	alice, bob := browsertest.Launch(ctx, t), browsertest.Launch(ctx, t)
	for _, u := range []struct {
		page *browsertest.Page
		url  string
		name string
	}{{alice, one.URL, "alice"}, {bob, two.URL, "bob"}} {
		if err := u.page.Navigate(ctx, u.url+"/"); err != nil {
			t.Fatal(err)
		}
		// Without a session the page's socket is refused (401): the login form shows.
		waitJS(ctx, t, u.page, `document.body.dataset.state === "login"`)
		evalJS(ctx, t, u.page, `$("name").value = %s; $("login").requestSubmit()`, u.name)
		waitJS(ctx, t, u.page, `document.body.dataset.state === "chat" && $("me").textContent === `+jsString(u.name))
		evalJS(ctx, t, u.page, `$("room").value = "lobby"; $("join").requestSubmit()`)
		waitJS(ctx, t, u.page, `$("current").textContent === "lobby"`)
	}

	evalJS(ctx, t, alice, `$("text").value = %s; $("say").requestSubmit()`, "hello <b>bob</b>")
	const line = `[lobby] alice: hello <b>bob</b>`
	hasLine := `[...document.querySelectorAll("#messages li.message")].some((li) => li.textContent === ` + jsString(line) + `)`
	waitJS(ctx, t, bob, hasLine)
	waitJS(ctx, t, alice, hasLine)
	// The text is text, never markup.
	waitJS(ctx, t, bob, `document.querySelectorAll("#messages b").length === 0`)

	// Bob also has a socket on process one (another device).
	token := wsgatetest.Signer{Key: []byte(secret), Issuer: "wsgate-chat", Audience: "wsgate-chat"}.Token(t, "bob", nil)
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	device, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(one.URL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {one.URL}, "Cookie": {"access_token=" + token}},
	})
	if err != nil {
		t.Fatalf("bob's other device: %v", err)
	}
	defer device.CloseNow()

	evalJS(ctx, t, bob, `$("logout").click()`)
	waitJS(ctx, t, bob, `document.body.dataset.closeCode === "1008" && document.body.dataset.closeReason === "logged out" && document.body.dataset.state === "login"`)
	var status string
	evalJSInto(ctx, t, bob, &status, `$("status").textContent`)
	if !strings.Contains(status, "logged out") {
		t.Errorf("Bob's page says %q after logging out", status)
	}
	_, _, err = device.Read(dctx)
	if ce, ok := errors.AsType[websocket.CloseError](err); !ok || ce.Code != 1008 || ce.Reason != "logged out" {
		t.Errorf("bob's socket on the other process: %v, want close 1008 \"logged out\"", err)
	}
	// Bob's cookie is gone: reloading shows the login form.
	if err := bob.Navigate(ctx, two.URL+"/"); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, bob, `document.body.dataset.state === "login"`)

	// Alice is still connected: her next message comes back to her.
	evalJS(ctx, t, alice, `$("text").value = "still here"; $("say").requestSubmit()`)
	waitJS(ctx, t, alice, `[...document.querySelectorAll("#messages li.message")].some((li) => li.textContent === "[lobby] alice: still here")`)
	waitJS(ctx, t, alice, `document.body.dataset.state === "chat" && document.body.dataset.closeCode === undefined`)

	for _, p := range []*browsertest.Process{one, two} {
		if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
			t.Errorf("chat at %s: %v, want exit 0", p.URL, err)
		}
	}
	// The gateway's shutdown reaches the page as 1001.
	waitJS(ctx, t, alice, `document.body.dataset.closeCode === "1001"`)
}

// evalJS runs the statements of script in page, its %s verbs replaced by
// args as JavaScript strings.
func evalJS(ctx context.Context, t *testing.T, page *browsertest.Page, script string, args ...string) {
	t.Helper()
	quoted := make([]any, len(args))
	for i, a := range args {
		quoted[i] = jsString(a)
	}
	if err := page.Eval(ctx, "(() => { const $ = (id) => document.getElementById(id); "+fmt.Sprintf(script, quoted...)+"; })()", nil); err != nil {
		t.Fatal(err)
	}
}

// evalJSInto evaluates the expression expr in page into out.
func evalJSInto(ctx context.Context, t *testing.T, page *browsertest.Page, out any, expr string) {
	t.Helper()
	if err := page.Eval(ctx, "(() => { const $ = (id) => document.getElementById(id); return ("+expr+"); })()", out); err != nil {
		t.Fatal(err)
	}
}

// waitJS waits (up to 30 s) until the JavaScript expression cond is true
// in page.
func waitJS(ctx context.Context, t *testing.T, page *browsertest.Page, cond string) {
	t.Helper()
	script := `new Promise((resolve, reject) => {
		const $ = (id) => document.getElementById(id);
		const deadline = Date.now() + 30000;
		const tick = () => {
			let ok = false;
			try { ok = (` + cond + `); } catch (e) {}
			if (ok) return resolve(true);
			if (Date.now() > deadline) return reject(new Error("timed out; status: " + $("status").textContent));
			setTimeout(tick, 25);
		};
		tick();
	})`
	if err := page.Eval(ctx, script, nil); err != nil {
		t.Fatalf("waiting for %s: %v", cond, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
