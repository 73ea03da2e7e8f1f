package socketio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// TestOpenPacket: the open packet carries the gateway's keepalive and
// ReadLimit, an unguessable sid, and the upgrade to websocket.
func TestOpenPacket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{PingInterval: 7 * time.Second, PongTimeout: 3 * time.Second, ReadLimit: 4096}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	q := handshake(t, srv, testOrigin, e.token(t, "alice"))
	want := map[string]any{"pingInterval": 7000.0, "pingTimeout": 3000.0, "maxPayload": 4096.0}
	for k, v := range want {
		if p.open[k] != v {
			t.Errorf("open packet %s = %v, want %v", k, p.open[k], v)
		}
	}
	if ups, _ := p.open["upgrades"].([]any); len(ups) != 1 || ups[0] != "websocket" {
		t.Errorf("upgrades = %v", p.open["upgrades"])
	}
	if len(p.sid) < 22 || p.sid == q.sid {
		t.Errorf("sids %q and %q: want two different ids of 128 bits", p.sid, q.sid)
	}
}

// TestEngineErrors: requests Engine.IO cannot serve get its error answer,
// and a request for an unknown session, or a known one from another origin
// or principal, gets "Session ID unknown" and nothing of the session.
func TestEngineErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	p.connect()
	e.served(t, 1)
	if err := e.gw.ToSubject("alice").Emit("secret", 42); err != nil {
		t.Fatal(err)
	}
	eio := func(status int, body string) string {
		t.Helper()
		var v struct {
			Code    *int
			Message string
		}
		if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &v) != nil || v.Code == nil {
			t.Fatalf("answer %d %q is not Engine.IO's error", status, body)
		}
		return v.Message
	}
	other := &pollClient{t: t, hc: srv.HTTPClient(), base: memBase, origin: testOrigin, cookie: e.token(t, "mallory")}
	cases := []struct {
		name, url, origin, cookie, want string
	}{
		{"unknown sid", memBase + "&sid=AAAAAAAAAAAAAAAAAAAAAA", testOrigin, e.token(t, "alice"), "Session ID unknown"},
		{"another principal", p.url(), testOrigin, e.token(t, "mallory"), "Session ID unknown"},
		{"another allowed origin", p.url(), "https://app.example.com:8443", e.token(t, "alice"), "Session ID unknown"},
		{"a refused origin", p.url(), "https://evil.example", e.token(t, "alice"), "Session ID unknown"},
		{"no origin", p.url(), "", "", "Session ID unknown"},
		{"version 3", strings.Replace(memBase, "EIO=4", "EIO=3", 1), testOrigin, "", "Unsupported protocol version"},
		{"unknown transport", strings.Replace(memBase, "polling", "carrier-pigeon", 1), testOrigin, "", "Transport unknown"},
		{"JSONP", memBase + "&j=0", testOrigin, "", "Bad request"},
	}
	for _, tc := range cases {
		other.origin, other.cookie = tc.origin, tc.cookie
		if got := eio(other.request(http.MethodGet, tc.url, "")); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := eio(other.request(http.MethodPost, memBase, "")); got != "Bad handshake method" {
		t.Errorf("POST handshake: %q", got)
	}
	// The session is untouched: its owner still gets what was emitted.
	if pkt, _ := p.expect(`42["secret"`); pkt != `42["secret",42]` {
		t.Fatalf("owner got %q", pkt)
	}
	// A handshake from a refused origin is the gateway's 403.
	other.origin = "https://evil.example"
	if status, body := other.request(http.MethodGet, memBase, ""); status != http.StatusForbidden || !strings.Contains(body, `"message":"origin not allowed"`) {
		t.Fatalf("refused origin's handshake answered %d %q", status, body)
	}
}

