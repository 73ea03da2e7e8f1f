package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Helpers of rooms_test.go and broker_test.go start with "rm".

type rmRoom struct {
	Room string `json:"room"`
}

type rmSay struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// rmSetup is limSetup with room events, and a Shutdown at the end of the
// test (which ends a Broker's subscription):
//
//	join {room} → Join          leave {room} → Leave
//	rooms → Conn.Rooms()        say {room, text} → "said" to the room but the sender
func rmSetup(t *testing.T, opts wsgate.Options) *limEnv {
	t.Helper()
	e := limSetup(t, opts, 0)
	gw := e.gw
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), limWait)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	roomErr := func(err error) error {
		if errors.Is(err, wsgate.ErrInvalidRoom) {
			return &wsgate.Error{Code: wsgate.CodeInvalidData, Message: err.Error()}
		}
		return err
	}
	wsgate.On(gw, "join", func(c *wsgate.Context, in rmRoom) (any, error) {
		return nil, roomErr(c.Conn().Join(in.Room))
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "leave", func(c *wsgate.Context, in rmRoom) (any, error) {
		return nil, roomErr(c.Conn().Leave(in.Room))
	}, wsgate.HandlerOptions{})
	gw.Handle("rooms", func(c *wsgate.Context) (any, error) {
		return c.Conn().Rooms(), nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "say", func(c *wsgate.Context, in rmSay) (any, error) {
		return nil, gw.To(in.Room).Except(c.Conn()).Emit("said", in.Text)
	}, wsgate.HandlerOptions{})
	return e
}

// rmJoin makes c join rooms and waits for the acks.
func rmJoin(t *testing.T, c *wsgatetest.Client, rooms ...string) {
	t.Helper()
	for _, room := range rooms {
		limWantOK(t, c.Request("join", rmRoom{room}))
	}
}

// rmFence broadcasts a "fence" event. What was emitted to a connection
// before it is queued ahead of it, so a client whose next events end with
// the fence has received all of them, and nothing else.
func rmFence(t *testing.T, gw *wsgate.Gateway) {
	t.Helper()
	if err := gw.Broadcast("fence", nil); err != nil {
		t.Fatal(err)
	}
}

// rmWantEvents fails the test unless c's next events, up to and including
// the fence, are exactly want (names and, for each, its data as a JSON
// string), then the fence.
func rmWantEvents(t *testing.T, c *wsgatetest.Client, who string, want ...string) {
	t.Helper()
	var got []string
	for {
		ev := c.NextEvent()
		if ev.Name == "fence" {
			break
		}
		got = append(got, ev.Name+" "+string(ev.Data))
		if len(got) > len(want)+10 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s received %q before the fence, want %q", who, got, want)
	}
}

// rmConns records every connection OnConnect sees, by subject.
func rmConns(opts *wsgate.Options) <-chan *wsgate.Conn {
	ch := make(chan *wsgate.Conn, 64)
	prev := opts.OnConnect
	opts.OnConnect = func(c *wsgate.Conn) {
		if prev != nil {
			prev(c)
		}
		ch <- c
	}
	return ch
}

func TestRoomJoinAndLeaveFromHandler(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	alice, bob, carol := e.dial("alice"), e.dial("bob"), e.dial("carol")
	rmJoin(t, alice, "x", "a")
	rmJoin(t, bob, "a", "a") // twice: still one membership
	if n := e.gw.RoomSize("a"); n != 2 {
		t.Fatalf("RoomSize(a) = %d, want 2", n)
	}
	ack := alice.Request("rooms", nil)
	limWantOK(t, ack)
	if string(ack.Data) != `["a","x"]` {
		t.Fatalf("alice's rooms = %s, want [\"a\",\"x\"] (sorted)", ack.Data)
	}

	if err := e.gw.To("a").Emit("news", "one"); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "alice", `news "one"`)
	rmWantEvents(t, bob, "bob", `news "one"`)
	rmWantEvents(t, carol, "carol (in no room)")

	limWantOK(t, bob.Request("leave", rmRoom{"a"}))
	limWantOK(t, bob.Request("leave", rmRoom{"never-joined"}))
	if n := e.gw.RoomSize("a"); n != 1 {
		t.Fatalf("RoomSize(a) after bob left = %d, want 1", n)
	}
	if err := e.gw.To("a").Emit("news", "two"); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "alice", `news "two"`)
	rmWantEvents(t, bob, "bob, who left")
}

