package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Helpers of hooks_test.go start with "hk".

// hkRecorder records every hook call.
type hkRecorder struct {
	mu        sync.Mutex
	opened    []string // connection ids
	closed    []wsgate.CloseInfo
	refused   []wsgate.Refusal
	started   []string
	events    []wsgate.EventInfo
	sameCtx   []bool // EventHandled got the context EventStart returned
	denials   []wsgate.GuardDenial
	limited   int
	published []wsgate.BrokerPublish
	delivered []wsgate.BrokerDelivery
}

type hkKey struct{}

func (r *hkRecorder) hooks() wsgate.Hooks {
	return wsgate.Hooks{
		ConnOpened: func(c *wsgate.Conn) { r.add(func() { r.opened = append(r.opened, c.ID()) }) },
		ConnClosed: func(c *wsgate.Conn, info wsgate.CloseInfo) { r.add(func() { r.closed = append(r.closed, info) }) },
		HandshakeRefused: func(_ *http.Request, info wsgate.Refusal) {
			r.add(func() { r.refused = append(r.refused, info) })
		},
		EventStart: func(ctx context.Context, c *wsgate.Conn, event string) context.Context {
			r.add(func() { r.started = append(r.started, event) })
			return context.WithValue(ctx, hkKey{}, event)
		},
		EventHandled: func(ctx context.Context, c *wsgate.Conn, info wsgate.EventInfo) {
			same := ctx.Value(hkKey{}) == info.Event
			r.add(func() { r.events = append(r.events, info); r.sameCtx = append(r.sameCtx, same) })
		},
		GuardDenied: func(c *wsgate.Conn, info wsgate.GuardDenial) { r.add(func() { r.denials = append(r.denials, info) }) },
		RateLimited: func(*wsgate.Conn) { r.add(func() { r.limited++ }) },
		BrokerPublished: func(info wsgate.BrokerPublish) {
			r.add(func() { r.published = append(r.published, info) })
		},
		BrokerDelivered: func(info wsgate.BrokerDelivery) {
			r.add(func() { r.delivered = append(r.delivered, info) })
		},
	}
}

func (r *hkRecorder) add(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// wait polls until cond, read under the recorder's lock, holds.
func (r *hkRecorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return cond()
	})
}

// hkSetup is newEnv with the recorder's hooks and events that fail in
// each way an event can.
func hkSetup(t *testing.T, opts wsgate.Options) (*env, *hkRecorder) {
	t.Helper()
	rec := &hkRecorder{}
	opts.Hooks = rec.hooks()
	e := newEnv(t, opts, noLeeway)
	gw := e.gw
	gw.Handle("fail", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "NOPE", Message: "no"}
	}, wsgate.HandlerOptions{})
	gw.Handle("crash", func(*wsgate.Context) (any, error) { panic("boom") }, wsgate.HandlerOptions{})
	gw.Handle("guarded", func(*wsgate.Context) (any, error) { return "unreachable", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.Allow(func(*wsgate.Context) bool { return false })}})
	gw.Handle("ctx", func(c *wsgate.Context) (any, error) { return c.Context().Value(hkKey{}), nil }, wsgate.HandlerOptions{})
	return e, rec
}

