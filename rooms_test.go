package wsgate_test

import (
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

func TestRoomJoinAndLeaveFromHandler(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	alice, bob, carol := e.dial("alice"), e.dial("bob"), e.dial("carol")
	join(t, alice, "x", "a")
	join(t, bob, "a", "a") // twice: still one membership
	if n := e.gw.RoomSize("a"); n != 2 {
		t.Fatalf("RoomSize(a) = %d, want 2", n)
	}
	ack := alice.Request("rooms", nil)
	wantOK(t, ack)
	if string(ack.Data) != `["a","x"]` {
		t.Fatalf("alice's rooms = %s, want [\"a\",\"x\"] (sorted)", ack.Data)
	}

	must(t, e.gw.To("a").Emit("news", "one"))
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "alice", `news "one"`)
	wantEventsBeforeFence(t, bob, "bob", `news "one"`)
	wantEventsBeforeFence(t, carol, "carol (in no room)")

	wantOK(t, bob.Request("leave", roomInput{"a"}))
	wantOK(t, bob.Request("leave", roomInput{"never-joined"}))
	if n := e.gw.RoomSize("a"); n != 1 {
		t.Fatalf("RoomSize(a) after bob left = %d, want 1", n)
	}
	must(t, e.gw.To("a").Emit("news", "two"))
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "alice", `news "two"`)
	wantEventsBeforeFence(t, bob, "bob, who left")
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
	conns := recordConnects(&opts)
	e := newRoomEnv(t, opts)
	alice := e.dial("alice")
	conn := recv(t, conns, "OnConnect")
	if !conn.InRoom("lobby") || !conn.InRoom("user:alice") || conn.InRoom("user:bob") {
		t.Fatalf("after OnConnect: rooms %q", conn.Rooms())
	}

	// From another goroutine, as a server's own code would.
	joined := make(chan error, 1)
	go func() { joined <- conn.Join("ops") }()
	must(t, recv(t, joined, "Join from a goroutine"))
	for _, room := range []string{"lobby", "user:alice", "ops"} {
		must(t, e.gw.To(room).Emit("to", room))
	}
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "alice", `to "lobby"`, `to "user:alice"`, `to "ops"`)
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
	gone := recordDisconnects(&opts)
	conns := recordConnects(&opts)
	e := newRoomEnv(t, opts)

	const n = 24
	var ended []*wsgate.Conn
	for i := range n {
		c := e.dial(fmt.Sprintf("user%d", i%5))
		conn := recv(t, conns, "OnConnect")
		ended = append(ended, conn)
		join(t, c, "all", fmt.Sprintf("r%d", i%7), fmt.Sprintf("solo%d", i))
		must(t, conn.Join("server-side"))
		switch i % 3 {
		case 0:
			c.Close() // by the client
		case 1:
			conn.Close(wsgate.StatusNormalClosure, "bye") // by the server
		case 2:
			must(t, e.gw.To(fmt.Sprintf("solo%d", i)).Disconnect(wsgate.StatusPolicyViolation, "revoked"))
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
	e := newRoomEnv(t, wsgate.Options{})
	both, onlyB, alice, other := e.dial("x"), e.dial("y"), e.dial("alice"), e.dial("z")
	join(t, both, "a", "b")
	join(t, onlyB, "b")
	join(t, alice, "b")
	join(t, other, "c")

	must(t, e.gw.To("a", "b", "a").ToSubject("alice", "x", "alice").Emit("msg", 1))
	// Chaining To is a union too.
	must(t, e.gw.To("c").To("a").Emit("msg", 2))
	fence(t, e.gw)
	wantEventsBeforeFence(t, both, "the member of a and b, of subject x", `msg 1`, `msg 2`)
	wantEventsBeforeFence(t, onlyB, "the member of b", `msg 1`)
	wantEventsBeforeFence(t, alice, "alice, in b", `msg 1`)
	wantEventsBeforeFence(t, other, "the member of c", `msg 2`)
}

// TestRoomEmitExceptSender: NestJS's client.to(room).emit.
func TestRoomEmitExceptSender(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	alice, bob, carol := e.dial("alice"), e.dial("bob"), e.dial("carol")
	join(t, alice, "chat")
	join(t, bob, "chat")
	wantOK(t, alice.Request("say", sayInput{"chat", "hi"}))
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "the sender")
	wantEventsBeforeFence(t, bob, "bob", `said "hi"`)
	wantEventsBeforeFence(t, carol, "carol, not in the room")
}

