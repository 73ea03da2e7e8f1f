package socketio_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// wsClient is a raw Engine.IO WebSocket client, in memory.
type wsClient struct {
	t  testing.TB
	ws *websocket.Conn
}

func dialWS(t testing.TB, srv *wsgatetest.Server, query, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{"Origin": {testOrigin}, "Cookie": {wsgate.DefaultTokenCookie + "=" + token}}
	ws, _, err := websocket.Dial(ctx, "ws://wsgatetest.invalid/socket.io/?EIO=4&transport=websocket"+query,
		&websocket.DialOptions{HTTPClient: srv.HTTPClient(), HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) send(typ websocket.MessageType, m string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), typ, []byte(m)); err != nil {
		c.t.Fatalf("write %q: %v", m, err)
	}
}

// next reads until a message with prefix, answering pings.
func (c *wsClient) next(prefix string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, m, err := c.ws.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(string(m), prefix) {
			return string(m)
		}
		if string(m) == "2" {
			c.send(websocket.MessageText, "3")
		}
	}
}

// closed reads until the WebSocket closes and returns its close code.
func (c *wsClient) closed() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		if _, _, err := c.ws.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// TestWebSocketOnly: a direct WebSocket gets the open packet (no
// upgrades) first; a packet over ReadLimit closes with 1009 after $close
// and DISCONNECT; a binary frame that is no attachment closes with 1003.
func TestWebSocketOnly(t *testing.T) {
	t.Parallel()
	var d disconnects
	e := newEnv(t, wsgate.Options{ReadLimit: 100, OnDisconnect: d.record}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)

	c := dialWS(t, srv, "", e.token(t, "alice"))
	if open := c.next("0"); !strings.Contains(open, `"upgrades":[]`) || !strings.Contains(open, `"maxPayload":100`) {
		t.Fatalf("open packet %s", open)
	}
	c.send(websocket.MessageText, "40")
	c.next("40{")
	c.send(websocket.MessageText, `421["xyz","ws"]`)
	if got := c.next("43"); got != `431[{"received":"ws","sub":"alice"}]` {
		t.Fatalf("ack %s", got)
	}
	// A binary packet's attachment, as a binary frame, is discarded.
	c.send(websocket.MessageText, `451-2["xyz",{"_placeholder":true,"num":0}]`)
	c.send(websocket.MessageBinary, "\x01\x02")
	if got := c.next("432"); !strings.Contains(got, "binary attachments are not supported") {
		t.Fatalf("binary packet answered %s", got)
	}
	c.send(websocket.MessageText, `42["xyz","`+strings.Repeat("a", 200)+`"]`)
	if got := c.next(`42["$close"`); got != `42["$close",{"code":1009,"reason":"message too big"}]` {
		t.Fatalf("got %s", got)
	}
	if got := c.next("4"); got != "41" {
		t.Fatalf("got %s, want DISCONNECT", got)
	}
	if code := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %d", code)
	}
	if st := d.wait(t); st.Code != wsgate.StatusMessageTooBig {
		t.Fatalf("OnDisconnect %v", st)
	}

	b := dialWS(t, srv, "", e.token(t, "bob"))
	b.next("0")
	b.send(websocket.MessageText, "40")
	b.next("40{")
	b.send(websocket.MessageBinary, "\x01")
	if got := b.next(`42["$close"`); got != `42["$close",{"code":1003,"reason":"binary frames are not accepted"}]` {
		t.Fatalf("got %s", got)
	}
	if code := b.closed(); code != websocket.StatusUnsupportedData {
		t.Fatalf("closed with %d", code)
	}
}

