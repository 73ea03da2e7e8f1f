package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// echoFrame returns a request frame for "echo" of exactly size bytes.
func echoFrame(t *testing.T, id int64, size int) string {
	t.Helper()
	head := fmt.Sprintf(`{"event":"echo","id":%d,"data":"`, id)
	const tail = `"}`
	n := size - len(head) - len(tail)
	if n < 0 {
		t.Fatalf("frame of %d bytes is too small", size)
	}
	return head + strings.Repeat("x", n) + tail
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 256
	e := newEnv(t, wsgate.Options{ReadLimit: limit}, 0)
	c := e.dial("alice")

	c.SendText(echoFrame(t, 1, limit))
	wantOK(t, c.WaitAck(1))

	c.SendText(echoFrame(t, 2, limit+1))
	wantClosed(t, c, wsgate.StatusMessageTooBig, "message too big")
}

func TestReadLimitFarOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{ReadLimit: 256}, 0)
	c := e.dial("alice")
	c.SendText(echoFrame(t, 1, 64<<10))
	wantClosed(t, c, wsgate.StatusMessageTooBig, "message too big")
}

func TestBinaryFrameCloses1003(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	c := e.dial("alice")
	c.SendBinary([]byte(`{"event":"echo","data":1,"id":1}`))
	wantClosed(t, c, wsgate.StatusUnsupportedData, "")
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	ws := e.dialRaw("alice")
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte{'"', 0xff, '"'}); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("read %q, %v; want close 1007", b, err)
	}
}

// handleCount registers "count", which counts its calls and acks the count.
func handleCount(gw *wsgate.Gateway) *atomic.Int64 {
	var n atomic.Int64
	gw.Handle("count", func(c *wsgate.Context) (any, error) { return n.Add(1), nil }, wsgate.HandlerOptions{})
	return &n
}

func TestRateLimitAnswersRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{EventsPerSecond: 1, EventBurst: 2, MaxRateViolations: 100}, 0)
	calls := handleCount(e.gw)
	c := e.dial("alice")

	for id := int64(1); id <= 3; id++ {
		send(c, id, "count", "null")
	}
	wantOK(t, c.WaitAck(1))
	wantOK(t, c.WaitAck(2))
	wantCode(t, c.WaitAck(3), wsgate.CodeRateLimited)
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler called %d times, want 2: a limited event must not be handled", n)
	}

	// A token comes back after a second; a limited request does not
	// spend one, so asking again until it passes is fair.
	id := int64(4)
	eventually(t, "a request to pass the limiter again", func() bool {
		send(c, id, "count", "null")
		ack := c.WaitAck(id)
		id++
		if !ack.OK() {
			wantCode(t, ack, wsgate.CodeRateLimited)
			time.Sleep(100 * time.Millisecond)
		}
		return ack.OK()
	})
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
}

func TestRateLimitFloodCloses1008(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{EventsPerSecond: 1, EventBurst: 2, MaxRateViolations: 3}, 0)
	calls := handleCount(e.gw)
	c := e.dial("alice")

	// Two within the burst, then three violations in a row.
	for id := int64(1); id <= 5; id++ {
		send(c, id, "count", "null")
	}
	wantOK(t, c.WaitAck(1))
	wantOK(t, c.WaitAck(2))
	for id := int64(3); id <= 5; id++ {
		wantCode(t, c.WaitAck(id), wsgate.CodeRateLimited)
	}
	wantClosed(t, c, wsgate.StatusPolicyViolation, "rate limit exceeded")
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler called %d times, want 2", n)
	}
}