// TestRoomJoinFromOnConnectAndServerCode: OnConnect joins every connection
// to its user's room; server code holding a *Conn joins it to another.
func TestRoomJoinFromOnConnectAndServerCode(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{OnConnect: func(c *wsgate.Conn) {
		if err := c.Join("lobby", "user:"+c.Principal().Subject); err != nil {
			panic(err)
		}
	}}
	conns := rmConns(&opts)
	e := rmSetup(t, opts)
	alice := e.dial("alice")
	conn := recv(t, conns, "OnConnect")
	if !conn.InRoom("lobby") || !conn.InRoom("user:alice") || conn.InRoom("user:bob") {
		t.Fatalf("after OnConnect: rooms %q", conn.Rooms())
	}

	// From another goroutine, as a server's own code would.
	joined := make(chan error, 1)
	go func() { joined <- conn.Join("ops") }()
	if err := recv(t, joined, "Join from a goroutine"); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"lobby", "user:alice", "ops"} {
		if err := e.gw.To(room).Emit("to", room); err != nil {
			t.Fatal(err)
		}
	}
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "alice", `to "lobby"`, `to "user:alice"`, `to "ops"`)
	if got := conn.Rooms(); !slices.Equal(got, []string{"lobby", "ops", "user:alice"}) {
		t.Fatalf("Rooms() = %q", got)
	}
}

// TestRoomMembershipEndsWithConnection: many connections join many rooms
// and go, by every way a connection ends; the gateway's tables are empty
// afterwards and an ended connection can join nothing.
func TestRoomMembershipEndsWithConnection(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{MaxConnectionsPerSubject: -1}
	gone := limRecordDisconnects(&opts)
	conns := rmConns(&opts)
	e := rmSetup(t, opts)

	const n = 24
	var ended []*wsgate.Conn
	for i := range n {
		c := e.dial(fmt.Sprintf("user%d", i%5))
		conn := recv(t, conns, "OnConnect")
		ended = append(ended, conn)
		rmJoin(t, c, "all", fmt.Sprintf("r%d", i%7), fmt.Sprintf("solo%d", i))
		if err := conn.Join("server-side"); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			c.Close() // by the client
		case 1:
			conn.Close(wsgate.StatusNormalClosure, "bye") // by the server
		case 2:
			if err := e.gw.To(fmt.Sprintf("solo%d", i)).Disconnect(wsgate.StatusPolicyViolation, "revoked"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range n {
		recv(t, gone, "every connection to end")
	}
	if rooms, subjects := wsgate.RoomTables(e.gw); rooms != 0 || subjects != 0 {
		t.Fatalf("after every connection ended the index holds %d rooms and %d subjects, want none", rooms, subjects)
	}
	for _, room := range []string{"all", "r0", "server-side"} {
		if size := e.gw.RoomSize(room); size != 0 {
			t.Fatalf("RoomSize(%s) = %d", room, size)
		}
	}
	for _, conn := range ended {
		if err := conn.Join("late"); !errors.Is(err, wsgate.ErrClosed) {
			t.Fatalf("Join after the end: %v, want ErrClosed", err)
		}
		if got := conn.Rooms(); len(got) != 0 {
			t.Fatalf("an ended connection's rooms: %q", got)
		}
	}
	if rooms, _ := wsgate.RoomTables(e.gw); rooms != 0 {
		t.Fatalf("a late Join left %d rooms behind", rooms)
	}
}

// TestRoomEmitEachConnectionOnce: a connection in several of the targeted
// rooms, and of a targeted subject, gets one event.
func TestRoomEmitEachConnectionOnce(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	both, onlyB, alice, other := e.dial("x"), e.dial("y"), e.dial("alice"), e.dial("z")
	rmJoin(t, both, "a", "b")
	rmJoin(t, onlyB, "b")
	rmJoin(t, alice, "b")
	rmJoin(t, other, "c")

	if err := e.gw.To("a", "b", "a").ToSubject("alice", "x", "alice").Emit("msg", 1); err != nil {
		t.Fatal(err)
	}
	// Chaining To is a union too.
	if err := e.gw.To("c").To("a").Emit("msg", 2); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, both, "the member of a and b, of subject x", `msg 1`, `msg 2`)
	rmWantEvents(t, onlyB, "the member of b", `msg 1`)
	rmWantEvents(t, alice, "alice, in b", `msg 1`)
	rmWantEvents(t, other, "the member of c", `msg 2`)
}

// TestRoomEmitExceptSender: NestJS's client.to(room).emit.
func TestRoomEmitExceptSender(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	alice, bob, carol := e.dial("alice"), e.dial("bob"), e.dial("carol")
	rmJoin(t, alice, "chat")
	rmJoin(t, bob, "chat")
	limWantOK(t, alice.Request("say", rmSay{"chat", "hi"}))
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "the sender")
	rmWantEvents(t, bob, "bob", `said "hi"`)
	rmWantEvents(t, carol, "carol, not in the room")
}