// TestHooksEvents: every handled event is reported once, with a bounded
// name, its outcome, the code answered and a duration, in the context
// EventStart gave the handler.
func TestHooksEvents(t *testing.T) {
	t.Parallel()
	e, rec := hkSetup(t, wsgate.Options{})
	c := e.dial("alice")

	wantOK(t, c.Request("echo", 1))
	if ack := c.Request("ctx", nil); string(ack.Data) != `"ctx"` {
		t.Fatalf("the handler's context lacks EventStart's value: %s %+v", ack.Data, ack.Error)
	}
	c.Request("fail", nil)
	c.Request("crash", nil)
	c.Request("guarded", nil)
	c.Request("no-such-event", nil)
	c.Request("$no-such-protocol-event", nil)
	wantOK(t, c.Request(wsgate.RefreshEvent, map[string]string{"token": e.token("alice")}))
	c.Request(wsgate.RefreshEvent, map[string]string{"token": "not a token"})
	c.Emit("fail", nil) // no id: answered with an exception event
	c.WaitException()

	want := []wsgate.EventInfo{
		{Event: "echo", Outcome: wsgate.OutcomeOK},
		{Event: "ctx", Outcome: wsgate.OutcomeOK},
		{Event: "fail", Outcome: wsgate.OutcomeClientError, Code: "NOPE"},
		{Event: "crash", Outcome: wsgate.OutcomeInternal, Code: wsgate.CodeInternal},
		{Event: "guarded", Outcome: wsgate.OutcomeClientError, Code: wsgate.CodeForbidden},
		{Event: wsgate.UnknownEvent, Outcome: wsgate.OutcomeClientError, Code: wsgate.CodeUnknownEvent},
		{Event: wsgate.UnknownEvent, Outcome: wsgate.OutcomeClientError, Code: wsgate.CodeUnknownEvent},
		{Event: wsgate.RefreshEvent, Outcome: wsgate.OutcomeOK},
		{Event: wsgate.RefreshEvent, Outcome: wsgate.OutcomeClientError, Code: wsgate.CodeUnauthorized},
		{Event: "fail", Outcome: wsgate.OutcomeClientError, Code: "NOPE"},
	}
	rec.wait(t, "every event reported", func() bool { return len(rec.events) >= len(want) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != len(want) {
		t.Fatalf("%d events reported, want %d: %+v", len(rec.events), len(want), rec.events)
	}
	for i, got := range rec.events {
		if got.Duration <= 0 {
			t.Errorf("event %d (%s): duration %v, want > 0", i, got.Event, got.Duration)
		}
		got.Duration = 0
		if got != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got, want[i])
		}
		if !rec.sameCtx[i] {
			t.Errorf("event %d (%s): EventHandled did not get EventStart's context", i, got.Event)
		}
	}
	var names []string
	for _, w := range want {
		names = append(names, w.Event)
	}
	if !slices.Equal(rec.started, names) {
		t.Errorf("EventStart saw %q, want %q", rec.started, names)
	}
	if want := []wsgate.GuardDenial{{Event: "guarded", Code: wsgate.CodeForbidden}}; !slices.Equal(rec.denials, want) {
		t.Errorf("guard denials %+v, want %+v", rec.denials, want)
	}
}

// TestHooksConnectionsAndRefusals: a connection is reported opened and
// closed, with its close status, how long it lived and its queue; refused
// handshakes with their status and code.
func TestHooksConnectionsAndRefusals(t *testing.T) {
	t.Parallel()
	e, rec := hkSetup(t, wsgate.Options{})

	bad := e.dialOptions(e.token("alice"))
	bad.Origin = "https://evil.example"
	e.srv.Refused(bad)
	e.srv.Refused(e.dialOptions(""))
	e.srv.Refused(e.dialOptions("not-a-jwt"))

	c := e.dial("alice")
	wantOK(t, c.Request("echo", 1))
	c.Close()
	rec.wait(t, "the close reported", func() bool { return len(rec.closed) == 1 })

	server := e.dial("bob")
	server.Request("crash", nil)
	if err := e.gw.ToSubject("bob").Disconnect(4100, "bye"); err != nil {
		t.Fatal(err)
	}
	server.WaitClosed()
	rec.wait(t, "the second close reported", func() bool { return len(rec.closed) == 2 })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []wsgate.Refusal{
		{Status: 403, Code: wsgate.CodeOriginNotAllowed},
		{Status: 401, Code: wsgate.CodeUnauthorized},
		{Status: 401, Code: wsgate.CodeUnauthorized},
	}
	if !slices.Equal(rec.refused, want) {
		t.Errorf("refusals %+v, want %+v", rec.refused, want)
	}
	if len(rec.opened) != 2 || rec.opened[0] == rec.opened[1] {
		t.Errorf("opened %q, want two connections", rec.opened)
	}
	peer, own := rec.closed[0], rec.closed[1]
	if peer.Status.Code != wsgate.StatusNormalClosure || peer.Status.ByServer || peer.Duration <= 0 || peer.QueueDepth != 0 {
		t.Errorf("the client's close reported as %+v, want 1000 by the peer, a duration, an empty queue", peer)
	}
	if own.Status.Code != 4100 || own.Status.Reason != "bye" || !own.Status.ByServer {
		t.Errorf("the server's close reported as %+v, want 4100 bye by the server", own)
	}
}

