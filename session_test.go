package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Tests of the session's lifecycle: panics in user code, a handler told at
// once that its connection is gone, answers given exactly once, close codes.

// panicky is a value whose JSON encoding panics.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("MarshalJSON exploded") }

// bothModes runs f with events handled in order and four at once.
func bothModes(t *testing.T, f func(t *testing.T, conc int)) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			t.Parallel()
			f(t, conc)
		})
	}
}

func TestPanicWhileEncodingAnswersIsRecovered(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, conc int) {
		opts := wsgate.Options{HandlerConcurrency: conc}
		gone := recordDisconnects(&opts)
		e := newEnv(t, opts, 0)
		e.gw.Handle("result", func(*wsgate.Context) (any, error) { return panicky{}, nil }, wsgate.HandlerOptions{})
		e.gw.Handle("errdata", func(*wsgate.Context) (any, error) {
			return nil, &wsgate.Error{Code: "DOMAIN", Message: "domain failure", Data: panicky{}}
		}, wsgate.HandlerOptions{})
		c := e.dial("alice")

		ack := c.Request("result", nil)
		wantCode(t, ack, wsgate.CodeInternal)
		if ack.Error.Message != "Internal server error" {
			t.Fatalf("panicking result answered %+v, want Internal server error", *ack.Error)
		}
		// The error's message and code survive a Data that cannot be
		// encoded; only the data is left out.
		ack = c.Request("errdata", nil)
		wantCode(t, ack, "DOMAIN")
		if ack.Error.Message != "domain failure" || ack.Error.Data != nil {
			t.Fatalf("error with panicking data answered %+v, want the message without data", *ack.Error)
		}
		c.Emit("errdata", nil)
		if body := c.WaitException(); body.Code != "DOMAIN" {
			t.Fatalf("exception = %+v, want DOMAIN", body)
		}
		// The connection is still served, and its end is reported.
		wantOK(t, c.Request("echo", 1))
		c.Close()
		if d := wantGone(t, e.gw, gone); d.subject != "alice" {
			t.Fatalf("OnDisconnect for %q", d.subject)
		}
	})
}

func TestPanicInRefreshAuthenticatorIsRecovered(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, conc int) {
		auth := wsgate.AuthenticatorFunc(func(_ context.Context, token string) (*wsgate.Principal, error) {
			if token == "explode" {
				panic("authenticator exploded")
			}
			return &wsgate.Principal{Subject: token}, nil
		})
		opts := wsgate.Options{
			Origins: []string{testOrigin}, Authenticator: auth, HandlerConcurrency: conc,
			Logger: quietLogger(),
		}
		gone := recordDisconnects(&opts)
		gw, err := wsgate.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		gw.Handle("echo", func(c *wsgate.Context) (any, error) { return c.Data(), nil }, wsgate.HandlerOptions{})
		srv := wsgatetest.NewServer(t, gw)
		c := srv.Dial(cookieDialOptions("alice"))

		ack := c.Request(wsgate.RefreshEvent, map[string]string{"token": "explode"})
		wantCode(t, ack, wsgate.CodeInternal)
		wantOK(t, c.Request("echo", 1))
		c.Close()
		wantGone(t, gw, gone)
	})
}