func TestMalformedFramesClose1008(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{MaxMalformedFrames: 3}, 0)
	c := e.dial("alice")

	for i := 1; i <= 2; i++ {
		c.SendText("not json")
		if body := c.WaitException(); body.Code != wsgate.CodeBadRequest {
			t.Fatalf("malformed frame %d answered %+v, want BAD_REQUEST", i, body)
		}
		// Still up: a good request in between is handled (and does not
		// reset the count).
		send(c, int64(i), "echo", "1")
		wantOK(t, c.WaitAck(int64(i)))
	}
	// A malformed frame whose id could be read is answered with an ack.
	c.SendText(`{"event":"echo","id":3,"extra":1}`)
	wantCode(t, c.WaitAck(3), wsgate.CodeBadRequest)
	wantClosed(t, c, wsgate.StatusPolicyViolation, "too many malformed frames")
}

// TestSlowConsumerIsDropped: a peer that takes no frame is closed with 1013
// by the write watchdog or the full queue, while a reading peer on the same
// gateway keeps being served and Broadcast never waits for the slow one.
func TestSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	// The write timeout is far above what a healthy peer's write takes on
	// a loaded machine: only the stuck peer may reach it.
	opts := wsgate.Options{OutboundQueue: 4, WriteTimeout: 2 * time.Second, EventsPerSecond: -1}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	normal := e.dial("normal")
	stuck := e.dialRaw("stuck")
	_ = stuck
	wantOK(t, normal.Request("echo", 1)) // both are served now

	// Frames big enough that the stuck peer's buffer fills after a few.
	payload := strings.Repeat("y", 32<<10)
	var dropped disconnect
	deadline := time.Now().Add(testWait)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck peer was not dropped after %d broadcasts", i)
		}
		returned := make(chan error, 1)
		go func() { returned <- e.gw.Broadcast("tick", payload) }()
		if err := recv(t, returned, "Broadcast to return"); err != nil {
			t.Fatal(err)
		}
		// The normal peer gets every broadcast and its acks promptly.
		normal.WaitEvent("tick")
		wantOK(t, normal.Request("echo", i))
		select {
		case dropped = <-gone:
		default:
			continue
		}
		break
	}
	if dropped.subject != "stuck" {
		t.Fatalf("OnDisconnect for %q %+v, want the stuck peer", dropped.subject, dropped.status)
	}
	if st := dropped.status; st.Code != wsgate.StatusTryAgainLater || !st.ByServer {
		t.Fatalf("stuck peer closed with %+v, want 1013 by the server", st)
	}
	// The normal peer is unaffected.
	wantOK(t, normal.Request("echo", "after"))
	if e.gw.Len() != 1 {
		t.Fatalf("gw.Len() = %d, want 1", e.gw.Len())
	}
}

// TestBroadcastNeverBlocks: with a write timeout far away, only the full
// queue can free Broadcast from a peer that takes nothing, and it must.
func TestBroadcastNeverBlocks(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OutboundQueue: 8, WriteTimeout: time.Hour}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	e.dialRaw("stuck")
	eventually(t, "the raw peer to be tracked", func() bool { return e.gw.Len() == 1 })

	payload := strings.Repeat("z", 4<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 { // 4 MiB: far past every buffer on the way
			_ = e.gw.Broadcast("tick", payload)
		}
	}()
	recv(t, done, "1000 broadcasts to a peer that reads nothing to return")
	d := recv(t, gone, "the stuck peer to be dropped")
	if d.status.Code != wsgate.StatusTryAgainLater || !d.status.ByServer || d.status.Reason != "slow consumer" {
		t.Fatalf("stuck peer closed with %+v, want 1013 slow consumer by the server", d.status)
	}
}

func TestEventsAreHandledInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	var mu sync.Mutex
	var seen []int
	wsgate.On(e.gw, "seq", func(c *wsgate.Context, n int) (int, error) {
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		return n, nil
	}, wsgate.HandlerOptions{})
	c := e.dial("alice")

	const n = 50
	for i := 1; i <= n; i++ {
		send(c, int64(i), "seq", fmt.Sprint(i))
	}
	for i := 1; i <= n; i++ {
		wantOK(t, c.WaitAck(int64(i)))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("handled %d events, want %d", len(seen), n)
	}
	for i, v := range seen {
		if v != i+1 {
			t.Fatalf("handled in order %v, want 1…%d", seen, n)
		}
	}
}

func TestHandlerConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{HandlerConcurrency: 4}, 0)
	entered, release := handleBlocking(e.gw)
	c := e.dial("alice")

	for id := int64(1); id <= 4; id++ {
		send(c, id, "block", "null")
	}
	// All four run at once: each is inside the handler before any is
	// released.
	for range 4 {
		recv(t, entered, "four handlers to run at once")
	}
	close(release)
	for id := int64(1); id <= 4; id++ {
		wantOK(t, c.WaitAck(id))
	}
}

func TestSlowHandlerDoesNotDelayOtherConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	entered, release := handleBlocking(e.gw)
	a := e.dial("alice")
	b := e.dial("bob")

	send(a, 1, "block", "null")
	recv(t, entered, "alice's handler to start")
	// Alice's read loop is busy; Bob is served all the same.
	for i := range 3 {
		wantOK(t, b.Request("echo", i))
	}
	close(release)
	wantOK(t, a.WaitAck(1))
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{MaxConnections: 2}, 0)
	a := e.dial("a")
	e.dial("b")

	he := e.srv.Refused(e.dialOptions(e.token("c")))
	if he.Status != http.StatusServiceUnavailable || he.Header.Get("Retry-After") == "" {
		t.Fatalf("third handshake = %d (Retry-After %q) %s, want 503 with Retry-After",
			he.Status, he.Header.Get("Retry-After"), he.RawBody)
	}

	a.Close()
	// The place is given back once the session is fully over.
	var c *wsgatetest.Client
	eventually(t, "a new connection to be admitted", func() bool {
		var err error
		c, err = e.dialErr("c")
		var he *wsgatetest.HandshakeError
		if errors.As(err, &he) && he.Status == http.StatusServiceUnavailable {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	})
	wantOK(t, c.Request("echo", 1))
}

func TestMaxConnectionsPerSubject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{MaxConnectionsPerSubject: 1}, 0)
	e.dial("alice")

	he := e.srv.Refused(e.dialOptions(e.token("alice")))
	if he.Status != http.StatusTooManyRequests || he.Body.Code != wsgate.CodeTooManyConnections {
		t.Fatalf("second handshake of alice = %d %s, want 429 %s", he.Status, he.RawBody, wsgate.CodeTooManyConnections)
	}
	if he.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	bob := e.dial("bob")
	wantOK(t, bob.Request("echo", 1))
}

// TestWriteWatchdog: a write the peer does not take within WriteTimeout
// closes the connection with 1013, even with the queue far from full.
func TestWriteWatchdog(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OutboundQueue: 1000, WriteTimeout: 200 * time.Millisecond}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	e.dialRaw("stuck")
	eventually(t, "the raw peer to be tracked", func() bool { return e.gw.Len() == 1 })

	// 16 × 32 KiB: past the in-memory buffer, well within the queue.
	payload := strings.Repeat("w", 32<<10)
	for range 16 {
		if err := e.gw.Broadcast("tick", payload); err != nil {
			t.Fatal(err)
		}
	}
	d := recv(t, gone, "the write watchdog to drop the stuck peer")
	if d.status.Code != wsgate.StatusTryAgainLater || !d.status.ByServer {
		t.Fatalf("stuck peer closed with %+v, want 1013 by the server", d.status)
	}
}

func TestRateLimitWithoutClosing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{EventsPerSecond: 1, EventBurst: 1, MaxRateViolations: -1}, 0)
	c := e.dial("alice")
	for id := int64(1); id <= 20; id++ {
		send(c, id, "echo", "1")
	}
	wantOK(t, c.WaitAck(1))
	for id := int64(2); id <= 20; id++ {
		wantCode(t, c.WaitAck(id), wsgate.CodeRateLimited)
	}
	if ev := c.Pending(); len(ev) != 0 {
		t.Fatalf("unexpected events %v", ev)
	}
	// Still open: the next frame is answered, not refused by a closed socket.
	send(c, 21, "echo", "1")
	c.WaitAck(21)
}