// TestHooksRateLimited: an event over the rate is reported, and not as a
// handled event.
func TestHooksRateLimited(t *testing.T) {
	t.Parallel()
	e, rec := hkSetup(t, wsgate.Options{EventsPerSecond: 0.001, EventBurst: 1})
	c := e.dial("alice")
	wantOK(t, c.Request("echo", 1))
	for i := range 3 {
		if ack := c.Request("echo", i); ack.OK() || ack.Error.Code != wsgate.CodeRateLimited {
			t.Fatalf("request over the rate = %+v, want RATE_LIMITED", ack)
		}
	}
	rec.wait(t, "the echo reported", func() bool { return len(rec.events) == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.limited != 3 {
		t.Fatalf("RateLimited called %d times, want 3", rec.limited)
	}
}

// TestHooksTokenExpiryClose: a 4001 close is reported as such.
func TestHooksTokenExpiryClose(t *testing.T) {
	t.Parallel()
	e, rec := hkSetup(t, wsgate.Options{})
	c := e.dialToken(e.signer.ExpiringIn(t, "alice", 1500*time.Millisecond))
	wantClosed(t, c, wsgate.StatusTokenExpired, "token expired")
	rec.wait(t, "the close reported", func() bool { return len(rec.closed) == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if st := rec.closed[0].Status; st.Code != wsgate.StatusTokenExpired || !st.ByServer {
		t.Fatalf("close reported as %+v, want 4001 by the server", st)
	}
}

// TestHooksSlowConsumerQueueDepth: a connection closed for a full
// outbound queue reports 1013 and the frames that waited.
func TestHooksSlowConsumerQueueDepth(t *testing.T) {
	t.Parallel()
	const queue = 4
	// The write watchdog far away: only the full queue can close. The
	// peer never completes the close: CloseTimeout drops it soon.
	e, rec := hkSetup(t, wsgate.Options{OutboundQueue: queue, WriteTimeout: time.Hour, EventsPerSecond: -1,
		CloseTimeout: 100 * time.Millisecond})
	e.dialRaw("stuck") // never reads
	payload := strings.Repeat("y", 32<<10)
	eventually(t, "the stuck peer closed", func() bool {
		_ = e.gw.Broadcast("tick", payload)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.closed) == 1
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := rec.closed[0]
	if got.Status.Code != wsgate.StatusTryAgainLater {
		t.Fatalf("close reported as %+v, want 1013", got.Status)
	}
	if got.QueueDepth != queue {
		t.Fatalf("queue depth at close %d, want the full queue, %d", got.QueueDepth, queue)
	}
}

// TestHooksBroker: publications are reported with the Broker's error,
// deliveries with why one was dropped.
func TestHooksBroker(t *testing.T) {
	t.Parallel()
	bus := newMemoryBus()
	rec := &hkRecorder{}
	broker := bus.member()
	e := newRoomEnv(t, wsgate.Options{Broker: broker, Hooks: rec.hooks()})
	c := e.dial("alice")
	join(t, c, "r")

	if err := e.gw.To("r").Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("buffer full")
	broker.publishErr = refused
	if err := e.gw.To("r").Disconnect(wsgate.StatusPolicyViolation, "x"); !errors.Is(err, refused) {
		t.Fatalf("Disconnect = %v, want the Broker's error", err)
	}
	broker.publishErr = nil

	other := bus.member()
	for _, m := range []*wsgate.BrokerMessage{
		{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "from-other", Data: json.RawMessage(`2`)},
		{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "bad-json", Data: json.RawMessage(`{"a":`)},
		{Op: 0, Rooms: []string{"r"}},
		{Op: wsgate.OpDisconnect, Rooms: []string{"nobody"}, Code: 1005},
		{Op: wsgate.OpDisconnect, Rooms: []string{"nobody"}, Code: 1008, Reason: "ok"},
	} {
		if err := other.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	rec.wait(t, "five deliveries", func() bool { return len(rec.delivered) == 5 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// join's room join published nothing; the emit and the refused
	// disconnect did.
	if len(rec.published) != 2 || rec.published[0] != (wsgate.BrokerPublish{Op: wsgate.OpEmit}) ||
		rec.published[1].Op != wsgate.OpDisconnect || !errors.Is(rec.published[1].Err, refused) {
		t.Errorf("publications %+v, want an emit and a refused disconnect", rec.published)
	}
	ops := []wsgate.BrokerOp{wsgate.OpEmit, wsgate.OpEmit, 0, wsgate.OpDisconnect, wsgate.OpDisconnect}
	dropped := []bool{false, true, true, true, false}
	for i, d := range rec.delivered {
		if d.Op != ops[i] || (d.Err != nil) != dropped[i] {
			t.Errorf("delivery %d = %+v, want op %v dropped %v", i, d, ops[i], dropped[i])
		}
	}
	if s := wsgate.BrokerOp(0).String(); s != "unknown" {
		t.Errorf("BrokerOp(0) = %q, want a bounded label", s)
	}
}

// TestHooksBrokerLag: what one gateway publishes is stamped with the time
// of its publication, and the gateway that receives it reports the time
// from then to its receipt; a message with no stamp (from an older
// publisher) reports none.
func TestHooksBrokerLag(t *testing.T) {
	t.Parallel()
	bus := newMemoryBus()
	rec := &hkRecorder{}
	a := newRoomEnv(t, wsgate.Options{Broker: bus.member()})
	b := newRoomEnv(t, wsgate.Options{Broker: bus.member(), Hooks: rec.hooks()})
	c := b.dial("bob")
	join(t, c, "r")

	before := time.Now()
	if err := a.gw.To("r").Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.gw.ToSubject("nobody").Disconnect(wsgate.StatusPolicyViolation, "x"); err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	if ev := c.NextEvent(); ev.Name != "m" {
		t.Fatalf("bob on B got %q, want the emit from A", ev.Name)
	}
	other := bus.member()
	if err := other.Publish(context.Background(), &wsgate.BrokerMessage{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "old", Data: json.RawMessage(`2`)}); err != nil {
		t.Fatal(err)
	}
	if ev := c.NextEvent(); ev.Name != "old" {
		t.Fatalf("bob on B got %q, want the unstamped emit", ev.Name)
	}
	rec.wait(t, "three deliveries", func() bool { return len(rec.delivered) == 3 })
	// Every receipt came before now: the lag of a stamped message is at
	// most the time since its emit began.
	bound := time.Since(before)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, d := range rec.delivered[:2] {
		if d.Err != nil {
			t.Errorf("delivery %d dropped: %v", i, d.Err)
		}
		if d.Sent.Before(before) || d.Sent.After(published) {
			t.Errorf("delivery %d (%v) Sent %v, want the time of its publication, between %v and %v", i, d.Op, d.Sent, before, published)
		}
		if d.Lag < 0 || d.Lag > bound {
			t.Errorf("delivery %d (%v) Lag %v, want from 0 to %v", i, d.Op, d.Lag, bound)
		}
	}
	if ops := []wsgate.BrokerOp{rec.delivered[0].Op, rec.delivered[1].Op}; ops[0] != wsgate.OpEmit || ops[1] != wsgate.OpDisconnect {
		t.Errorf("deliveries %v, want an emit and a disconnect", ops)
	}
	if d := rec.delivered[2]; !d.Sent.IsZero() || d.Lag != 0 || d.Err != nil {
		t.Errorf("the unstamped message's delivery = %+v, want no Sent and no Lag", d)
	}
}

// TestJoinHooks: joined hooks all run, in order, and EventStart threads
// its context through them.
func TestJoinHooks(t *testing.T) {
	t.Parallel()
	var order []string
	type key string
	mk := func(name string) wsgate.Hooks {
		return wsgate.Hooks{
			RateLimited: func(*wsgate.Conn) { order = append(order, name) },
			EventStart: func(ctx context.Context, _ *wsgate.Conn, _ string) context.Context {
				prev, _ := ctx.Value(key("v")).(string)
				return context.WithValue(ctx, key("v"), prev+name)
			},
		}
	}
	j := wsgate.JoinHooks(mk("a"), wsgate.Hooks{}, mk("b"))
	j.RateLimited(nil)
	if !slices.Equal(order, []string{"a", "b"}) {
		t.Fatalf("joined RateLimited ran %q, want a then b", order)
	}
	if v := j.EventStart(context.Background(), nil, "e").Value(key("v")); v != "ab" {
		t.Fatalf("joined EventStart gave %v, want ab", v)
	}
	if j.ConnOpened != nil || j.EventHandled != nil {
		t.Fatal("joining no hook of a kind made one")
	}
}

// BenchmarkRoundTripHooks is BenchmarkRoundTrip's in-memory round trip
// with no hooks, with every hook set to a function that does nothing, and
// with the hooks' data read as a metrics backend would.
//
//	go test -run '^$' -bench 'RoundTripHooks' -benchmem -count 5 .
func BenchmarkRoundTripHooks(b *testing.B) {
	nop := wsgate.Hooks{
		ConnOpened:       func(*wsgate.Conn) {},
		ConnClosed:       func(*wsgate.Conn, wsgate.CloseInfo) {},
		HandshakeRefused: func(*http.Request, wsgate.Refusal) {},
		EventStart:       func(ctx context.Context, _ *wsgate.Conn, _ string) context.Context { return ctx },
		EventHandled:     func(context.Context, *wsgate.Conn, wsgate.EventInfo) {},
		GuardDenied:      func(*wsgate.Conn, wsgate.GuardDenial) {},
		RateLimited:      func(*wsgate.Conn) {},
		BrokerPublished:  func(wsgate.BrokerPublish) {},
		BrokerDelivered:  func(wsgate.BrokerDelivery) {},
	}
	for _, bc := range []struct {
		name  string
		hooks wsgate.Hooks
	}{{"none", wsgate.Hooks{}}, {"nop", nop}} {
		b.Run(bc.name, func(b *testing.B) {
			gw := benchGatewayWith(b, bc.hooks)
			srv := wsgatetest.NewServer(b, gw)
			ws := benchDial(b, benchServer{url: srv.URL, client: srv.HTTPClient()}, benchToken(b))
			defer ws.CloseNow()
			ctx := context.Background()
			msg := []byte(`{"event":"echo","data":{"n":42,"s":"hello"},"id":1}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := ws.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHooksThatPanic: a hook that panics is logged with its name and costs
// its own report only. Handshakes are still answered, events handled and
// answered, limits applied, emits delivered across the Broker, and a
// connection that ends is torn down and reported to OnDisconnect, in both
// handler modes.
func TestHooksThatPanic(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("HandlerConcurrency=%d", concurrency), func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			boom := func(hook string) { panic("boom in " + hook) }
			bus := newMemoryBus()
			opts := wsgate.Options{
				HandlerConcurrency: concurrency,
				EventsPerSecond:    0.001,
				EventBurst:         4,
				MaxRateViolations:  -1,
				Logger:             logs.logger(),
				Broker:             bus.member(),
				Hooks: wsgate.Hooks{
					ConnOpened:       func(*wsgate.Conn) { boom("ConnOpened") },
					ConnClosed:       func(*wsgate.Conn, wsgate.CloseInfo) { boom("ConnClosed") },
					HandshakeRefused: func(*http.Request, wsgate.Refusal) { boom("HandshakeRefused") },
					EventStart: func(context.Context, *wsgate.Conn, string) context.Context {
						boom("EventStart")
						return nil
					},
					EventHandled:    func(context.Context, *wsgate.Conn, wsgate.EventInfo) { boom("EventHandled") },
					GuardDenied:     func(*wsgate.Conn, wsgate.GuardDenial) { boom("GuardDenied") },
					RateLimited:     func(*wsgate.Conn) { boom("RateLimited") },
					BrokerPublished: func(wsgate.BrokerPublish) { boom("BrokerPublished") },
					BrokerDelivered: func(wsgate.BrokerDelivery) { boom("BrokerDelivered") },
				},
			}
			gone := recordDisconnects(&opts)
			e := newRoomEnv(t, opts)
			e.gw.Handle("guarded", func(*wsgate.Context) (any, error) { return "unreachable", nil },
				wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.Allow(func(*wsgate.Context) bool { return false })}})

			he := e.srv.Refused(e.dialOptions("not-a-jwt"))
			wantRefusal(t, he, http.StatusUnauthorized, "invalid token")

			c := e.dial("alice")
			join(t, c, "r")                                         // event 1
			if got := wantOK(t, c.Request("echo", 7)); got != "7" { // event 2
				t.Fatalf("echo answered %s, want 7", got)
			}
			wantCode(t, c.Request("guarded", nil), wsgate.CodeForbidden) // event 3
			if err := e.gw.To("r").Emit("news", 1); err != nil {         // published
				t.Fatal(err)
			}
			if ev := c.WaitEvent("news"); string(ev.Data) != "1" {
				t.Fatalf("news carried %s, want 1", ev.Data)
			}
			other := bus.member()
			if err := other.Publish(context.Background(), &wsgate.BrokerMessage{
				Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "relayed", Data: json.RawMessage(`2`),
			}); err != nil {
				t.Fatal(err)
			}
			if ev := c.WaitEvent("relayed"); string(ev.Data) != "2" {
				t.Fatalf("relayed carried %s, want 2", ev.Data)
			}
			wantOK(t, c.Request("echo", 4))                           // event 4: the burst's last
			wantCode(t, c.Request("echo", 5), wsgate.CodeRateLimited) // over the rate
			c.Close()
			if d := wantGone(t, e.gw, gone); d.subject != "alice" || d.status.Code != wsgate.StatusNormalClosure {
				t.Fatalf("OnDisconnect saw %+v, want alice's normal close", d)
			}

			for _, hook := range []string{"ConnOpened", "ConnClosed", "HandshakeRefused", "EventStart",
				"EventHandled", "GuardDenied", "RateLimited", "BrokerPublished", "BrokerDelivered"} {
				want := "hook=" + hook + " panic=\"boom in " + hook + "\""
				eventually(t, hook+"'s panic logged", func() bool { return strings.Contains(logs.String(), want) })
			}
		})
	}
}