// TestConnectErrors: every refusal of CONNECT is a CONNECT_ERROR with the
// message, the status and the code; another namespace is "Invalid
// namespace"; the session survives a refusal, so the client can retry.
func TestConnectErrors(t *testing.T) {
	t.Parallel()
	deny := func(c *wsgate.Context) error {
		if c.Principal().Subject == "banned" {
			return &wsgate.Error{Message: "banned", Code: "BANNED"}
		}
		return nil
	}
	e := newEnv(t, wsgate.Options{ConnectGuards: []wsgate.Guard{deny}, MaxConnectionsPerSubject: 1}, socketio.Options{AuthToken: true})
	srv := wsgatetest.NewServer(t, e.mux)

	p := handshake(t, srv, testOrigin, "")
	for _, tc := range []struct{ send, want string }{
		{"40", `44{"message":"missing token","data":{"status":401,"code":"UNAUTHORIZED"}}`},
		{`40{"token":"x.y.z"}`, `44{"message":"invalid token","data":{"status":401,"code":"UNAUTHORIZED"}}`},
		{`40{"token":` + quote(e.token(t, "banned")) + `}`, `44{"message":"banned","data":{"status":403,"code":"BANNED"}}`},
		{`40{"token":42}`, `44{"message":"invalid auth payload","data":{"status":400,"code":"BAD_REQUEST"}}`},
		{`40"token"`, `44{"message":"invalid auth payload","data":{"status":400,"code":"BAD_REQUEST"}}`},
		{"40/admin,", `44/admin,{"message":"Invalid namespace"}`},
	} {
		p.post(tc.send)
		if got, _ := p.expect("4"); got != tc.want {
			t.Errorf("%s answered %s, want %s", tc.send, got, tc.want)
		}
	}
	p.post(`40{"token":` + quote(e.token(t, "alice")) + `}`)
	p.expect("40")
	// MaxConnectionsPerSubject applies across sessions.
	q := handshake(t, srv, testOrigin, "")
	q.post(`40{"token":` + quote(e.token(t, "alice")) + `}`)
	if got, _ := q.expect("4"); got != `44{"message":"too many connections for this principal","data":{"status":429,"code":"TOO_MANY_CONNECTIONS"}}` {
		t.Fatalf("second connection of alice answered %s", got)
	}
	// Once connected, another namespace is refused, and "/" goes on.
	p.post("40/admin,")
	if got, _ := p.expect("44"); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("namespace after connect answered %s", got)
	}
	p.post(`421["xyz",1]`)
	if got, _ := p.expect("43"); got != `431[{"received":1,"sub":"alice"}]` {
		t.Fatalf("ack %s", got)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestEventPackets: the codec's answers to what a client may send.
func TestEventPackets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{MaxMalformedFrames: -1}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	p.connect()
	bad := func(reason string) string {
		return `{"status":"error","message":"` + reason + `","code":"BAD_REQUEST"}`
	}
	for _, tc := range []struct{ send, want string }{
		{`425["xyz",{"a":[1,"]"]}]`, `435[{"received":{"a":[1,"]"]},"sub":"alice"}]`},
		{`426[ "xyz" ]`, `436[{"received":null,"sub":"alice"}]`},
		{`427["x\u0079z","\"q\""]`, `437[{"received":"\"q\"","sub":"alice"}]`},
		{`428["xyz",1,2]`, `438[` + bad("an event carries at most one argument") + `]`},
		{`429["xyz",1`, `439[` + bad(`an event is [\"name\"] or [\"name\",data]`) + `]`},
		{`4210[""]`, `4310[` + bad("invalid event name") + `]`},
		{`4211["a\u0001"]`, `4311[` + bad("invalid event name") + `]`},
		{`4212[42]`, `4312[` + bad(`an event is [\"name\"] or [\"name\",data]`) + `]`},
		{`42/admin,13["xyz"]`, `4313[` + bad("namespace not connected") + `]`},
		{`451-14["xyz",{"_placeholder":true,"num":0}]`, `4314[` + bad("binary attachments are not supported") + `]`},
		{`4215["$refresh",null]`, `4315[`},
		{`429007199254740991["xyz",0]`, `439007199254740991[{"received":0,"sub":"alice"}]`},
	} {
		p.post(tc.send)
		if got, _ := p.expect("43"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s answered %s, want %s", tc.send, got, tc.want)
		}
	}
	for _, tc := range []struct{ send, want string }{
		{`429007199254740992["xyz"]`, bad("bad ack id")},
		{`431[1]`, bad("the server asks for no acks")},
		{`40`, bad("already connected")},
		{`49`, bad("unknown packet type")},
	} {
		p.post(tc.send)
		if got, _ := p.expect(`42["exception"`); got != `42["exception",`+tc.want+`]` {
			t.Errorf("%s answered %s, want the exception %s", tc.send, got, tc.want)
		}
	}
	// A binary packet's attachment (base64 over polling) is discarded,
	// and the connection goes on.
	p.post(`451-["xyz",{"_placeholder":true,"num":0}]`, "bAQID")
	p.expect(`42["exception"`)
	p.post(`4216["xyz","after"]`)
	if got, _ := p.expect("43"); got != `4316[{"received":"after","sub":"alice"}]` {
		t.Fatalf("after a binary packet: %s", got)
	}
	if e.gw.Len() != 1 {
		t.Fatal("the connection did not survive")
	}
}

