package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// These tests run the chat's real handler (page, /login, /logout and the
// gateway) in memory with wsgatetest: no port is opened. Two gateways
// joined by an in-memory Broker stand for two processes; process_test.go
// runs the program itself, as several processes on a real Redis.

const testOrigin = "http://chat.example.test"

var testSecret = []byte("chat-test-hs256-key-of-at-least-32-bytes")

// testChat is one chat process served in memory.
type testChat struct {
	app *chat
	srv *wsgatetest.Server
	log *syncBuffer
}

// newTestChat serves a chat in memory; broker is nil for a single process.
func newTestChat(t *testing.T, broker wsgate.Broker) *testChat {
	t.Helper()
	cfg := config{addr: "127.0.0.1:8090", frontendHost: testOrigin, secret: testSecret, shutdownTimeout: 10 * time.Second}
	return serveTestChat(t, cfg, broker)
}

// serveTestChat serves in memory the chat of cfg, logging to a buffer, and
// shuts its gateway down when the test ends.
func serveTestChat(t *testing.T, cfg config, broker wsgate.Broker) *testChat {
	t.Helper()
	log := &syncBuffer{}
	app, err := newChat(cfg, slog.New(slog.NewTextHandler(log, nil)), broker)
	if err != nil {
		t.Fatal(err)
	}
	srv := wsgatetest.NewServer(t, app.handler())
	srv.Path = "/ws"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testChat{app: app, srv: srv, log: log}
}

// post sends a POST to path with the given Origin (none when empty), form
// body and cookies, and returns the answer with its body read.
func (c *testChat) post(t *testing.T, path, origin, body string, cookies ...*http.Cookie) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://chat.example.test"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	return c.do(t, req)
}

func (c *testChat) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// login logs name in through POST /login and returns the session cookie.
func (c *testChat) login(t *testing.T, name string) *http.Cookie {
	t.Helper()
	resp, body := c.post(t, "/login", testOrigin, url.Values{"name": {name}}.Encode())
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login %q: %d %s", name, resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "access_token" {
			return ck
		}
	}
	t.Fatalf("login %q: no access_token cookie in %q", name, resp.Header.Values("Set-Cookie"))
	return nil
}

// dial opens a WebSocket with the session cookie, from the allowed origin.
func (c *testChat) dial(t *testing.T, session *http.Cookie) *wsgatetest.Client {
	t.Helper()
	return c.srv.Dial(wsgatetest.DialOptions{Origin: testOrigin, Cookies: []*http.Cookie{{Name: session.Name, Value: session.Value}}})
}

// user logs name in and opens a socket.
func (c *testChat) user(t *testing.T, name string) *wsgatetest.Client {
	t.Helper()
	return c.dial(t, c.login(t, name))
}

// wantAck checks that ack succeeded with data equal (as JSON) to want.
func wantAck(t *testing.T, what string, ack *wsgatetest.Ack, want string) {
	t.Helper()
	if !ack.OK() {
		t.Fatalf("%s: error %+v, want %s", what, *ack.Error, want)
	}
	if !jsonEqual(ack.Data, want) {
		t.Fatalf("%s: ack %s, want %s", what, ack.Data, want)
	}
}

// wantRefused checks that ack failed with code.
func wantRefused(t *testing.T, what string, ack *wsgatetest.Ack, code string) *wsgatetest.ErrorBody {
	t.Helper()
	if ack.OK() {
		t.Fatalf("%s: ack %s, want error %s", what, ack.Data, code)
	}
	if ack.Error.Code != code || ack.Error.Status != "error" {
		t.Fatalf("%s: error %+v, want code %s", what, *ack.Error, code)
	}
	return ack.Error
}

// wantEvent waits for event name and checks its data.
func wantEvent(t *testing.T, c *wsgatetest.Client, name, want string) {
	t.Helper()
	ev := c.WaitEvent(name)
	if !jsonEqual(ev.Data, want) {
		t.Fatalf("%s: %s, want %s", name, ev.Data, want)
	}
}

// wantNoEvent makes a round trip on c (join, then leave, a room of its
// own), so that whatever was queued for it before has arrived, and checks
// that no event is waiting.
func wantNoEvent(t *testing.T, c *wsgatetest.Client) {
	t.Helper()
	wantAck(t, "fence join", c.Request("join", map[string]string{"room": "fence"}), `{"room":"fence"}`)
	wantAck(t, "fence leave", c.Request("leave", map[string]string{"room": "fence"}), `{"room":"fence"}`)
	if ev := c.Pending(); len(ev) > 0 {
		t.Fatalf("unexpected events: %+v", ev)
	}
}