func TestEveryoneExceptAndBroadcast(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	conns := rmConns(&opts)
	e := rmSetup(t, opts)
	alice := e.dial("alice")
	aliceConn := recv(t, conns, "OnConnect")
	bob := e.dial("bob")
	recv(t, conns, "OnConnect")

	if err := e.gw.Everyone().Except(aliceConn, nil).Emit("all-but-alice", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Broadcast("all", nil); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "alice", `all null`)
	rmWantEvents(t, bob, "bob", `all-but-alice null`, `all null`)

	if err := e.gw.Broadcast("bad", func() {}); err == nil {
		t.Fatal("Broadcast of a value encoding/json refuses: no error")
	}
	if err := e.gw.Everyone().Except(aliceConn).Disconnect(wsgate.StatusGoingAway, "maintenance"); err != nil {
		t.Fatal(err)
	}
	limWantClosed(t, bob, wsgate.StatusGoingAway, "maintenance")
	limWantOK(t, alice.Request("echo", 1))
}

// TestSubjectEmitAndDisconnect: a user on every device, and logout.
func TestSubjectEmitAndDisconnect(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	phone, laptop, bob := e.dial("alice"), e.dial("alice"), e.dial("bob")
	anonymousRoom := e.dial("carol")
	rmJoin(t, anonymousRoom, "alice") // a room named like a subject is another thing

	if err := e.gw.ToSubject("alice").Emit("notice", "for alice"); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, phone, "alice's phone", `notice "for alice"`)
	rmWantEvents(t, laptop, "alice's laptop", `notice "for alice"`)
	rmWantEvents(t, bob, "bob")
	rmWantEvents(t, anonymousRoom, "carol, in the room called alice")

	if err := e.gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"); err != nil {
		t.Fatal(err)
	}
	limWantClosed(t, phone, wsgate.StatusPolicyViolation, "logged out")
	limWantClosed(t, laptop, wsgate.StatusPolicyViolation, "logged out")
	limWantOK(t, bob.Request("echo", 1))
	limWantOK(t, anonymousRoom.Request("echo", 1))
}

// TestSubjectIndexFollowsRefresh: after a $refresh the connection is still
// found by its subject, once, and leaves the index when it ends.
func TestSubjectIndexFollowsRefresh(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	gone := limRecordDisconnects(&opts)
	e := rmSetup(t, opts)
	alice := e.dial("alice")
	ack := alice.Request(wsgate.RefreshEvent, map[string]string{"token": e.signer.Token(t, "alice", map[string]any{"v": 2})})
	limWantOK(t, ack)
	ack = alice.Request(wsgate.RefreshEvent, map[string]string{"token": e.signer.Token(t, "mallory", nil)})
	limWantCode(t, ack, wsgate.CodeForbidden)

	for _, subject := range []string{"alice", "mallory"} {
		if err := e.gw.ToSubject(subject).Emit("for", subject); err != nil {
			t.Fatal(err)
		}
	}
	rmFence(t, e.gw)
	rmWantEvents(t, alice, "alice, refreshed", `for "alice"`)

	alice.Close()
	recv(t, gone, "alice's end")
	if _, subjects := wsgate.RoomTables(e.gw); subjects != 0 {
		t.Fatalf("%d subjects left in the index", subjects)
	}
}

// TestRoomDisconnect: NestJS's server.in(room).disconnectSockets.
func TestRoomDisconnect(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	a1, a2, out := e.dial("a1"), e.dial("a2"), e.dial("out")
	rmJoin(t, a1, "doomed")
	rmJoin(t, a2, "doomed")
	rmJoin(t, out, "kept")
	if err := e.gw.To("doomed").Disconnect(wsgate.StatusPolicyViolation, "revoked"); err != nil {
		t.Fatal(err)
	}
	limWantClosed(t, a1, wsgate.StatusPolicyViolation, "revoked")
	limWantClosed(t, a2, wsgate.StatusPolicyViolation, "revoked")
	limWantOK(t, out.Request("echo", 1))
	limEventually(t, "the room to empty", func() bool { return e.gw.RoomSize("doomed") == 0 })
}