// disconnects records OnDisconnect's statuses.
type disconnects struct {
	mu  sync.Mutex
	got []wsgate.CloseStatus
}

func (d *disconnects) record(_ *wsgate.Conn, st wsgate.CloseStatus) {
	d.mu.Lock()
	d.got = append(d.got, st)
	d.mu.Unlock()
}

func (d *disconnects) wait(t testing.TB) wsgate.CloseStatus {
	t.Helper()
	var st wsgate.CloseStatus
	eventually(t, "OnDisconnect", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.got) == 0 {
			return false
		}
		st = d.got[0]
		return true
	})
	return st
}

// TestLimitsOverPolling: a POST over maxPayload closes the connection with
// 1009; a client that stops polling is a slow consumer once its buffer is
// full (1013), and its session goes; a client that goes away is expired.
func TestLimitsOverPolling(t *testing.T) {
	t.Parallel()
	t.Run("read limit", func(t *testing.T) {
		t.Parallel()
		var d disconnects
		e := newEnv(t, wsgate.Options{ReadLimit: 100, OnDisconnect: d.record}, socketio.Options{})
		srv := wsgatetest.NewServer(t, e.mux)
		p := handshake(t, srv, testOrigin, e.token(t, "alice"))
		p.connect()
		status, _ := p.request(http.MethodPost, p.url(), `42["xyz","`+strings.Repeat("a", 200)+`"]`)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized POST answered %d", status)
		}
		got, _ := p.expect(`42["$close"`)
		if got != `42["$close",{"code":1009,"reason":"message too big"}]` {
			t.Fatalf("client got %s", got)
		}
		if st := d.wait(t); st.Code != wsgate.StatusMessageTooBig {
			t.Fatalf("closed with %v, want 1009", st)
		}
	})
	t.Run("buffered packets", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, wsgate.Options{}, socketio.Options{MaxBufferedPackets: 4})
		srv := wsgatetest.NewServer(t, e.mux)
		p := handshake(t, srv, testOrigin, e.token(t, "alice"))
		p.connect()
		e.served(t, 1)
		for i := 0; i < 20; i++ {
			if err := e.gw.ToSubject("alice").Emit("flood", i); err != nil {
				t.Fatal(err)
			}
		}
		// Every poll gets at most the bound; all 20 arrive, in order.
		next := 0
		for next < 20 {
			pkts := p.poll()
			if len(pkts) > 4 {
				t.Fatalf("a poll got %d packets, over the bound of 4: %q", len(pkts), pkts)
			}
			for _, pkt := range pkts {
				if pkt == "2" {
					p.post("3")
					continue
				}
				if want := `42["flood",` + strconv.Itoa(next) + `]`; pkt != want {
					t.Fatalf("got %s, want %s", pkt, want)
				}
				next++
			}
		}
	})
	t.Run("slow consumer", func(t *testing.T) {
		t.Parallel()
		var d disconnects
		e := newEnv(t, wsgate.Options{WriteTimeout: 300 * time.Millisecond, OnDisconnect: d.record}, socketio.Options{MaxBufferedPackets: 4})
		srv := wsgatetest.NewServer(t, e.mux)
		p := handshake(t, srv, testOrigin, e.token(t, "alice"))
		p.connect()
		e.served(t, 1)
		for i := 0; i < 20; i++ {
			_ = e.gw.ToSubject("alice").Emit("flood", i)
		}
		if st := d.wait(t); st.Code != wsgate.StatusTryAgainLater {
			t.Fatalf("closed with %v, want 1013", st)
		}
		eventually(t, "the session to be gone", func() bool {
			status, _ := p.request(http.MethodGet, p.url(), "")
			return status == http.StatusBadRequest
		})
	})
	t.Run("client gone", func(t *testing.T) {
		t.Parallel()
		var d disconnects
		e := newEnv(t, wsgate.Options{PingInterval: 100 * time.Millisecond, PongTimeout: 100 * time.Millisecond, OnDisconnect: d.record}, socketio.Options{})
		srv := wsgatetest.NewServer(t, e.mux)
		p := handshake(t, srv, testOrigin, e.token(t, "alice"))
		p.connect()
		// It stops polling and answering pings.
		if st := d.wait(t); st.Code != wsgate.StatusAbnormalClosure {
			t.Fatalf("closed with %v, want 1006 (ping timeout)", st)
		}
		// A session that never connects expires too.
		q := handshake(t, srv, testOrigin, e.token(t, "bob"))
		eventually(t, "the idle session to expire", func() bool {
			status, _ := q.request(http.MethodPost, q.url(), "40")
			return status == http.StatusBadRequest
		})
	})
}