func jsonEqual(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	before := time.Now()
	ck := c.login(t, "Alice_01-x")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.MaxAge != 3600 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age=3600, not Secure over plain HTTP", ck)
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(ck.Value, &claims, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("the cookie's token: %v", err)
	}
	if claims.Subject != "Alice_01-x" {
		t.Errorf("sub = %q, want Alice_01-x", claims.Subject)
	}
	if life := claims.ExpiresAt.Sub(before); life < 59*time.Minute || life > 61*time.Minute {
		t.Errorf("the token is valid for %v, want one hour", life)
	}
	// The cookie opens a socket whose principal is the name.
	ws := c.dial(t, ck)
	wantAck(t, "join", ws.Request("join", map[string]string{"room": "r"}), `{"room":"r"}`)
	wantAck(t, "say", ws.Request("say", map[string]string{"room": "r", "text": "hi"}), `{"ok":true}`)
	wantEvent(t, ws, "message", `{"room":"r","from":"Alice_01-x","text":"hi"}`)
	if n := c.app.gw.RoomSize("r"); n != 1 {
		t.Errorf("RoomSize = %d, want 1", n)
	}
}

// TestLoginSecureCookie: behind a proxy that ends TLS the front end is
// https, and the cookie is Secure.
func TestLoginSecureCookie(t *testing.T) {
	t.Parallel()
	cfg := config{frontendHost: "https://chat.example.test", secret: testSecret}
	app, err := newChat(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer app.gw.Shutdown(context.Background())
	srv := wsgatetest.NewServer(t, app.handler())
	req, _ := http.NewRequest(http.MethodPost, "http://chat.example.test/login", strings.NewReader("name=bob"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://chat.example.test")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cks := resp.Cookies(); resp.StatusCode != http.StatusNoContent || len(cks) != 1 || !cks[0].Secure {
		t.Fatalf("login behind https: %d %q, want 204 and a Secure cookie", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	for _, tt := range []struct {
		name, origin, body string
		status             int
		code, message      string
	}{
		{"no name", testOrigin, "", 400, "VALIDATION_FAILED", "name must be 1 to 32 of A-Z a-z 0-9 _ -"},
		{"empty name", testOrigin, "name=", 400, "VALIDATION_FAILED", ""},
		{"33 bytes", testOrigin, "name=" + strings.Repeat("a", 33), 400, "VALIDATION_FAILED", ""},
		{"dot", testOrigin, "name=al.ice", 400, "VALIDATION_FAILED", ""},
		{"space", testOrigin, "name=al+ice", 400, "VALIDATION_FAILED", ""},
		{"non-ASCII", testOrigin, "name=%C3%A9", 400, "VALIDATION_FAILED", ""},
		{"two names", testOrigin, "name=alice&name=bob", 400, "VALIDATION_FAILED", ""},
		{"bad form", testOrigin, "name=%zz", 400, "BAD_REQUEST", "malformed form"},
		{"too large", testOrigin, "name=a&pad=" + strings.Repeat("x", 5000), 413, "BAD_REQUEST", "form too large"},
		{"no origin", "", "name=alice", 403, "ORIGIN_NOT_ALLOWED", "origin required"},
		{"other origin", "http://evil.example.test", "name=alice", 403, "ORIGIN_NOT_ALLOWED", "origin not allowed"},
		{"other port", "http://chat.example.test:8080", "name=alice", 403, "ORIGIN_NOT_ALLOWED", ""},
		{"https", "https://chat.example.test", "name=alice", 403, "ORIGIN_NOT_ALLOWED", ""},
		{"null origin", "null", "name=alice", 403, "ORIGIN_NOT_ALLOWED", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.post(t, "/login", tt.origin, tt.body)
			wantJSONError(t, resp, body, tt.status, tt.code, tt.message)
			if len(resp.Cookies()) != 0 {
				t.Errorf("refused login set %q", resp.Header.Values("Set-Cookie"))
			}
		})
	}
	// A name in the query string is not the form's.
	resp, body := c.post(t, "/login?name=alice", testOrigin, "")
	wantJSONError(t, resp, body, 400, "VALIDATION_FAILED", "")
	// Two Origin lines.
	req, _ := http.NewRequest(http.MethodPost, "http://chat.example.test/login", strings.NewReader("name=alice"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header["Origin"] = []string{testOrigin, testOrigin}
	resp, body = c.do(t, req)
	wantJSONError(t, resp, body, 403, "ORIGIN_NOT_ALLOWED", "origin not allowed")
	// Another method.
	req, _ = http.NewRequest(http.MethodGet, "http://chat.example.test/login", nil)
	resp, body = c.do(t, req)
	wantJSONError(t, resp, body, 405, "BAD_REQUEST", "")
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
	}
	// A multipart form is a form too.
	var mp bytes.Buffer
	mp.WriteString("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ncarol\r\n--b--\r\n")
	req, _ = http.NewRequest(http.MethodPost, "http://chat.example.test/login", &mp)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.Header.Set("Origin", testOrigin)
	if resp, body = c.do(t, req); resp.StatusCode != http.StatusNoContent {
		t.Errorf("multipart login: %d %s, want 204", resp.StatusCode, body)
	}
}

func wantJSONError(t *testing.T, resp *http.Response, body []byte, status int, code, message string) {
	t.Helper()
	var e struct{ Status, Message, Code string }
	if err := json.Unmarshal(body, &e); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s: want a JSON error body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.StatusCode != status || e.Status != "error" || e.Code != code || e.Message == "" || message != "" && e.Message != message {
		t.Fatalf("%d %s, want %d with code %s and message %q", resp.StatusCode, body, status, code, message)
	}
}

// TestHandshakeWithoutSession: the chat has no anonymous visitors.
func TestHandshakeWithoutSession(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	other := wsgatetest.Signer{Key: []byte("another-key-that-is-at-least-32-bytes"), Issuer: tokenIssuer, Audience: tokenAudience}
	ours := wsgatetest.Signer{Key: testSecret, Issuer: tokenIssuer, Audience: tokenAudience}
	for _, tt := range []struct {
		name    string
		cookies []*http.Cookie
		message string
	}{
		{"no cookie", nil, "missing token"},
		{"another cookie", []*http.Cookie{{Name: "session", Value: ours.Token(t, "alice", nil)}}, "missing token"},
		{"garbage", []*http.Cookie{{Name: "access_token", Value: "not-a-jwt"}}, "invalid token"},
		{"another key", []*http.Cookie{{Name: "access_token", Value: other.Token(t, "alice", nil)}}, "invalid token"},
		{"expired", []*http.Cookie{{Name: "access_token", Value: ours.Expired(t, "alice")}}, ""},
		{"another audience", []*http.Cookie{{Name: "access_token", Value: wsgatetest.Signer{Key: testSecret, Issuer: tokenIssuer, Audience: "app"}.Token(t, "alice", nil)}}, "invalid token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.srv.Refused(wsgatetest.DialOptions{Origin: testOrigin, Cookies: tt.cookies})
			if r.Status != http.StatusUnauthorized || r.Body.Code != "UNAUTHORIZED" || tt.message != "" && r.Body.Message != tt.message {
				t.Fatalf("handshake: %d %s, want 401 %q", r.Status, r.RawBody, tt.message)
			}
		})
	}
	// A good session from another origin is refused before it is read.
	ck := c.login(t, "alice")
	r := c.srv.Refused(wsgatetest.DialOptions{Origin: "http://evil.example.test", Cookies: []*http.Cookie{ck}})
	if r.Status != http.StatusForbidden {
		t.Fatalf("handshake from another origin: %d %s, want 403", r.Status, r.RawBody)
	}
}

func TestJoinSayLeave(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	alice, bob, carol := c.user(t, "alice"), c.user(t, "bob"), c.user(t, "carol")
	wantAck(t, "alice join", alice.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "bob join", bob.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "join again", bob.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "carol join", carol.Request("join", map[string]string{"room": "other"}), `{"room":"other"}`)

	wantAck(t, "say", alice.Request("say", map[string]string{"room": "lobby", "text": "hello <b>all</b>"}), `{"ok":true}`)
	want := `{"room":"lobby","from":"alice","text":"hello <b>all</b>"}`
	wantEvent(t, alice, "message", want) // the sender's own connection too
	wantEvent(t, bob, "message", want)
	wantNoEvent(t, carol)

	wantAck(t, "bob leave", bob.Request("leave", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "leave again", bob.Request("leave", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "say", alice.Request("say", map[string]string{"room": "lobby", "text": "anyone?"}), `{"ok":true}`)
	wantEvent(t, alice, "message", `{"room":"lobby","from":"alice","text":"anyone?"}`)
	wantNoEvent(t, bob)
	wantRefused(t, "bob says after leaving", bob.Request("say", map[string]string{"room": "lobby", "text": "x"}), "FORBIDDEN")
}

func TestSayRefusals(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	alice, bob := c.user(t, "alice"), c.user(t, "bob")
	wantAck(t, "bob join", bob.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)

	e := wantRefused(t, "say without joining", alice.Request("say", map[string]string{"room": "lobby", "text": "hi"}), "FORBIDDEN")
	if e.Message != "join the room first" {
		t.Errorf("FORBIDDEN message %q", e.Message)
	}
	// Without an id the refusal is an exception event.
	alice.Emit("say", map[string]string{"room": "lobby", "text": "hi"})
	if ex := alice.WaitException(); ex.Code != "FORBIDDEN" {
		t.Errorf("exception %+v, want FORBIDDEN", ex)
	}
	wantNoEvent(t, bob) // nothing reached the room

	wantAck(t, "alice join", alice.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	long := strings.Repeat("é", 1000) // 1000 characters, 2000 bytes
	wantAck(t, "1000 characters", alice.Request("say", map[string]string{"room": "lobby", "text": long}), `{"ok":true}`)
	wantEvent(t, bob, "message", `{"room":"lobby","from":"alice","text":"`+long+`"}`)
	for _, tt := range []struct {
		name  string
		data  any
		field string
	}{
		{"empty text", map[string]string{"room": "lobby", "text": ""}, "text"},
		{"no text", map[string]string{"room": "lobby"}, "text"},
		{"1001 characters", map[string]string{"room": "lobby", "text": strings.Repeat("a", 1001)}, "text"},
		{"empty room", map[string]string{"room": "", "text": "x"}, "room"},
		{"room with a space", map[string]string{"room": "a b", "text": "x"}, "room"},
		{"room of 65", map[string]string{"room": strings.Repeat("r", 65), "text": "x"}, "room"},
		{"room with a slash", map[string]string{"room": "a/b", "text": "x"}, "room"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := wantRefused(t, "say", alice.Request("say", tt.data), "VALIDATION_FAILED")
			if !bytes.Contains(e.Data, []byte(`"field":"`+tt.field+`"`)) {
				t.Errorf("VALIDATION_FAILED data %s, want field %q", e.Data, tt.field)
			}
		})
	}
	// Data of the wrong type.
	wantRefused(t, "say a string", alice.Request("say", "hello"), "INVALID_DATA")
	wantNoEvent(t, bob)
}

func TestJoinLeaveRefusals(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	alice := c.user(t, "alice")
	for _, room := range []string{"", strings.Repeat("r", 65), "a.b", "ü", "a\x00"} {
		wantRefused(t, "join "+room, alice.Request("join", map[string]string{"room": room}), "VALIDATION_FAILED")
		wantRefused(t, "leave "+room, alice.Request("leave", map[string]string{"room": room}), "VALIDATION_FAILED")
	}
	wantAck(t, "64 bytes", alice.Request("join", map[string]string{"room": strings.Repeat("r", 64)}), `{"room":"`+strings.Repeat("r", 64)+`"}`)
	wantRefused(t, "join without data", alice.Request("join", nil), "VALIDATION_FAILED")
}

func TestTooManyRooms(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	alice := c.user(t, "alice")
	for i := range maxRoomsPer {
		room := "r" + strconv.Itoa(i)
		wantAck(t, "join "+room, alice.Request("join", map[string]string{"room": room}), `{"room":"`+room+`"}`)
	}
	// 100 requests are the rate limit's burst (50 a second, burst 100):
	// wait for a few more tokens.
	time.Sleep(200 * time.Millisecond)
	wantRefused(t, "join 101st", alice.Request("join", map[string]string{"room": "one-more"}), codeTooManyRooms)
	wantAck(t, "join one it is in", alice.Request("join", map[string]string{"room": "r0"}), `{"room":"r0"}`)
	wantAck(t, "leave one", alice.Request("leave", map[string]string{"room": "r0"}), `{"room":"r0"}`)
	wantAck(t, "then join", alice.Request("join", map[string]string{"room": "one-more"}), `{"room":"one-more"}`)
}

func TestDirectMessage(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	aliceSession := c.login(t, "alice")
	phone, laptop := c.dial(t, aliceSession), c.dial(t, aliceSession)
	bob, carol := c.user(t, "bob"), c.user(t, "carol")

	wantAck(t, "dm", bob.Request("dm", map[string]string{"to": "alice", "text": "psst"}), `{"ok":true}`)
	wantEvent(t, phone, "direct", `{"from":"bob","text":"psst"}`)
	wantEvent(t, laptop, "direct", `{"from":"bob","text":"psst"}`)
	wantNoEvent(t, bob)
	wantNoEvent(t, carol)

	// Nobody of that name is connected: sent, read by nobody.
	wantAck(t, "dm to nobody", bob.Request("dm", map[string]string{"to": "nobody", "text": "hello?"}), `{"ok":true}`)
	for _, tt := range []struct {
		name  string
		data  map[string]string
		field string
	}{
		{"no recipient", map[string]string{"text": "x"}, "to"},
		{"bad recipient", map[string]string{"to": "al ice", "text": "x"}, "to"},
		{"recipient of 33", map[string]string{"to": strings.Repeat("a", 33), "text": "x"}, "to"},
		{"empty text", map[string]string{"to": "alice", "text": ""}, "text"},
		{"1001 characters", map[string]string{"to": "alice", "text": strings.Repeat("a", 1001)}, "text"},
	} {
		e := wantRefused(t, tt.name, bob.Request("dm", tt.data), "VALIDATION_FAILED")
		if !bytes.Contains(e.Data, []byte(`"field":"`+tt.field+`"`)) {
			t.Errorf("%s: data %s, want field %q", tt.name, e.Data, tt.field)
		}
	}
	wantNoEvent(t, phone)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	aliceSession := c.login(t, "alice")
	phone, laptop := c.dial(t, aliceSession), c.dial(t, aliceSession)
	bob := c.user(t, "bob")

	// Refused without the right origin: nothing is closed.
	resp, body := c.post(t, "/logout", "http://evil.example.test", "", aliceSession)
	wantJSONError(t, resp, body, 403, "ORIGIN_NOT_ALLOWED", "origin not allowed")
	resp, body = c.post(t, "/logout", "", "", aliceSession)
	wantJSONError(t, resp, body, 403, "ORIGIN_NOT_ALLOWED", "origin required")
	wantNoEvent(t, phone)

	resp, body = c.post(t, "/logout", testOrigin, "", aliceSession)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s, want 204", resp.StatusCode, body)
	}
	wantCleared(t, resp)
	for _, ws := range []*wsgatetest.Client{phone, laptop} {
		if st := ws.WaitClosed(); st.Code != 1008 || st.Reason != "logged out" {
			t.Errorf("alice's socket closed with %d %q, want 1008 \"logged out\"", st.Code, st.Reason)
		}
	}
	wantNoEvent(t, bob) // bob is still connected

	// Without a session, or with a bad one: 401, and the cookie is cleared.
	for _, cookies := range [][]*http.Cookie{
		nil,
		{{Name: "access_token", Value: "garbage"}},
		{{Name: "access_token", Value: wsgatetest.Signer{Key: testSecret, Issuer: tokenIssuer, Audience: tokenAudience}.Expired(t, "bob")}},
	} {
		resp, body := c.post(t, "/logout", testOrigin, "", cookies...)
		wantJSONError(t, resp, body, 401, "UNAUTHORIZED", "")
		wantCleared(t, resp)
	}
	resp, body = c.post(t, "/logout", testOrigin, "", &http.Cookie{Name: "access_token", Value: "a"}, &http.Cookie{Name: "access_token", Value: "b"})
	wantJSONError(t, resp, body, 401, "UNAUTHORIZED", "ambiguous token")
	wantNoEvent(t, bob)
	req, _ := http.NewRequest(http.MethodGet, "http://chat.example.test/logout", nil)
	resp, body = c.do(t, req)
	wantJSONError(t, resp, body, 405, "BAD_REQUEST", "")

	// The session may log in again.
	again := c.user(t, "alice")
	wantAck(t, "join after logging in again", again.Request("join", map[string]string{"room": "r"}), `{"room":"r"}`)
}

func wantCleared(t *testing.T, resp *http.Response) {
	t.Helper()
	cks := resp.Cookies()
	if len(cks) != 1 || cks[0].Name != "access_token" || cks[0].Value != "" || cks[0].MaxAge >= 0 || cks[0].Path != "/" || !cks[0].HttpOnly {
		t.Errorf("Set-Cookie %q, want access_token cleared (Max-Age=0, Path=/, HttpOnly)", resp.Header.Values("Set-Cookie"))
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	c := newTestChat(t, nil)
	for _, tt := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<form id="login"`},
		{"/app.js", "text/javascript; charset=utf-8", "new WebSocket(url)"},
		{"/app.css", "text/css; charset=utf-8", "#messages"},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://chat.example.test"+tt.path, nil)
		resp, body := c.do(t, req)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.ctype || !bytes.Contains(body, []byte(tt.contains)) {
			t.Errorf("GET %s: %d %q, want 200 %s holding %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype, tt.contains)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self' ws://chat.example.test") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
	}
	// Nothing from another site, nothing inline.
	req, _ := http.NewRequest(http.MethodGet, "http://chat.example.test/", nil)
	_, body := c.do(t, req)
	for _, bad := range []string{"http://", "https://", "<script>", "onclick=", "style="} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("the page holds %q", bad)
		}
	}
	for _, path := range []string{"/index.html", "/static/app.js", "/nope"} {
		req, _ := http.NewRequest(http.MethodGet, "http://chat.example.test"+path, nil)
		if resp, _ := c.do(t, req); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// bus is an in-memory Broker network: each member stands for a gateway
// process; what one publishes reaches every other, in order.
type bus struct {
	mu      sync.Mutex
	members []*busMember
}

type busMember struct {
	bus     *bus
	mu      sync.Mutex // serialises deliveries, as a Broker's one reader does
	deliver func(*wsgate.BrokerMessage)
}

func (b *bus) member() *busMember {
	m := &busMember{bus: b}
	b.mu.Lock()
	b.members = append(b.members, m)
	b.mu.Unlock()
	return m
}

// Publish delivers a copy of msg to every other member, synchronously.
func (m *busMember) Publish(_ context.Context, msg *wsgate.BrokerMessage) error {
	c := *msg
	c.Rooms, c.Subjects, c.Except = slices.Clone(msg.Rooms), slices.Clone(msg.Subjects), slices.Clone(msg.Except)
	c.Data = bytes.Clone(msg.Data)
	m.bus.mu.Lock()
	others := slices.Clone(m.bus.members)
	m.bus.mu.Unlock()
	for _, o := range others {
		if o == m {
			continue
		}
		o.mu.Lock()
		if o.deliver != nil {
			o.deliver(&c)
		}
		o.mu.Unlock()
	}
	return nil
}

func (m *busMember) Subscribe(deliver func(*wsgate.BrokerMessage)) (func(), error) {
	m.mu.Lock()
	m.deliver = deliver
	m.mu.Unlock()
	return func() { m.mu.Lock(); m.deliver = nil; m.mu.Unlock() }, nil
}

// TestTwoProcessesInMemory: two chat gateways joined by a Broker share
// rooms, users and logouts.
func TestTwoProcessesInMemory(t *testing.T) {
	t.Parallel()
	var b bus
	one, two := newTestChat(t, b.member()), newTestChat(t, b.member())
	aliceSession := one.login(t, "alice")
	alice1, alice2 := one.dial(t, aliceSession), two.dial(t, aliceSession) // a session is good on every process
	bob := two.user(t, "bob")
	wantAck(t, "alice join", alice1.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "bob join", bob.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)

	wantAck(t, "say", alice1.Request("say", map[string]string{"room": "lobby", "text": "hi bob"}), `{"ok":true}`)
	wantEvent(t, bob, "message", `{"room":"lobby","from":"alice","text":"hi bob"}`)
	wantEvent(t, alice1, "message", `{"room":"lobby","from":"alice","text":"hi bob"}`)
	wantNoEvent(t, alice2) // not in the room

	wantAck(t, "dm", bob.Request("dm", map[string]string{"to": "alice", "text": "psst"}), `{"ok":true}`)
	wantEvent(t, alice1, "direct", `{"from":"bob","text":"psst"}`)
	wantEvent(t, alice2, "direct", `{"from":"bob","text":"psst"}`)

	resp, body := two.post(t, "/logout", testOrigin, "", aliceSession)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	for _, ws := range []*wsgatetest.Client{alice1, alice2} {
		if st := ws.WaitClosed(); st.Code != 1008 || st.Reason != "logged out" {
			t.Errorf("alice closed with %d %q, want 1008 \"logged out\"", st.Code, st.Reason)
		}
	}
	wantNoEvent(t, bob)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