func TestRoomNamesValidated(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	conns := rmConns(&opts)
	e := rmSetup(t, opts)
	c := e.dial("alice")
	conn := recv(t, conns, "OnConnect")

	longest := strings.Repeat("é", wsgate.MaxRoomLen/2) // 128 bytes
	for _, good := range []string{"a", longest, "room with spaces", "日本", "user:alice"} {
		if err := conn.Join(good); err != nil {
			t.Errorf("Join(%q): %v", good, err)
		}
	}
	bad := map[string]string{
		"":             "empty",
		longest + "x":  "longer than 128",
		"bad\xffutf8":  "not valid UTF-8",
		"new\nline":    "control character",
		"nul\x00":      "control character",
		"del\x7f":      "control character",
		"c1\u0085next": "control character",
	}
	for name, why := range bad {
		for op, err := range map[string]error{
			"Join":  conn.Join("ok-before", name),
			"Leave": conn.Leave(name),
			"Emit":  e.gw.To("ok", name).Emit("x", 1),
			"Disc":  e.gw.To(name).Disconnect(wsgate.StatusPolicyViolation, "x"),
		} {
			if !errors.Is(err, wsgate.ErrInvalidRoom) || !strings.Contains(err.Error(), why) {
				t.Errorf("%s(%q) = %v, want ErrInvalidRoom saying %q", op, name, err, why)
			}
		}
	}
	if conn.InRoom("ok-before") {
		t.Fatal("a Join with an invalid name joined the valid ones before it")
	}
	// From a client, through a handler: an error answer, no panic, the
	// connection still served.
	limWantCode(t, c.Request("join", rmRoom{strings.Repeat("r", 1000)}), wsgate.CodeInvalidData)
	limWantOK(t, c.Request("echo", 1))
}