// TestKeepalive: a polling client that answers the gateway's pings stays
// connected over many intervals.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	var d disconnects
	e := newEnv(t, wsgate.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 5 * time.Second, OnDisconnect: d.record}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	p.connect()
	pings := 0
	for pings < 5 {
		for _, pkt := range p.poll() {
			if pkt == "2" {
				pings++
				p.post("3")
			}
		}
	}
	if e.gw.Len() != 1 {
		t.Fatal("the connection ended although every ping was answered")
	}
}

// TestShutdownOverPolling: Shutdown sends $close with 1001 and the
// Engine.IO close packet, without a socket.io DISCONNECT (the client
// reconnects).
func TestShutdownOverPolling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, e.token(t, "alice"))
	p.connect()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- e.gw.Shutdown(ctx)
	}()
	got, skipped := p.expect("1")
	all := append(skipped, got)
	if strings.Join(all, " ") != `42["$close",{"code":1001,"reason":"server shutting down"}] 1` {
		t.Fatalf("shutdown sent %q", all)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// New sessions are refused once the front end is closed.
	e.sio.Close()
	if status, _ := p.request(http.MethodGet, memBase, ""); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake after Close answered %d", status)
	}
}

// TestSameOriginWithoutOriginHeader: a browser sends no Origin with a
// same-origin GET, only Sec-Fetch-Site: same-origin; the request is then
// taken as coming from its own host, which the policy must allow.
func TestSameOriginWithoutOriginHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{Origins: []string{"http://wsgatetest.invalid"}}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	get := func(fetchSite, host string) int {
		req, _ := http.NewRequest(http.MethodGet, strings.Replace(memBase, "wsgatetest.invalid", host, 1), nil)
		req.Header.Set("Cookie", wsgate.DefaultTokenCookie+"="+e.token(t, "alice"))
		if fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", fetchSite)
		}
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		site, host string
		want       int
	}{
		{"same-origin", "wsgatetest.invalid", http.StatusOK},
		{"same-site", "wsgatetest.invalid", http.StatusForbidden},
		{"cross-site", "wsgatetest.invalid", http.StatusForbidden},
		{"", "wsgatetest.invalid", http.StatusForbidden},
		{"same-origin", "other.invalid", http.StatusForbidden},
	} {
		if got := get(tc.site, tc.host); got != tc.want {
			t.Errorf("Sec-Fetch-Site %q, Host %s: %d, want %d", tc.site, tc.host, got, tc.want)
		}
	}
}

// TestClientDisconnect: the client's DISCONNECT ends the connection with
// 1000 "client namespace disconnect"; an Engine.IO close without it, with
// 1001 "transport close". Either way the session is gone.
func TestClientDisconnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		send string
		want wsgate.CloseStatus
	}{
		{"41", wsgate.CloseStatus{Code: wsgate.StatusNormalClosure, Reason: "client namespace disconnect"}},
		{"1", wsgate.CloseStatus{Code: wsgate.StatusGoingAway, Reason: "transport close"}},
	} {
		var d disconnects
		e := newEnv(t, wsgate.Options{OnDisconnect: d.record}, socketio.Options{})
		srv := wsgatetest.NewServer(t, e.mux)
		p := handshake(t, srv, testOrigin, e.token(t, "alice"))
		p.connect()
		p.post(tc.send)
		if st := d.wait(t); st.Code != tc.want.Code || st.Reason != tc.want.Reason || st.ByServer {
			t.Errorf("%s: OnDisconnect %+v, want %+v", tc.send, st, tc.want)
		}
		eventually(t, "the session to be gone", func() bool {
			status, _ := p.request(http.MethodGet, p.url(), "")
			return status == http.StatusBadRequest
		})
	}
}