// TestHandlerEmitNeverBlocks: a handler that emits to a peer taking nothing
// returns at once; the full queue, not the (distant) write timeout, closes
// the peer with 1013.
func TestHandlerEmitNeverBlocks(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OutboundQueue: 8, WriteTimeout: time.Hour}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	returned := make(chan error, 1)
	payload := strings.Repeat("e", 4<<10)
	e.gw.Handle("spam", func(c *wsgate.Context) (any, error) {
		var err error
		for range 1000 { // 4 MiB: far past every buffer on the way
			if err = c.Emit("spam", payload); err != nil {
				break
			}
		}
		returned <- err
		return nil, nil
	}, wsgate.HandlerOptions{})
	stuck := e.dialRaw("stuck")
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := stuck.Write(ctx, websocket.MessageText, []byte(`{"event":"spam"}`)); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, returned, "the emitting handler to return"); !errors.Is(err, wsgate.ErrSlowConsumer) && !errors.Is(err, wsgate.ErrClosed) {
		t.Fatalf("Emit returned %v, want ErrSlowConsumer or ErrClosed once the queue is full", err)
	}
	d := recv(t, gone, "the stuck peer to be dropped")
	if d.status.Code != wsgate.StatusTryAgainLater || d.status.Reason != "slow consumer" {
		t.Fatalf("stuck peer closed with %+v, want 1013 slow consumer", d.status)
	}
}

// TestSlowConsumerReceivesCloseFrame: a peer that falls behind, and then
// reads again, finds the 1013 close frame after what was written before it.
func TestSlowConsumerReceivesCloseFrame(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OutboundQueue: 4, WriteTimeout: time.Hour}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	slow := e.dialRaw("slow")
	slow.SetReadLimit(1 << 20)
	eventually(t, "the raw peer to be tracked", func() bool { return e.gw.Len() == 1 })

	payload := strings.Repeat("s", 64<<10)
	for range 64 { // 4 MiB, far past the in-memory buffer and the queue
		_ = e.gw.Broadcast("tick", payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	events := 0
	for {
		_, _, err := slow.Read(ctx)
		if err == nil {
			events++
			continue
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
			t.Fatalf("after %d events: read %v, want close 1013", events, err)
		}
		break
	}
	// How many got through before the queue overflowed depends on the
	// scheduler (with one CPU, none may); all of them cannot have.
	if events >= 64 {
		t.Fatalf("%d events before the close, want fewer than the 64 sent", events)
	}
	if d := recv(t, gone, "the slow peer's disconnect"); d.status.Code != wsgate.StatusTryAgainLater {
		t.Fatalf("OnDisconnect saw %+v, want 1013", d.status)
	}
}

// TestHandlerConcurrencyBound: the event past HandlerConcurrency waits for
// a slot.
func TestHandlerConcurrencyBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{HandlerConcurrency: 2}, 0)
	entered, release := handleBlocking(e.gw)
	c := e.dial("alice")
	for id := int64(1); id <= 3; id++ {
		send(c, id, "block", "null")
	}
	recv(t, entered, "the first handler")
	recv(t, entered, "the second handler")
	select {
	case id := <-entered:
		t.Fatalf("request %d started while two handlers ran, with HandlerConcurrency 2", id)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	recv(t, entered, "the third handler, once a slot is free")
	for id := int64(1); id <= 3; id++ {
		wantOK(t, c.WaitAck(id))
	}
}