// TestRefreshAnswerThatCannotBeEncoded: an authenticator whose principal
// expires past year 9999 (which RFC 3339 cannot write) gets an error
// answer, never silence, and the principal is not replaced.
func TestRefreshAnswerThatCannotBeEncoded(t *testing.T) {
	t.Parallel()
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	auth := wsgate.AuthenticatorFunc(func(_ context.Context, token string) (*wsgate.Principal, error) {
		p := &wsgate.Principal{Subject: "alice", Expires: time.Now().Add(time.Hour)}
		if token == "far" {
			p.Expires = far
		}
		return p, nil
	})
	gw, err := wsgate.New(wsgate.Options{Origins: []string{testOrigin}, Authenticator: auth, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	gw.Handle("expires", func(c *wsgate.Context) (any, error) { return c.Principal().Expires, nil }, wsgate.HandlerOptions{})
	srv := wsgatetest.NewServer(t, gw)
	c := srv.Dial(cookieDialOptions("near"))

	wantCode(t, c.Request(wsgate.RefreshEvent, map[string]string{"token": "far"}), wsgate.CodeUnauthorized)
	ack := c.Request("expires", nil)
	wantOK(t, ack)
	var got time.Time
	if err := ack.Decode(&got); err != nil || got.Year() > 9999 {
		t.Fatalf("principal expires %s after a refused refresh, want the original", ack.Data)
	}
}

// blockUntilDone registers "wait", a handler that signals it has started
// and then waits for its context to end, reporting how long that took.
func blockUntilDone(gw *wsgate.Gateway) (started chan *wsgate.Conn, ended chan error) {
	started, ended = make(chan *wsgate.Conn, 16), make(chan error, 16)
	gw.Handle("wait", func(c *wsgate.Context) (any, error) {
		started <- c.Conn()
		select {
		case <-c.Context().Done():
			// Emitting into an ended connection must fail.
			ended <- c.Emit("late", nil)
		case <-time.After(testWait):
			ended <- errors.New("context still live")
		}
		return nil, nil
	}, wsgate.HandlerOptions{})
	return started, ended
}

func wantCancelled(t *testing.T, ended <-chan error) {
	t.Helper()
	if err := recv(t, ended, "the handler's context to be cancelled"); !errors.Is(err, wsgate.ErrClosed) {
		t.Fatalf("after the context ended, Emit = %v, want ErrClosed", err)
	}
}

// TestHandlerLearnsThePeerLeft: with events handled in order (the read loop
// is not the handler's goroutine), a close frame or a dropped socket from
// the peer cancels the running handler's context at once.
func TestHandlerLearnsThePeerLeft(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"close frame", "dropped socket"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			opts := wsgate.Options{}
			gone := recordDisconnects(&opts)
			e := newEnv(t, opts, 0)
			started, ended := blockUntilDone(e.gw)
			ws := e.dialRaw("alice")
			if err := ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"wait","id":1}`)); err != nil {
				t.Fatal(err)
			}
			recv(t, started, "the handler to start")
			if how == "close frame" {
				go func() { _ = ws.Close(websocket.StatusNormalClosure, "bye") }()
			} else {
				_ = ws.CloseNow()
			}
			wantCancelled(t, ended)
			d := wantGone(t, e.gw, gone)
			want := wsgate.StatusNormalClosure
			if how == "dropped socket" {
				want = wsgate.StatusAbnormalClosure
			}
			if d.status.Code != want || d.status.ByServer {
				t.Fatalf("OnDisconnect status %+v, want %v from the peer", d.status, want)
			}
		})
	}
}

// TestHandlerLearnsTheServerClosed: a close decided by the server (Close,
// token expiry, revocation) cancels the running handler's context at once,
// and the peer gets the close frame.
func TestHandlerLearnsTheServerClosed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		opts   wsgate.Options
		token  func(e *env) string
		close  func(c *wsgate.Conn)
		code   wsgate.StatusCode
		reason string
	}{
		{name: "Close", close: func(c *wsgate.Conn) { c.Close(4000, "moved") }, code: 4000, reason: "moved"},
		{
			name:  "token expiry",
			token: func(e *env) string { return e.signer.ExpiringIn(e.t, "alice", 1500*time.Millisecond) },
			code:  wsgate.StatusTokenExpired, reason: "token expired",
		},
		{
			name: "revocation",
			opts: wsgate.Options{
				RevalidateInterval: 100 * time.Millisecond,
				Revalidate:         func(context.Context, *wsgate.Conn) error { return errors.New("session revoked") },
			},
			code: wsgate.StatusPolicyViolation, reason: "revoked",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gone := recordDisconnects(&tc.opts)
			e := newEnv(t, tc.opts, noLeeway)
			started, ended := blockUntilDone(e.gw)
			token := e.token("alice")
			if tc.token != nil {
				token = tc.token(e)
			}
			c := e.dialToken(token)
			c.Emit("wait", nil)
			conn := recv(t, started, "the handler to start")
			if tc.close != nil {
				tc.close(conn)
			}
			wantCancelled(t, ended)
			wantClosed(t, c, tc.code, tc.reason)
			if d := wantGone(t, e.gw, gone); d.status.Code != tc.code || !d.status.ByServer {
				t.Fatalf("OnDisconnect status %+v, want %v by the server", d.status, tc.code)
			}
			if err := conn.Emit("late", nil); !errors.Is(err, wsgate.ErrClosed) {
				t.Fatalf("Emit on an ended connection = %v, want ErrClosed", err)
			}
		})
	}
}

// TestEventsStayInOrderWhileReading: the read loop goes on reading while a
// handler runs, and the events behind it are still handled in order.
func TestEventsStayInOrderWhileReading(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{EventsPerSecond: -1}, 0)
	var mu sync.Mutex
	var order []int
	var running atomic.Int32
	e.gw.Handle("seq", func(c *wsgate.Context) (any, error) {
		if running.Add(1) != 1 {
			t.Error("two handlers of one connection ran at once in the in-order mode")
		}
		defer running.Add(-1)
		var n int
		_ = json.Unmarshal(c.Data(), &n)
		time.Sleep(time.Millisecond)
		mu.Lock()
		order = append(order, n)
		mu.Unlock()
		return n, nil
	}, wsgate.HandlerOptions{})
	c := e.dial("alice")
	const n = 40 // more than the queue holds: the read loop must wait too
	for i := 1; i <= n; i++ {
		send(c, int64(i), "seq", fmt.Sprint(i))
	}
	for i := 1; i <= n; i++ {
		wantOK(t, c.WaitAck(int64(i)))
	}
	mu.Lock()
	defer mu.Unlock()
	for i, got := range order {
		if got != i+1 {
			t.Fatalf("handled in order %v, want 1..%d", order, n)
		}
	}
}

// TestReaderHandsOffAfterBurst: in the in-order mode a handler that
// blocks still has the reading handed to another goroutine when it comes
// right behind a burst of quick events (the hand-off timer is then already
// running from the burst): the peer's close is seen and cancels the
// handler's context.
func TestReaderHandsOffAfterBurst(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{EventsPerSecond: -1})
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	gw.Handle("quick", func(c *wsgate.Context) (any, error) { return nil, nil }, wsgate.HandlerOptions{})
	gw.Handle("block", func(c *wsgate.Context) (any, error) {
		close(started)
		select {
		case <-c.Context().Done():
			cancelled <- c.Context().Err()
		case <-time.After(2 * testWait):
			cancelled <- errors.New("the context was never cancelled: nobody read the close")
		}
		return nil, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})
	for range 200 {
		c.Emit("quick", nil)
	}
	wantOK(t, c.Request("quick", nil)) // the burst is handled
	for range 50 {
		c.Emit("quick", nil)
	}
	c.Emit("block", nil)
	recv(t, started, "the handler to start")
	c.Close()
	if err := recv(t, cancelled, "the handler's context"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler context: %v", err)
	}
}

// TestCloseCodesThatMayNotBeSent: Conn.Close replaces a code no endpoint
// may send, and a reason too long or not UTF-8, with 1011.
func TestCloseCodesThatMayNotBeSent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code   wsgate.StatusCode
		reason string
		want   wsgate.StatusCode
	}{
		{4000, "fine", 4000},
		{3000, "", 3000},
		{1000, "bye", 1000},
		{1014, "", 1014},
		{999, "", 1011},
		{1004, "", 1011},
		{1005, "", 1011},
		{1006, "", 1011},
		{1015, "", 1011},
		{2000, "", 1011},
		{5000, "", 1011},
		{4000, strings.Repeat("x", 124), 1011},
		{4000, "\xff\xfe", 1011},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %q", tc.code, tc.reason), func(t *testing.T) {
			t.Parallel()
			opts := wsgate.Options{}
			gone := recordDisconnects(&opts)
			opts.OnConnect = func(c *wsgate.Conn) { c.Close(tc.code, tc.reason) }
			e := newEnv(t, opts, 0)
			c := e.dial("alice")
			st := c.WaitClosed()
			if st.Code != tc.want {
				t.Fatalf("peer saw %d %q, want %d", st.Code, st.Reason, tc.want)
			}
			if tc.want == 1011 && st.Reason != "" {
				t.Fatalf("peer saw reason %q with the 1011 that replaced a bad close", st.Reason)
			}
			if d := recv(t, gone, "OnDisconnect"); d.status.Code != tc.want {
				t.Fatalf("OnDisconnect status %+v, want %d", d.status, tc.want)
			}
		})
	}
}

func TestReadLimitIsBounded(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{math.MaxInt64, wsgate.MaxReadLimit + 1} {
		if _, err := wsgate.New(wsgate.Options{ReadLimit: limit}); err == nil {
			t.Errorf("New accepted ReadLimit %d", limit)
		}
	}
	e := newEnv(t, wsgate.Options{ReadLimit: wsgate.MaxReadLimit}, 0)
	wantOK(t, e.dial("alice").Request("echo", 1))
}

// TestServerClosesUnderFastTimers races server-initiated closes against
// keepalive and revalidation timers that fire all the time: the session's
// end must never race its background work (run under -race).
func TestServerClosesUnderFastTimers(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{
		PingInterval: time.Millisecond, PongTimeout: time.Second,
		RevalidateInterval: time.Millisecond,
		Revalidate:         func(context.Context, *wsgate.Conn) error { return nil },
		OnConnect: func(c *wsgate.Conn) {
			go func() {
				time.Sleep(time.Duration(len(c.ID())%5) * time.Millisecond)
				c.Close(wsgate.StatusNormalClosure, "")
			}()
		},
	}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	const n = 50
	for range n {
		c := e.dial("alice")
		c.WaitClosed()
	}
	for range n {
		recv(t, gone, "OnDisconnect")
	}
	eventually(t, "every connection to be forgotten", func() bool { return e.gw.Len() == 0 })
}

// TestReplyErrorMasksPlainErrors: a plain error's text never reaches the
// client, through the default filter or ReplyError called by a filter.
func TestReplyErrorMasksPlainErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	secret := errors.New("dial tcp 10.1.2.3:5432: password authentication failed for user app")
	e.gw.Handle("leaky", func(*wsgate.Context) (any, error) { return nil, secret }, wsgate.HandlerOptions{})
	e.gw.Handle("filtered", func(*wsgate.Context) (any, error) { return nil, secret }, wsgate.HandlerOptions{
		Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
			_ = c.ReplyError(err)
			return nil
		}},
	})
	c := e.dial("alice")
	for _, event := range []string{"leaky", "filtered"} {
		ack := c.Request(event, nil)
		wantCode(t, ack, wsgate.CodeInternal)
		if ack.Error.Message != "Internal server error" || strings.Contains(fmt.Sprintf("%s %s", ack.Error.Data, ack.Error.Cause), "10.1.2.3") {
			t.Fatalf("%s answered %+v: the error's text leaked", event, *ack.Error)
		}
	}
}

// TestShutdownDeliversQueuedAcks: every handler that ran during a Shutdown
// has its ack on the wire before the 1001 close frame: the drain never
// discards the queue.
func TestShutdownDeliversQueuedAcks(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, conc int) {
		for range 20 {
			shutdownDeliveryRound(t, conc)
		}
	})
}

func shutdownDeliveryRound(t *testing.T, conc int) {
	t.Helper()
	e := newEnv(t, wsgate.Options{EventsPerSecond: -1, HandlerConcurrency: conc}, 0)
	var ran atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	e.gw.Handle("r", func(c *wsgate.Context) (any, error) {
		ran.Add(1)
		once.Do(func() { close(first) })
		// A big answer fills the socket's buffers, so acks wait in the
		// queue when the drain begins.
		return strings.Repeat("a", 8<<10), nil
	}, wsgate.HandlerOptions{})
	ws := e.dialRaw("a")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for id := 1; id <= 200; id++ {
			if ws.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"event":"r","id":%d}`, id)) != nil {
				return
			}
		}
	}()
	var acked atomic.Int64
	closed := make(chan websocket.StatusCode, 1)
	go func() {
		defer wg.Done()
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			var a struct {
				Data *string `json:"data"`
			}
			if json.Unmarshal(b, &a) == nil && a.Data != nil {
				acked.Add(1)
			}
		}
	}()
	recv(t, first, "the first handler")
	shutdown(t, e.gw)
	if code := recv(t, closed, "the close"); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	_ = ws.CloseNow()
	wg.Wait()
	if r, a := ran.Load(), acked.Load(); r != a {
		t.Fatalf("%d handlers ran but %d acks arrived before the close", r, a)
	}
}

