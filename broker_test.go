package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// memoryBus joins the gateways of one test as if they ran in separate
// processes: a test double for the transport (redisbroker is tested against
// a real Redis in its own module). Each member's publications reach every
// other subscribed member, in the order they were published, on one
// goroutine per subscriber; never the publisher itself. After each
// delivery the member scribbles over the message, so that a gateway that
// kept any of it past deliver's return would send garbage.
type memoryBus struct {
	mu      sync.Mutex
	members []*busMember
}

func newMemoryBus() *memoryBus { return &memoryBus{} }

// member returns a new Broker on the bus.
func (b *memoryBus) member() *busMember {
	m := &busMember{bus: b, done: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	b.mu.Lock()
	b.members = append(b.members, m)
	b.mu.Unlock()
	return m
}

type busMember struct {
	bus  *memoryBus
	done chan struct{}

	publishErr   error // Publish fails with it when set
	subscribeErr error // Subscribe fails with it when set
	published    atomic.Int32
	stops        atomic.Int32

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []*wsgate.BrokerMessage
	subscribed bool
	stopped    bool
}

func (m *busMember) Publish(_ context.Context, msg *wsgate.BrokerMessage) error {
	if m.publishErr != nil {
		return m.publishErr
	}
	m.published.Add(1)
	cp := copyMessage(msg) // msg is not ours past the return
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	for _, other := range m.bus.members {
		if other != m {
			other.enqueue(copyMessage(cp))
		}
	}
	return nil
}

func (m *busMember) enqueue(msg *wsgate.BrokerMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subscribed && !m.stopped {
		m.queue = append(m.queue, msg)
		m.cond.Signal()
	}
}

func (m *busMember) Subscribe(deliver func(*wsgate.BrokerMessage)) (func(), error) {
	if m.subscribeErr != nil {
		return nil, m.subscribeErr
	}
	m.mu.Lock()
	m.subscribed = true
	m.mu.Unlock()
	go func() {
		defer close(m.done)
		for {
			m.mu.Lock()
			for len(m.queue) == 0 && !m.stopped {
				m.cond.Wait()
			}
			if m.stopped {
				m.mu.Unlock()
				return
			}
			msg := m.queue[0]
			m.queue = m.queue[1:]
			m.mu.Unlock()
			deliver(msg)
			scribble(msg)
		}
	}()
	stop := func() {
		m.mu.Lock()
		m.stopped = true
		m.cond.Broadcast()
		m.mu.Unlock()
		<-m.done
		m.stops.Add(1)
	}
	return stop, nil
}

func copyMessage(m *wsgate.BrokerMessage) *wsgate.BrokerMessage {
	cp := *m
	cp.Rooms = slices.Clone(m.Rooms)
	cp.Subjects = slices.Clone(m.Subjects)
	cp.Except = slices.Clone(m.Except)
	cp.Data = slices.Clone(m.Data)
	return &cp
}

func scribble(m *wsgate.BrokerMessage) {
	for i := range m.Data {
		m.Data[i] = '!'
	}
	for i := range m.Rooms {
		m.Rooms[i] = "scribbled"
	}
	for i := range m.Subjects {
		m.Subjects[i] = "scribbled"
	}
	m.Event = "scribbled"
}

// joinedPair is two gateways joined by a bus, each with its OnConnect
// recorder.
func joinedPair(t *testing.T, opts wsgate.Options) (a, b *env, connsA, connsB <-chan *wsgate.Conn) {
	t.Helper()
	bus := newMemoryBus()
	optsA, optsB := opts, opts
	optsA.Broker, optsB.Broker = bus.member(), bus.member()
	connsA, connsB = recordConnects(&optsA), recordConnects(&optsB)
	return newRoomEnv(t, optsA), newRoomEnv(t, optsB), connsA, connsB
}

// TestBrokerRoomEmitAcrossGateways: a room emit made on one gateway
// reaches the members on both, once each, and nobody else.
func TestBrokerRoomEmitAcrossGateways(t *testing.T) {
	t.Parallel()
	a, b, _, _ := joinedPair(t, wsgate.Options{})
	alice, bob, carol := a.dial("alice"), b.dial("bob"), b.dial("carol")
	join(t, alice, "chat")
	join(t, bob, "chat", "more")

	// A's fence travels behind A's emit; B's behind B's.
	must(t, a.gw.To("chat", "more").Emit("msg", map[string]string{"text": "hi"}))
	fence(t, a.gw)
	wantEventsBeforeFence(t, alice, "alice on A", `msg {"text":"hi"}`)
	wantEventsBeforeFence(t, bob, "bob on B, in both rooms", `msg {"text":"hi"}`)
	wantEventsBeforeFence(t, carol, "carol on B, in no room")

	must(t, b.gw.To("chat").Emit("msg", "from b"))
	fence(t, b.gw)
	wantEventsBeforeFence(t, alice, "alice on A", `msg "from b"`)
	wantEventsBeforeFence(t, bob, "bob on B", `msg "from b"`)
	wantEventsBeforeFence(t, carol, "carol on B")

	// Nothing came back to its publisher late: one more fence from each
	// side finds nothing before it.
	fence(t, a.gw)
	fence(t, b.gw)
	for _, c := range []*wsgatetest.Client{alice, bob, carol} {
		wantEventsBeforeFence(t, c, "a client, after the emits")
		wantEventsBeforeFence(t, c, "a client, after the emits")
	}
	if n := a.gw.RoomSize("chat"); n != 1 {
		t.Fatalf("A's RoomSize(chat) = %d, want 1: it counts its own members only", n)
	}
}

// TestBrokerExceptAcrossGateways: the sender is skipped everywhere, and a
// connection of B can be excepted from an emit made on A.
func TestBrokerExceptAcrossGateways(t *testing.T) {
	t.Parallel()
	a, b, _, connsB := joinedPair(t, wsgate.Options{})
	alice := a.dial("alice")
	bob := b.dial("bob")
	bobConn := recv(t, connsB, "bob's OnConnect")
	dave := b.dial("dave")
	recv(t, connsB, "dave's OnConnect")
	for _, c := range []*wsgatetest.Client{alice, bob, dave} {
		join(t, c, "chat")
	}

	wantOK(t, alice.Request("say", sayInput{"chat", "hello"})) // To(chat).Except(sender)
	fence(t, a.gw)
	wantEventsBeforeFence(t, alice, "the sender")
	wantEventsBeforeFence(t, bob, "bob on B", `said "hello"`)
	wantEventsBeforeFence(t, dave, "dave on B", `said "hello"`)

	must(t, a.gw.To("chat").Except(bobConn).Emit("not-bob", nil))
	must(t, a.gw.Everyone().Except(bobConn).Emit("all-but-bob", nil))
	fence(t, a.gw)
	wantEventsBeforeFence(t, alice, "alice on A", `not-bob null`, `all-but-bob null`)
	wantEventsBeforeFence(t, bob, "bob on B, excepted from A")
	wantEventsBeforeFence(t, dave, "dave on B", `not-bob null`, `all-but-bob null`)
}

// TestBrokerSubjectAcrossGateways: a user on both gateways is reached, and
// logged out, from either.
func TestBrokerSubjectAcrossGateways(t *testing.T) {
	t.Parallel()
	a, b, _, _ := joinedPair(t, wsgate.Options{})
	aliceA, aliceB, bob := a.dial("alice"), b.dial("alice"), b.dial("bob")

	must(t, a.gw.ToSubject("alice").Emit("notice", "hi alice"))
	fence(t, a.gw)
	wantEventsBeforeFence(t, aliceA, "alice on A", `notice "hi alice"`)
	wantEventsBeforeFence(t, aliceB, "alice on B", `notice "hi alice"`)
	wantEventsBeforeFence(t, bob, "bob on B")

	must(t, a.gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"))
	wantClosed(t, aliceA, wsgate.StatusPolicyViolation, "logged out")
	wantClosed(t, aliceB, wsgate.StatusPolicyViolation, "logged out")
	wantOK(t, bob.Request("echo", 1))
}

// TestBrokerDisconnectAndBroadcastAcrossGateways: a room disconnect made
// on B closes A's members; a broadcast on A reaches B's connections.
func TestBrokerDisconnectAndBroadcastAcrossGateways(t *testing.T) {
	t.Parallel()
	a, b, _, _ := joinedPair(t, wsgate.Options{})
	onA, onB, kept := a.dial("x"), b.dial("y"), a.dial("z")
	join(t, onA, "doomed")
	join(t, onB, "doomed")

	must(t, a.gw.Broadcast("hello", 1))
	fence(t, a.gw)
	for _, c := range []*wsgatetest.Client{onA, onB, kept} {
		wantEventsBeforeFence(t, c, "a client", `hello 1`)
	}
	must(t, b.gw.To("doomed").Disconnect(wsgate.StatusPolicyViolation, "revoked"))
	wantClosed(t, onA, wsgate.StatusPolicyViolation, "revoked")
	wantClosed(t, onB, wsgate.StatusPolicyViolation, "revoked")
	wantOK(t, kept.Request("echo", 1))
}

// TestBrokerPublishErrorIsReturned: an emit the Broker refuses is reported
// to the caller; the local connections have been served all the same.
func TestBrokerPublishErrorIsReturned(t *testing.T) {
	t.Parallel()
	refused := errors.New("buffer full")
	broker := newMemoryBus().member()
	broker.publishErr = refused
	e := newRoomEnv(t, wsgate.Options{Broker: broker})
	c := e.dial("alice")
	join(t, c, "r")

	for name, err := range map[string]error{
		"room emit":       e.gw.To("r").Emit("m", 1),
		"subject emit":    e.gw.ToSubject("alice").Emit("m", 2),
		"broadcast":       e.gw.Broadcast("m", 3),
		"room disconnect": e.gw.To("nobody-here").Disconnect(wsgate.StatusPolicyViolation, "x"),
	} {
		if !errors.Is(err, refused) {
			t.Errorf("%s: %v, want the Broker's error", name, err)
		}
	}
	// Nothing to publish, nothing to refuse.
	if err := e.gw.To().Emit("m", 0); err != nil {
		t.Errorf("an emit to no room: %v", err)
	}
	broker.publishErr = nil
	fence(t, e.gw)
	wantEventsBeforeFence(t, c, "the local member", `m 1`, `m 2`, `m 3`)
}

func TestBrokerSubscribeAndStop(t *testing.T) {
	t.Parallel()
	failing := newMemoryBus().member()
	failing.subscribeErr = errors.New("no route to broker")
	if _, err := wsgate.New(wsgate.Options{Broker: failing}); err == nil || !strings.Contains(err.Error(), "no route to broker") {
		t.Fatalf("New with a Broker that cannot subscribe: %v, want its error", err)
	}

	bus := newMemoryBus()
	broker := bus.member()
	gw, err := wsgate.New(wsgate.Options{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		must(t, gw.Shutdown(context.Background()))
	}
	if n := broker.stops.Load(); n != 1 {
		t.Fatalf("two Shutdowns called stop %d times, want once", n)
	}
	// Emits after Shutdown still reach the other processes.
	must(t, gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"))
	if n := broker.published.Load(); n != 1 {
		t.Fatalf("published %d messages after Shutdown, want 1", n)
	}
}

// TestBrokerBadMessagesAreDroppedAndLogged: what no client could be sent
// is dropped with a log line; the deliveries go on.
func TestBrokerBadMessagesAreDroppedAndLogged(t *testing.T) {
	t.Parallel()
	bus := newMemoryBus()
	var log logBuffer
	e := newRoomEnv(t, wsgate.Options{Broker: bus.member(), Logger: log.logger()})
	c := e.dial("alice")
	join(t, c, "r")
	other := bus.member() // another process, as seen from the bus

	for _, m := range []*wsgate.BrokerMessage{
		{Op: 0, Rooms: []string{"r"}, Event: "unknown-op", Data: json.RawMessage(`1`)},
		{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "bad-json", Data: json.RawMessage(`{"a":`)},
		{Op: wsgate.OpDisconnect, Rooms: []string{"r"}, Code: 1005, Reason: "bad code"},
		{Op: wsgate.OpDisconnect, Rooms: []string{"r"}, Code: 1008, Reason: strings.Repeat("r", 200)},
		{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: "no-data"},
		{Op: wsgate.OpEmit, Event: "fence", Data: json.RawMessage(`null`)},
	} {
		must(t, other.Publish(context.Background(), m))
	}
	wantEventsBeforeFence(t, c, "alice", `no-data null`)
	for _, want := range []string{"unknown operation", "not valid JSON", "close code 1005", "close reason of 200 bytes"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	wantOK(t, c.Request("echo", 1))
}

// benchRoom is a gateway with n anonymous connections, all in "room",
// each read by a goroutine that counts the frames it receives.
type benchRoom struct {
	gw    *wsgate.Gateway
	conns []*wsgate.Conn
	got   atomic.Int64
	want  atomic.Int64
	done  chan struct{}
}

func newBenchRoom(b *testing.B, n int, broker wsgate.Broker) *benchRoom {
	b.Helper()
	r := &benchRoom{done: make(chan struct{}, 1)}
	var mu sync.Mutex
	gw, err := wsgate.New(wsgate.Options{
		AllowMissingOrigin: true, EventsPerSecond: -1, MaxConnections: -1, Broker: broker,
		PingInterval: -1, // no keepalive traffic in the measurement
		Logger:       quietLogger(),
		OnConnect: func(c *wsgate.Conn) {
			_ = c.Join("room")
			mu.Lock()
			r.conns = append(r.conns, c)
			mu.Unlock()
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	r.gw = gw
	srv := wsgatetest.NewServer(b, gw)
	var readers sync.WaitGroup
	var clients []*websocket.Conn
	b.Cleanup(func() {
		for _, ws := range clients {
			_ = ws.CloseNow()
		}
		readers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.HTTPClient()})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, ws)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, rd, err := ws.Reader(context.Background())
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, rd); err != nil {
					return
				}
				if r.got.Add(1) == r.want.Load() {
					r.done <- struct{}{}
				}
			}
		}()
	}
	for gw.RoomSize("room") < n {
		time.Sleep(time.Millisecond)
	}
	return r
}

// run times emit until every member has read the frame it sent.
func (r *benchRoom) run(b *testing.B, emit func() error) {
	n := int64(len(r.conns))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.want.Store(r.got.Load() + n)
		if err := emit(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d frames read after a minute", r.got.Load()-(r.want.Load()-n), n)
		}
	}
}

// BenchmarkRoomEmit is one emit fanned out to a room of 1, 100 and 10 000
// in-memory connections, timed until every member has read it:
//
//	room           gw.To("room").Emit, no Broker (the default)
//	room+broker    the same with a Broker that accepts every message
//	everyone       gw.Broadcast to the same connections
//	conn-by-conn   Conn.Emit on each member: what a server without rooms does
//
// The 10 000 members are skipped with -short.
//
//	go test -run '^$' -bench RoomEmit -benchmem .
func BenchmarkRoomEmit(b *testing.B) {
	payload := sayInput{Room: "room", Text: "a message of an ordinary length for a chat"}
	for _, n := range []int{1, 100, 10_000} {
		if n > 100 && testing.Short() {
			continue
		}
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			local := newBenchRoom(b, n, nil)
			brokered := newBenchRoom(b, n, nopBroker{})
			b.Run("room", func(b *testing.B) {
				local.run(b, func() error { return local.gw.To("room").Emit("message", payload) })
			})
			b.Run("room+broker", func(b *testing.B) {
				brokered.run(b, func() error { return brokered.gw.To("room").Emit("message", payload) })
			})
			b.Run("everyone", func(b *testing.B) {
				local.run(b, func() error { return local.gw.Broadcast("message", payload) })
			})
			b.Run("conn-by-conn", func(b *testing.B) {
				local.run(b, func() error {
					for _, c := range local.conns {
						if err := c.Emit("message", payload); err != nil {
							return err
						}
					}
					return nil
				})
			})
		})
	}
}
