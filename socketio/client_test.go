package socketio_test

import (
	"testing"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
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