func TestTargetRefusals(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	c := e.dial("alice")
	rmJoin(t, c, "r")

	var zero wsgate.Target
	if err := zero.Emit("x", 1); err == nil {
		t.Error("the zero Target emitted")
	}
	if err := e.gw.ToSubject("").Emit("x", 1); err == nil {
		t.Error("ToSubject(\"\") emitted")
	}
	for _, tc := range []struct {
		code   wsgate.StatusCode
		reason string
	}{
		{999, ""}, {1005, ""}, {1006, ""}, {1015, ""}, {5000, ""},
		{wsgate.StatusPolicyViolation, strings.Repeat("r", 124)},
		{wsgate.StatusPolicyViolation, "bad\xff"},
	} {
		if err := e.gw.To("r").Disconnect(tc.code, tc.reason); err == nil {
			t.Errorf("Disconnect(%d, %d bytes) closed with no error", tc.code, len(tc.reason))
		}
	}
	if err := e.gw.To("r").Emit("x", func() {}); err == nil {
		t.Error("an emit of a value encoding/json refuses: no error")
	}
	// No rooms: nobody, never everyone.
	if err := e.gw.To().Emit("nobody", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.To().Disconnect(wsgate.StatusPolicyViolation, "nobody"); err != nil {
		t.Fatal(err)
	}
	rmFence(t, e.gw)
	rmWantEvents(t, c, "alice")
	limWantOK(t, c.Request("echo", 1))
}

// TestTargetIsAValue: chaining never changes the Target it starts from.
func TestTargetIsAValue(t *testing.T) {
	t.Parallel()
	e := rmSetup(t, wsgate.Options{})
	a, b, c := e.dial("a"), e.dial("b"), e.dial("c")
	rmJoin(t, a, "a")
	rmJoin(t, b, "b")
	rmJoin(t, c, "c")
	base := e.gw.To("a")
	toB, toC := base.To("b"), base.To("c") // both append to base's rooms
	for _, tc := range []struct {
		target wsgate.Target
		n      int
	}{{base, 0}, {toB, 1}, {toC, 2}} {
		if err := tc.target.Emit("n", tc.n); err != nil {
			t.Fatal(err)
		}
	}
	rmFence(t, e.gw)
	rmWantEvents(t, a, "a", `n 0`, `n 1`, `n 2`)
	rmWantEvents(t, b, "b", `n 1`)
	rmWantEvents(t, c, "c", `n 2`)
}

// rmCounted counts how often it is encoded.
type rmCounted struct{ n *atomic.Int32 }

func (c rmCounted) MarshalJSON() ([]byte, error) {
	c.n.Add(1)
	return []byte(`"counted"`), nil
}

// TestTargetEncodesOnce: one encoding per emit, however many receive it,
// with and without a Broker.
func TestTargetEncodesOnce(t *testing.T) {
	t.Parallel()
	for _, withBroker := range []bool{false, true} {
		opts := wsgate.Options{}
		if withBroker {
			opts.Broker = newRmBus().member()
		}
		e := rmSetup(t, opts)
		var clients []*wsgatetest.Client
		for i := range 5 {
			c := e.dial(fmt.Sprintf("u%d", i%2))
			rmJoin(t, c, "r")
			clients = append(clients, c)
		}
		var n atomic.Int32
		for _, target := range []wsgate.Target{e.gw.To("r"), e.gw.ToSubject("u0", "u1"), e.gw.Everyone()} {
			if err := target.Emit("c", rmCounted{&n}); err != nil {
				t.Fatal(err)
			}
		}
		if got := n.Load(); got != 3 {
			t.Fatalf("broker %v: 3 emits to 5 connections encoded %d times, want 3", withBroker, got)
		}
		rmFence(t, e.gw)
		for _, c := range clients {
			rmWantEvents(t, c, "a member", `c "counted"`, `c "counted"`, `c "counted"`)
		}
	}
}

// TestRoomSlowMemberIsClosed: a member that reads nothing is closed with
// 1013 (its queue fills up behind a write that the write timeout ends);
// the emits never wait for it and the other member gets every event.
func TestRoomSlowMemberIsClosed(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{
		OutboundQueue: 8, WriteTimeout: 2 * time.Second, EventsPerSecond: -1,
		OnConnect: func(c *wsgate.Conn) { _ = c.Join("room") },
	}
	gone := limRecordDisconnects(&opts)
	e := rmSetup(t, opts)
	stuck := e.dialRaw("stuck")
	_ = stuck
	normal := e.dial("normal")
	limWantOK(t, normal.Request("echo", 1)) // OnConnect is done for both
	limEventually(t, "both in the room", func() bool { return e.gw.RoomSize("room") == 2 })

	payload := strings.Repeat("p", 4<<10)
	for range 1000 { // 4 MiB: far past every buffer on the way
		returned := make(chan error, 1)
		go func() { returned <- e.gw.ToSubject("stuck").To("room").Emit("tick", payload) }()
		if err := recv(t, returned, "a room emit to return while a member is stuck"); err != nil {
			t.Fatal(err)
		}
		normal.WaitEvent("tick")
	}
	d := recv(t, gone, "the stuck member to be dropped")
	if d.subject != "stuck" || d.status.Code != wsgate.StatusTryAgainLater || d.status.Reason != "slow consumer" {
		t.Fatalf("OnDisconnect for %q with %+v, want stuck closed 1013 slow consumer", d.subject, d.status)
	}
	limWantOK(t, normal.Request("echo", "after"))
}

// TestRoomConcurrentUse runs joins, leaves, emits and disconnects at once,
// for the race detector, and checks the index is empty afterwards.
func TestRoomConcurrentUse(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{MaxConnectionsPerSubject: -1, EventsPerSecond: -1}
	conns := rmConns(&opts)
	e := rmSetup(t, opts)
	var clients []*wsgatetest.Client
	var all []*wsgate.Conn
	for i := range 8 {
		clients = append(clients, e.dial(fmt.Sprintf("u%d", i%3)))
		all = append(all, recv(t, conns, "OnConnect"))
	}
	var wg sync.WaitGroup
	for i, conn := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				room := fmt.Sprintf("r%d", (i+j)%4)
				_ = conn.Join(room)
				_ = e.gw.To(room, "r0").ToSubject("u1").Emit("m", j)
				_ = conn.Rooms()
				_ = conn.Leave(room)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			_ = e.gw.RoomSize("r1")
		}
		_ = e.gw.ToSubject("u2").Disconnect(wsgate.StatusPolicyViolation, "bye")
	}()
	wg.Wait()
	for _, c := range clients {
		c.Close()
	}
	limEventually(t, "every connection to end", func() bool { return e.gw.Len() == 0 })
	if rooms, subjects := wsgate.RoomTables(e.gw); rooms != 0 || subjects != 0 {
		t.Fatalf("%d rooms and %d subjects left", rooms, subjects)
	}
}