// TestLongPollOutlivesServerTimeouts: a poll waits up to PingInterval for
// its packets, longer than a host server's ReadTimeout and WriteTimeout
// (which net/http counts from the request's start): the wait clears them,
// and the poll gets the ping.
func TestLongPollOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{PingInterval: 1500 * time.Millisecond, PongTimeout: 10 * time.Second}, socketio.Options{})
	srv := httptest.NewUnstartedServer(e.mux)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	p := &pollClient{t: t, hc: srv.Client(), base: srv.URL + "/socket.io/?EIO=4&transport=polling", origin: testOrigin, cookie: e.token(t, "alice")}
	status, body := p.request(http.MethodGet, p.base, "")
	if status != http.StatusOK {
		t.Fatalf("handshake %d %s", status, body)
	}
	var open struct{ SID string }
	_ = json.Unmarshal([]byte(body[1:]), &open)
	p.sid = open.SID
	p.connect()
	for i := 0; i < 2; i++ {
		if got := p.poll(); len(got) != 1 || got[0] != "2" {
			t.Fatalf("poll %d got %q, want the ping", i, got)
		}
		p.post("3")
	}

	// A POST whose CONNECT takes longer than the timeouts (a slow connect
	// guard) is answered too.
	slow := func(*wsgate.Context) error { time.Sleep(time.Second); return nil }
	e2 := newEnv(t, wsgate.Options{ConnectGuards: []wsgate.Guard{slow}}, socketio.Options{})
	srv2 := httptest.NewUnstartedServer(e2.mux)
	srv2.Config.ReadTimeout, srv2.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv2.Start()
	t.Cleanup(srv2.Close)
	q := &pollClient{t: t, hc: srv2.Client(), base: srv2.URL + "/socket.io/?EIO=4&transport=polling", origin: testOrigin, cookie: e2.token(t, "alice")}
	_, body = q.request(http.MethodGet, q.base, "")
	_ = json.Unmarshal([]byte(body[1:]), &open)
	q.sid = open.SID
	q.connect()
}

// TestConnectAttempts: a session may retry CONNECT a few times (with other
// credentials), not make the gateway verify token after token: past ten
// attempts it is closed.
func TestConnectAttempts(t *testing.T) {
	t.Parallel()
	var auths atomic.Int32
	e := newEnv(t, wsgate.Options{Authenticator: wsgate.AuthenticatorFunc(func(ctx context.Context, token string) (*wsgate.Principal, error) {
		auths.Add(1)
		return nil, wsgate.ErrUnauthorized
	})}, socketio.Options{AuthToken: true})
	srv := wsgatetest.NewServer(t, e.mux)
	p := handshake(t, srv, testOrigin, "")
	attempts := make([]string, 20)
	for i := range attempts {
		attempts[i] = `40{"token":"t` + strconv.Itoa(i) + `"}`
	}
	status, _ := p.request(http.MethodPost, p.url(), strings.Join(attempts, "\x1e"))
	if status != http.StatusBadRequest {
		t.Fatalf("twenty CONNECTs answered %d, want 400", status)
	}
	if n := auths.Load(); n != 10 {
		t.Fatalf("the authenticator ran %d times, want 10", n)
	}
	if status, _ := p.request(http.MethodGet, p.url(), ""); status != http.StatusBadRequest {
		t.Fatalf("the session survived: %d", status)
	}
}

// TestHandshakeRefusalsReported: a handshake the front end refuses before
// any session exists is answered and reported as the gateway's own
// refusals are (Gateway.Refuse): the JSON body with its code, and
// Hooks.HandshakeRefused.
func TestHandshakeRefusalsReported(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var refused []wsgate.Refusal
	e := newEnv(t, wsgate.Options{Hooks: wsgate.Hooks{HandshakeRefused: func(_ *http.Request, info wsgate.Refusal) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, info)
	}}}, socketio.Options{})
	srv := wsgatetest.NewServer(t, e.mux)
	c := &pollClient{t: t, hc: srv.HTTPClient(), base: memBase, origin: "https://evil.example"}
	status, body := c.request(http.MethodGet, memBase, "")
	if status != http.StatusForbidden || !strings.Contains(body, `"message":"origin not allowed","code":"`+wsgate.CodeOriginNotAllowed+`"`) {
		t.Fatalf("refused origin's handshake answered %d %q", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []wsgate.Refusal{{Status: http.StatusForbidden, Code: wsgate.CodeOriginNotAllowed}}; !slices.Equal(refused, want) {
		t.Fatalf("HandshakeRefused saw %+v, want %+v", refused, want)
	}
}