func TestNewRefusesNegativeLimits(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]wsgate.Options{
		"ConnectTimeout":     {ConnectTimeout: -1},
		"ReadLimit":          {ReadLimit: -1},
		"PongTimeout":        {PongTimeout: -1},
		"WriteTimeout":       {WriteTimeout: -1},
		"CloseTimeout":       {CloseTimeout: -1},
		"OutboundQueue":      {OutboundQueue: -1},
		"EventBurst":         {EventBurst: -1},
		"HandlerConcurrency": {HandlerConcurrency: -1},
		"RevalidateInterval": {RevalidateInterval: -1},
	} {
		if _, err := wsgate.New(opts); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("New with negative %s: err = %v, want an error naming it", name, err)
		}
	}
	// The limits that a negative value turns off are accepted.
	if _, err := wsgate.New(wsgate.Options{
		PingInterval: -1, EventsPerSecond: -1, MaxRateViolations: -1, MaxMalformedFrames: -1,
		MaxConnections: -1, MaxConnectionsPerSubject: -1,
	}); err != nil {
		t.Fatalf("New with the limits turned off: %v", err)
	}
}

// stallTransport is a chanTransport whose writes take as long as write
// says, and which notes when each write began and when it was dropped.
type stallTransport struct {
	*chanTransport
	write   func(n int) // the nth write's delay; returns early on Drop
	writes  atomic.Int32
	started chan time.Time
	dropped atomic.Pointer[time.Time]
}

func (t *stallTransport) WriteMessage(b []byte) error {
	t.started <- time.Now()
	t.write(int(t.writes.Add(1)))
	select {
	case <-t.gone:
		return errors.New("transport dropped")
	default:
		return nil
	}
}

func (t *stallTransport) Drop() {
	now := time.Now()
	t.dropped.CompareAndSwap(nil, &now)
	t.chanTransport.Drop()
}

// TestWriteWatchdogPrecision: a write shorter than WriteTimeout (by a
// quarter, so that a busy machine's late timer cannot push it past) is
// never dropped, although the watchdog sees it in progress on several
// rounds; one that stalls is dropped, never before WriteTimeout, and about
// a quarter of it later at most.
func TestWriteWatchdogPrecision(t *testing.T) {
	t.Parallel()
	const timeout = 800 * time.Millisecond
	opts := wsgate.Options{WriteTimeout: timeout}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	adm, err := e.gw.Admit(frontRequest(testOrigin, ""), e.token("alice"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &stallTransport{chanTransport: newChanTransport(), started: make(chan time.Time, 8)}
	tr.write = func(n int) {
		d := time.Hour // the second write stalls
		if n == 1 {
			d = timeout - timeout/4
		}
		select {
		case <-time.After(d):
		case <-tr.gone:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		adm.Serve(tr, nil)
	}()
	t.Cleanup(func() {
		tr.chanTransport.Drop()
		<-done
	})
	eventually(t, "the connection to be tracked", func() bool { return e.gw.Len() == 1 })

	if err := e.gw.ToSubject("alice").Emit("first", 1); err != nil {
		t.Fatal(err)
	}
	recv(t, tr.started, "the first write")
	if err := e.gw.ToSubject("alice").Emit("second", 2); err != nil {
		t.Fatal(err)
	}
	second := recv(t, tr.started, "the second write: the first one, shorter than WriteTimeout, was not dropped")
	d := recv(t, gone, "the write watchdog to drop the stalled write")
	if d.status.Code != wsgate.StatusTryAgainLater || !d.status.ByServer {
		t.Fatalf("stalled peer closed with %+v, want 1013 by the server", d.status)
	}
	at := tr.dropped.Load()
	if at == nil {
		t.Fatal("the transport was not dropped")
	}
	if late := at.Sub(second); late < timeout {
		t.Fatalf("the stalled write was dropped after %v, before WriteTimeout (%v)", late, timeout)
	} else if late > 3*timeout {
		// A quarter of WriteTimeout late at most, with room for a busy
		// machine's scheduling.
		t.Fatalf("the stalled write was dropped after %v, long past WriteTimeout (%v)", late, timeout)
	}
}
