package socketio_test

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// TestClientTransports: a default client (polling, then the upgrade) and a
// websocket-only client connect with the cookie, round-trip an event with
// emitWithAck and receive the handler's emit.
func TestClientTransports(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("default", srv.URL, clientOpts(testOrigin, e.token(t, "alice"), nil))
	n.connect("ws", srv.URL, clientOpts(testOrigin, e.token(t, "bob"), map[string]any{"transports": []string{"websocket"}}))

	// The default client opens over polling and upgrades (the upgrade may
	// come before or after its connect event).
	n.next("default", "connect", nil)
	if r := n.next("default", "upgrade", nil); r.Transport != "websocket" {
		t.Fatalf("default client upgraded to %q", r.Transport)
	}
	if r := n.next("ws", "connect", nil); r.Transport != "websocket" {
		t.Fatalf("websocket-only client connected over %q", r.Transport)
	}
	for i, who := range []struct{ name, sub string }{{"default", "alice"}, {"ws", "bob"}} {
		r := n.ack(who.name, i, "xyz", map[string]any{"hello": who.name})
		want := `{"received":{"hello":"` + who.name + `"},"sub":"` + who.sub + `"}`
		jsonEq(t, who.name+" ack", r.Result, want)
		ev := n.event(who.name, "xyz")
		if len(ev.Args) != 1 {
			t.Fatalf("%s: xyz event args %v, want one", who.name, ev.Args)
		}
		jsonEq(t, who.name+" event", ev.Args[0], want)
	}
}

// TestClientRefusals: every refusal is a connect_error. A refused origin
// is refused before any session exists (an HTTP 403 the client reports as
// a transport error); a missing or expired token and a token in the auth
// payload of a server that does not read it are CONNECT_ERROR packets with
// the gateway's message, status and code.
func TestClientRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	ws := map[string]any{"transports": []string{"websocket"}}
	n.connect("evil", srv.URL, clientOpts("https://evil.example", e.token(t, "alice"), nil))
	n.connect("evil-ws", srv.URL, clientOpts("https://evil.example", e.token(t, "alice"), ws))
	n.connect("missing", srv.URL, clientOpts(testOrigin, "", nil))
	n.connect("expired", srv.URL, clientOpts(testOrigin, e.tokens.Expired(t, "alice"), ws))
	n.connect("auth-off", srv.URL, clientOpts(testOrigin, "", map[string]any{"auth": map[string]string{"token": e.token(t, "alice")}}))

	for _, name := range []string{"evil", "evil-ws"} {
		if r := n.next(name, "connect_error", nil); n.has(name, "connect") || string(r.Data) != "null" {
			t.Errorf("%s: first report %v, want a connect_error without data (an HTTP refusal)", name, r)
		}
	}
	for _, tc := range []struct{ name, message string }{
		{"missing", "missing token"},
		{"expired", "token expired"},
		{"auth-off", "missing token"},
	} {
		r := n.next(tc.name, "connect_error", nil)
		if n.has(tc.name, "connect") || r.Message != tc.message {
			t.Errorf("%s: first report %v, want connect_error %q", tc.name, r, tc.message)
			continue
		}
		jsonEq(t, tc.name+" data", r.Data, `{"status":401,"code":"UNAUTHORIZED"}`)
	}
	if got := e.gw.Len(); got != 0 {
		t.Fatalf("%d connections served, want none", got)
	}
}

// TestClientAuthToken: with Options.AuthToken, the auth payload's token
// authenticates a client that has no cookie, and a bad one is refused.
func TestClientAuthToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{AuthToken: true})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("good", srv.URL, clientOpts(testOrigin, "", map[string]any{"auth": map[string]string{"token": e.token(t, "carol")}}))
	n.connect("bad", srv.URL, clientOpts(testOrigin, "", map[string]any{"auth": map[string]string{"token": "x.y.z"}}))
	n.next("good", "connect", nil)
	jsonEq(t, "ack", n.ack("good", 1, "xyz", 7).Result, `{"received":7,"sub":"carol"}`)
	r := n.next("bad", "connect_error", nil)
	jsonEq(t, "bad token data", r.Data, `{"status":401,"code":"UNAUTHORIZED"}`)
}

// TestClientFailures: a guard's denial and a handler's error reach
// emitWithAck as the error object (no timeout), and the exception event
// carries the same.
func TestClientFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("a", srv.URL, clientOpts(testOrigin, e.token(t, "alice"), nil))
	n.next("a", "connect", nil)
	for i, tc := range []struct{ event, message, code string }{
		{"admin", "Forbidden resource", "FORBIDDEN"},
		{"fail", "xyz failed", "XYZ_FAILED"},
		{"nope", "", "UNKNOWN_EVENT"},
	} {
		r := n.ack("a", i, tc.event)
		if r.Timeout {
			t.Fatalf("%s: emitWithAck timed out: %s", tc.event, r.Message)
		}
		var body struct{ Status, Message, Code string }
		if err := json.Unmarshal(r.Result, &body); err != nil || body.Status != "error" || body.Code != tc.code ||
			tc.message != "" && body.Message != tc.message {
			t.Fatalf("%s: ack %s, want the error object %s %q", tc.event, r.Result, tc.code, tc.message)
		}
		ex := n.event("a", "exception")
		if len(ex.Args) != 1 || string(ex.Args[0]) != string(r.Result) {
			t.Fatalf("%s: exception event %v, want the ack's error object %s", tc.event, ex.Args, r.Result)
		}
	}
	// Without an ack, the failure is the exception event alone.
	n.send(map[string]any{"op": "emit", "name": "a", "event": "fail", "args": []any{}})
	ex := n.event("a", "exception")
	jsonEq(t, "exception", ex.Args[0], `{"status":"error","message":"xyz failed","code":"XYZ_FAILED"}`)
}