// TestEmitRightAfterTheHandshake: a connection is tracked before the
// client sees the upgrade, so an emit to its subject made as soon as the
// dial returns reaches it.
func TestEmitRightAfterTheHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	for i := range 50 {
		sub := fmt.Sprintf("user%d", i)
		c := e.dial(sub)
		if err := e.gw.ToSubject(sub).Emit("hello", i); err != nil {
			t.Fatal(err)
		}
		if ev := c.WaitEvent("hello"); string(ev.Data) != fmt.Sprint(i) {
			t.Fatalf("got %s, want %d", ev.Data, i)
		}
		c.Close()
	}
}

// TestServeHTTPReturnsAfterTheUpgrade: the handler returns once the
// connection is upgraded, so the server's goroutine and buffers are not
// held for the connection's life; the session goes on.
func TestServeHTTPReturnsAfterTheUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	returned := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.gw.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {testOrigin}, "Cookie": {wsgate.DefaultTokenCookie + "=" + e.token("alice")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	recv(t, returned, "ServeHTTP to return")
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"echo","data":7,"id":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || string(b) != `{"id":1,"data":7}` {
		t.Fatalf("after ServeHTTP returned, the session answered %s, %v", b, err)
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the session to end", func() bool { return e.gw.Len() == 0 })
}

// TestConnKeepsNoCredentials: the request a connection keeps has no token
// in it; connect guards saw the whole request.
func TestConnKeepsNoCredentials(t *testing.T) {
	t.Parallel()
	var atConnect string
	opts := wsgate.Options{ConnectGuards: []wsgate.Guard{func(c *wsgate.Context) error {
		atConnect = c.Request().Header.Get("Cookie")
		return nil
	}}}
	e := newEnv(t, opts, 0)
	e.gw.Handle("headers", func(c *wsgate.Context) (any, error) {
		h := c.Request().Header
		return map[string]string{"cookie": h.Get("Cookie"), "origin": h.Get("Origin"), "key": h.Get("Sec-WebSocket-Key")}, nil
	}, wsgate.HandlerOptions{})
	c := e.dial("alice")
	var got map[string]string
	if err := c.Request("headers", nil).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["cookie"] != "" || got["key"] != "" || got["origin"] != testOrigin {
		t.Fatalf("an event's request has headers %v, want the origin and no cookie or handshake key", got)
	}
	if !strings.Contains(atConnect, wsgate.DefaultTokenCookie+"=") {
		t.Fatalf("the connect guard saw Cookie %q, want the token cookie", atConnect)
	}
}