func TestEveryoneExceptAndBroadcast(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	conns := recordConnects(&opts)
	e := newRoomEnv(t, opts)
	alice := e.dial("alice")
	aliceConn := recv(t, conns, "OnConnect")
	bob := e.dial("bob")
	recv(t, conns, "OnConnect")

	must(t, e.gw.Everyone().Except(aliceConn, nil).Emit("all-but-alice", nil))
	must(t, e.gw.Broadcast("all", nil))
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "alice", `all null`)
	wantEventsBeforeFence(t, bob, "bob", `all-but-alice null`, `all null`)

	if err := e.gw.Broadcast("bad", func() {}); err == nil {
		t.Fatal("Broadcast of a value encoding/json refuses: no error")
	}
	must(t, e.gw.Everyone().Except(aliceConn).Disconnect(wsgate.StatusGoingAway, "maintenance"))
	wantClosed(t, bob, wsgate.StatusGoingAway, "maintenance")
	wantOK(t, alice.Request("echo", 1))
}

// TestSubjectEmitAndDisconnect: a user on every device, and logout.
func TestSubjectEmitAndDisconnect(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	phone, laptop, bob := e.dial("alice"), e.dial("alice"), e.dial("bob")
	anonymousRoom := e.dial("carol")
	join(t, anonymousRoom, "alice") // a room named like a subject is another thing

	must(t, e.gw.ToSubject("alice").Emit("notice", "for alice"))
	fence(t, e.gw)
	wantEventsBeforeFence(t, phone, "alice's phone", `notice "for alice"`)
	wantEventsBeforeFence(t, laptop, "alice's laptop", `notice "for alice"`)
	wantEventsBeforeFence(t, bob, "bob")
	wantEventsBeforeFence(t, anonymousRoom, "carol, in the room called alice")

	must(t, e.gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"))
	wantClosed(t, phone, wsgate.StatusPolicyViolation, "logged out")
	wantClosed(t, laptop, wsgate.StatusPolicyViolation, "logged out")
	wantOK(t, bob.Request("echo", 1))
	wantOK(t, anonymousRoom.Request("echo", 1))
}

// TestSubjectIndexFollowsRefresh: after a $refresh the connection is still
// found by its subject, once, and leaves the index when it ends.
func TestSubjectIndexFollowsRefresh(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	gone := recordDisconnects(&opts)
	e := newRoomEnv(t, opts)
	alice := e.dial("alice")
	ack := alice.Request(wsgate.RefreshEvent, map[string]string{"token": e.signer.Token(t, "alice", map[string]any{"v": 2})})
	wantOK(t, ack)
	ack = alice.Request(wsgate.RefreshEvent, map[string]string{"token": e.signer.Token(t, "mallory", nil)})
	wantCode(t, ack, wsgate.CodeForbidden)

	for _, subject := range []string{"alice", "mallory"} {
		must(t, e.gw.ToSubject(subject).Emit("for", subject))
	}
	fence(t, e.gw)
	wantEventsBeforeFence(t, alice, "alice, refreshed", `for "alice"`)

	alice.Close()
	recv(t, gone, "alice's end")
	if _, subjects := wsgate.RoomTables(e.gw); subjects != 0 {
		t.Fatalf("%d subjects left in the index", subjects)
	}
}

// TestRoomDisconnect: NestJS's server.in(room).disconnectSockets.
func TestRoomDisconnect(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	a1, a2, out := e.dial("a1"), e.dial("a2"), e.dial("out")
	join(t, a1, "doomed")
	join(t, a2, "doomed")
	join(t, out, "kept")
	must(t, e.gw.To("doomed").Disconnect(wsgate.StatusPolicyViolation, "revoked"))
	wantClosed(t, a1, wsgate.StatusPolicyViolation, "revoked")
	wantClosed(t, a2, wsgate.StatusPolicyViolation, "revoked")
	wantOK(t, out.Request("echo", 1))
	eventually(t, "the room to empty", func() bool { return e.gw.RoomSize("doomed") == 0 })
}

func TestRoomNamesValidated(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	conns := recordConnects(&opts)
	e := newRoomEnv(t, opts)
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
	wantCode(t, c.Request("join", roomInput{strings.Repeat("r", 1000)}), wsgate.CodeInvalidData)
	wantOK(t, c.Request("echo", 1))
}

func TestTargetRefusals(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	c := e.dial("alice")
	join(t, c, "r")

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
	must(t, e.gw.To().Emit("nobody", 1))
	must(t, e.gw.To().Disconnect(wsgate.StatusPolicyViolation, "nobody"))
	fence(t, e.gw)
	wantEventsBeforeFence(t, c, "alice")
	wantOK(t, c.Request("echo", 1))
}

// TestTargetIsAValue: chaining never changes the Target it starts from.
func TestTargetIsAValue(t *testing.T) {
	t.Parallel()
	e := newRoomEnv(t, wsgate.Options{})
	a, b, c := e.dial("a"), e.dial("b"), e.dial("c")
	join(t, a, "a")
	join(t, b, "b")
	join(t, c, "c")
	base := e.gw.To("a")
	toB, toC := base.To("b"), base.To("c") // both append to base's rooms
	for _, tc := range []struct {
		target wsgate.Target
		n      int
	}{{base, 0}, {toB, 1}, {toC, 2}} {
		must(t, tc.target.Emit("n", tc.n))
	}
	fence(t, e.gw)
	wantEventsBeforeFence(t, a, "a", `n 0`, `n 1`, `n 2`)
	wantEventsBeforeFence(t, b, "b", `n 1`)
	wantEventsBeforeFence(t, c, "c", `n 2`)
}

// countingMarshaler counts how often it is encoded.
type countingMarshaler struct{ n *atomic.Int32 }

func (c countingMarshaler) MarshalJSON() ([]byte, error) {
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
			opts.Broker = newMemoryBus().member()
		}
		e := newRoomEnv(t, opts)
		var clients []*wsgatetest.Client
		for i := range 5 {
			c := e.dial(fmt.Sprintf("u%d", i%2))
			join(t, c, "r")
			clients = append(clients, c)
		}
		var n atomic.Int32
		for _, target := range []wsgate.Target{e.gw.To("r"), e.gw.ToSubject("u0", "u1"), e.gw.Everyone()} {
			must(t, target.Emit("c", countingMarshaler{&n}))
		}
		if got := n.Load(); got != 3 {
			t.Fatalf("broker %v: 3 emits to 5 connections encoded %d times, want 3", withBroker, got)
		}
		fence(t, e.gw)
		for _, c := range clients {
			wantEventsBeforeFence(t, c, "a member", `c "counted"`, `c "counted"`, `c "counted"`)
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
	gone := recordDisconnects(&opts)
	e := newRoomEnv(t, opts)
	stuck := e.dialRaw("stuck")
	_ = stuck
	normal := e.dial("normal")
	wantOK(t, normal.Request("echo", 1)) // OnConnect is done for both
	eventually(t, "both in the room", func() bool { return e.gw.RoomSize("room") == 2 })

	payload := strings.Repeat("p", 4<<10)
	for range 1000 { // 4 MiB: far past every buffer on the way
		returned := make(chan error, 1)
		go func() { returned <- e.gw.ToSubject("stuck").To("room").Emit("tick", payload) }()
		must(t, recv(t, returned, "a room emit to return while a member is stuck"))
		normal.WaitEvent("tick")
	}
	d := recv(t, gone, "the stuck member to be dropped")
	if d.subject != "stuck" || d.status.Code != wsgate.StatusTryAgainLater || d.status.Reason != "slow consumer" {
		t.Fatalf("OnDisconnect for %q with %+v, want stuck closed 1013 slow consumer", d.subject, d.status)
	}
	wantOK(t, normal.Request("echo", "after"))
}

// TestRoomConcurrentUse runs joins, leaves, emits and disconnects at once,
// for the race detector, and checks the index is empty afterwards.
func TestRoomConcurrentUse(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{MaxConnectionsPerSubject: -1, EventsPerSecond: -1}
	conns := recordConnects(&opts)
	e := newRoomEnv(t, opts)
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
	eventually(t, "every connection to end", func() bool { return e.gw.Len() == 0 })
	if rooms, subjects := wsgate.RoomTables(e.gw); rooms != 0 || subjects != 0 {
		t.Fatalf("%d rooms and %d subjects left", rooms, subjects)
	}
}