// TestClientRoomBroadcast: a room holds two socket.io clients and a native
// one; one emit reaches all three.
func TestClientRoomBroadcast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("a", srv.URL, clientOpts(testOrigin, e.token(t, "alice"), nil))
	n.connect("b", srv.URL, clientOpts(testOrigin, e.token(t, "bob"), map[string]any{"transports": []string{"websocket"}}))
	for i, name := range []string{"a", "b"} {
		n.next(name, "connect", nil)
		if r := n.ack(name, i, "join", "lobby"); string(r.Result) != "true" {
			t.Fatalf("%s: join acked %s", name, r.Result)
		}
	}
	native := wsgatetest.NewServer(t, e.mux).Dial(wsgatetest.DialOptions{
		Path: "/ws", Origin: testOrigin,
		Cookies: []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: e.token(t, "carol")}},
	})
	if ack := native.Request("join", "lobby"); !ack.OK() {
		t.Fatalf("native join: %+v", ack.Error)
	}
	if err := e.gw.To("lobby").Emit("news", map[string]string{"s": "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		jsonEq(t, name+" news", n.event(name, "news").Args[0], `{"s":"hi"}`)
	}
	if ev := native.WaitEvent("news"); string(ev.Data) != `{"s":"hi"}` {
		t.Fatalf("native news = %s", ev.Data)
	}
}

// TestClientServerDisconnect: a connection the gateway closes (here its
// own handler) gets $close with the code and reason, then socket.io's
// server disconnect; so does one whose token expires, on WebSocket and on
// polling (whose requests then carry the expired cookie).
func TestClientServerDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("kicked", srv.URL, clientOpts(testOrigin, e.token(t, "alice"), nil))
	n.connect("expiring", srv.URL, clientOpts(testOrigin, e.tokens.ExpiringIn(t, "bob", 2*time.Second), map[string]any{"transports": []string{"websocket"}}))
	n.connect("expiring-polling", srv.URL, clientOpts(testOrigin, e.tokens.ExpiringIn(t, "carol", 2*time.Second), map[string]any{"transports": []string{"polling"}}))
	n.next("kicked", "connect", nil)
	n.next("expiring", "connect", nil)
	n.next("expiring-polling", "connect", nil)
	n.send(map[string]any{"op": "emit", "name": "kicked", "event": "kick", "args": []any{}})
	for _, tc := range []struct{ name, close string }{
		{"kicked", `{"code":4000,"reason":"kicked"}`},
		{"expiring", `{"code":4001,"reason":"token expired"}`},
		{"expiring-polling", `{"code":4001,"reason":"token expired"}`},
	} {
		jsonEq(t, tc.name+" $close", n.event(tc.name, "$close").Args[0], tc.close)
		if r := n.next(tc.name, "disconnect", nil); r.Reason != "io server disconnect" {
			t.Fatalf("%s: disconnect reason %q", tc.name, r.Reason)
		}
	}
	eventually(t, "every connection to end", func() bool { return e.gw.Len() == 0 })
}

// TestClientReconnectsAfterRestart: Shutdown ends the connection without
// a socket.io disconnect, so the client reconnects by itself, here to a
// new gateway on the same address.
func TestClientReconnectsAfterRestart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	e1 := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv1 := &http.Server{Handler: e1.mux, ReadHeaderTimeout: wait}
	go srv1.Serve(ln)
	t.Cleanup(func() { srv1.Close() })

	n := startNode(t)
	reconnect := map[string]any{"reconnection": true, "reconnectionDelay": 100, "reconnectionDelayMax": 500}
	n.connect("a", "http://"+addr, clientOpts(testOrigin, e1.token(t, "alice"), reconnect))
	reconnect["transports"] = []string{"polling"}
	n.connect("p", "http://"+addr, clientOpts(testOrigin, e1.token(t, "bob"), reconnect))
	n.next("a", "connect", nil)
	n.next("p", "connect", nil)
	jsonEq(t, "first ack", n.ack("a", 1, "xyz", 1).Result, `{"received":1,"sub":"alice"}`)
	e1.served(t, 2)

	e1.shutdown()
	if err := srv1.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "p"} {
		jsonEq(t, name+" $close", n.event(name, "$close").Args[0], `{"code":1001,"reason":"server shutting down"}`)
		if r := n.next(name, "disconnect", nil); r.Reason != "transport close" {
			t.Fatalf("%s: disconnect reason %q, want transport close (a reason socket.io-client reconnects after)", name, r.Reason)
		}
	}

	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv2 := &http.Server{Handler: e2.mux, ReadHeaderTimeout: wait}
	go srv2.Serve(ln2)
	t.Cleanup(func() { srv2.Close() })

	n.next("a", "reconnect", nil)
	n.next("p", "reconnect", nil)
	jsonEq(t, "ack after the restart", n.ack("a", 2, "xyz", 2).Result, `{"received":2,"sub":"alice"}`)
	jsonEq(t, "ack after the restart, polling", n.ack("p", 3, "xyz", 3).Result, `{"received":3,"sub":"bob"}`)
	if e2.gw.Len() != 2 {
		t.Fatalf("the new gateway serves %d connections, want 2", e2.gw.Len())
	}
}