// TestUpgradeMisuse: an upgrade needs a polling session of the same
// origin; a probe that is not "2probe" leaves the session on polling.
func TestUpgradeMisuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	p.connect()

	bad := dialWS(t, srv, "&sid="+p.sid, e.token(t, "alice"))
	bad.send(websocket.MessageText, "2nope")
	if code := bad.closed(); code == websocket.StatusNormalClosure {
		t.Fatalf("a bad probe was answered with a normal close")
	}
	// Still on polling.
	p.post(`421["xyz",1]`)
	if got, _ := p.expect("43"); got != `431[{"received":1,"sub":"alice"}]` {
		t.Fatalf("after a bad probe: %s", got)
	}
	// The real upgrade: the waiting poll gets a noop, writes move over.
	up := dialWS(t, srv, "&sid="+p.sid, e.token(t, "alice"))
	up.send(websocket.MessageText, "2probe")
	if got := up.next("3"); got != "3probe" {
		t.Fatalf("probe answered %s", got)
	}
	p.expect("6")
	up.send(websocket.MessageText, "5")
	if err := e.gw.ToSubject("alice").Emit("after", 1); err != nil {
		t.Fatal(err)
	}
	if got := up.next(`42["after"`); got != `42["after",1]` {
		t.Fatalf("after the upgrade: %s", got)
	}
	// Polling is over for this session, and a second upgrade is refused.
	if status, _ := p.request(http.MethodGet, p.url(), ""); status != http.StatusBadRequest {
		t.Fatalf("a poll after the upgrade answered %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws://wsgatetest.invalid/socket.io/?EIO=4&transport=websocket&sid="+p.sid,
		&websocket.DialOptions{HTTPClient: srv.HTTPClient(), HTTPHeader: http.Header{"Origin": {testOrigin}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a second upgrade: %v %v", err, resp)
	}
}

// TestRateLimit: the gateway's rate limit applies to socket.io events.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{EventsPerSecond: 0.001, EventBurst: 1}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	c := dialWS(t, srv, "", e.token(t, "alice"))
	c.next("0")
	c.send(websocket.MessageText, "40")
	c.next("40{")
	c.send(websocket.MessageText, `421["xyz",1]`)
	c.send(websocket.MessageText, `422["xyz",2]`)
	c.next("431")
	if got := c.next("432"); !strings.Contains(got, `"code":"RATE_LIMITED"`) {
		t.Fatalf("second event answered %s", got)
	}
}

// TestClientKeepalive: the real client answers the gateway's pings, on
// both transports, over many intervals. Were the pings not sent, the client
// would close after pingInterval + pingTimeout (2.1 s); were its pongs not
// read, the gateway would.
func TestClientKeepalive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{PingInterval: 100 * time.Millisecond, PongTimeout: 2 * time.Second}, socketio.Options{})
	srv := e.serve(t)
	n := startNode(t)
	n.connect("default", srv.URL, clientOpts(testOrigin, e.token(t, "alice"), nil))
	n.connect("polling", srv.URL, clientOpts(testOrigin, e.token(t, "bob"), map[string]any{"transports": []string{"polling"}}))
	n.next("default", "connect", nil)
	n.next("polling", "connect", nil)
	time.Sleep(5 * time.Second) // fifty intervals, over twice the timeout
	for i, name := range []string{"default", "polling"} {
		if n.has(name, "disconnect") {
			t.Fatalf("%s disconnected", name)
		}
		if r := n.ack(name, i, "xyz", i); r.Timeout {
			t.Fatalf("%s: no answer after fifty ping intervals", name)
		}
	}
}

// returns wraps the Server's handler and reports, for each WebSocket
// request (a direct open or an upgrade), when its handler has returned.
func returns(sio http.Handler) (http.Handler, <-chan struct{}) {
	returned := make(chan struct{}, 16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sio.ServeHTTP(w, r)
		if r.URL.Query().Get("transport") == "websocket" {
			returned <- struct{}{}
		}
	}), returned
}

func handlerReturned(t *testing.T, returned <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-returned:
	case <-time.After(wait):
		t.Fatalf("the handler of %s holds its goroutine for the connection's life", what)
	}
}

// TestWebSocketHandlerReturns: the handler of a WebSocket, opened directly
// or upgraded from polling, returns once the socket is accepted, before
// the client has even connected, and the connection goes on: CONNECT,
// events sent at once behind it (handled after it, in order), emits. A
// session whose handler has returned is still ended by Close.
func TestWebSocketHandlerReturns(t *testing.T) {
	t.Parallel()
	// A session that does not connect in time is closed, which would
	// return a handler that held on: not before the test has given up.
	e := newEnv(t, wsgate.Options{ConnectTimeout: 2 * wait}, socketio.Options{})
	h, returned := returns(e.sio)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", h)
	srv := wsgatetest.NewServer(t, mux)

	// Direct.
	c := dialWS(t, srv, "", e.token(t, "alice"))
	c.next("0")
	handlerReturned(t, returned, "a direct WebSocket")
	c.send(websocket.MessageText, "40")
	c.send(websocket.MessageText, `421["xyz","at once"]`)
	c.next("40{")
	if got := c.next("43"); got != `431[{"received":"at once","sub":"alice"}]` {
		t.Fatalf("an event sent right behind CONNECT answered %s", got)
	}

	// Upgraded from polling: the handler returns during the probe.
	p := handshake(t, srv, testOrigin, e.token(t, "bob"))
	p.connect()
	up := dialWS(t, srv, "&sid="+p.sid, e.token(t, "bob"))
	handlerReturned(t, returned, "an upgrade")
	up.send(websocket.MessageText, "2probe")
	if got := up.next("3"); got != "3probe" {
		t.Fatalf("probe answered %s", got)
	}
	p.expect("6")
	up.send(websocket.MessageText, "5")
	up.send(websocket.MessageText, `421["xyz","upgraded"]`)
	if got := up.next("43"); got != `431[{"received":"upgraded","sub":"bob"}]` {
		t.Fatalf("after the upgrade: %s", got)
	}
	if err := e.gw.ToSubject("bob").Emit("after", 1); err != nil {
		t.Fatal(err)
	}
	if got := up.next(`42["after"`); got != `42["after",1]` {
		t.Fatalf("emit after the upgrade: %s", got)
	}

	// A direct WebSocket that never connects is the Server's to end.
	idle := dialWS(t, srv, "", e.token(t, "carol"))
	idle.next("0")
	handlerReturned(t, returned, "a direct WebSocket")
	e.shutdown()
	idle.closed()
	up.closed()
	c.closed()
}
