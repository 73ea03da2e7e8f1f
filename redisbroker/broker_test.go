package redisbroker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
)

func TestCrossDeliveryInOrderWithoutSelfDelivery(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA, inB := subscribe(t, a), subscribe(t, b)

	const n = 1000
	var wg sync.WaitGroup
	for _, p := range []struct {
		b    *redisbroker.Broker
		from string
	}{{a, "A"}, {b, "B"}} {
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				emit(t, p.b, p.from, i)
			}
		})
	}
	wg.Wait()

	gotB := inB.waitN(t, n)
	gotA := inA.waitN(t, n)
	checkSequence(t, gotB, "A", 1, n)
	checkSequence(t, gotA, "B", 1, n)
	if c := countFrom(gotA, "A"); c != 0 {
		t.Errorf("A got %d of its own messages back", c)
	}
	if c := countFrom(gotB, "B"); c != 0 {
		t.Errorf("B got %d of its own messages back", c)
	}
	m := gotB[0]
	if m.Op != wsgate.OpEmit || len(m.Rooms) != 1 || m.Rooms[0] != "r" {
		t.Errorf("message arrived as %+v", m)
	}
	eventually(t, "A's counters settle", func() bool {
		s := a.Stats()
		return s.Published == n && s.Delivered == n && s.Buffered == 0
	})
	if s := a.Stats(); s.Gaps != 0 || s.Duplicates != 0 || s.Malformed != 0 || s.Refused != 0 {
		t.Errorf("A's stats: %+v", s)
	}
}

func TestMessageFieldsSurviveTheTrip(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inB := subscribe(t, b)
	// Sent travels to the nanosecond; a message without one (from an
	// older publisher) arrives without one.
	sent := []wsgate.BrokerMessage{
		{Op: wsgate.OpEmit, Rooms: []string{"a", "b"}, Except: []string{"c1"}, Event: "say", Data: json.RawMessage(`{"text":"hé \u2028"}`), Sent: time.Now()},
		{Op: wsgate.OpEmit, Subjects: []string{"alice"}, Event: "notice"},
		{Op: wsgate.OpDisconnect, Subjects: []string{"bob"}, Code: 1008, Reason: "logged out", Sent: time.Date(2026, 12, 1, 20, 4, 37, 123456789, time.FixedZone("CET", 3600))},
		{Op: wsgate.OpDisconnect, Rooms: []string{"r"}, Code: 4000, Reason: ""},
	}
	for i := range sent {
		if err := a.Publish(context.Background(), &sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := inB.waitN(t, len(sent))
	for i := range sent {
		w, g := sent[i], got[i]
		if g.Op != w.Op || strings.Join(g.Rooms, ",") != strings.Join(w.Rooms, ",") ||
			strings.Join(g.Subjects, ",") != strings.Join(w.Subjects, ",") ||
			strings.Join(g.Except, ",") != strings.Join(w.Except, ",") ||
			g.Event != w.Event || g.Code != w.Code || g.Reason != w.Reason {
			t.Errorf("message %d: got %+v, want %+v", i, g, w)
		}
		if !g.Sent.Equal(w.Sent) || g.Sent.IsZero() != w.Sent.IsZero() {
			t.Errorf("message %d: Sent %v, want %v", i, g.Sent, w.Sent)
		}
		if len(w.Data) > 0 {
			var gv, wv any
			if err := json.Unmarshal(g.Data, &gv); err != nil {
				t.Fatalf("message %d data %q: %v", i, g.Data, err)
			}
			_ = json.Unmarshal(w.Data, &wv)
			if gj, _ := json.Marshal(gv); string(gj) != mustJSON(wv) {
				t.Errorf("message %d data: got %s, want %s", i, g.Data, w.Data)
			}
		} else if len(g.Data) != 0 {
			t.Errorf("message %d: data %q from none", i, g.Data)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestPublishRefusesWhatCannotTravel(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{})
	for name, m := range map[string]*wsgate.BrokerMessage{
		"nil":          nil,
		"unknown op":   {Op: 9, Event: "x"},
		"invalid data": {Op: wsgate.OpEmit, Event: "x", Data: json.RawMessage(`{"a":`)},
	} {
		if err := a.Publish(context.Background(), m); err == nil {
			t.Errorf("%s: Publish accepted it", name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Publish(ctx, numbered("A", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: %v", err)
	}
	if s := a.Stats(); s.Buffered != 0 || s.Published != 0 {
		t.Errorf("refused messages were queued: %+v", s)
	}
}

// One process's link to Redis drops while both sides publish: its own
// publications wait in its buffer and go out in order when the link is
// back, and it catches up on what the other published meanwhile.
func TestLinkDropBuffersAndCatchesUp(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA, inB := subscribe(t, a), subscribe(t, b)

	for i := 1; i <= 10; i++ {
		emit(t, a, "A", i)
		emit(t, b, "B", i)
	}
	inA.waitN(t, 10)
	inB.waitN(t, 10)

	px.Cut()
	for i := 11; i <= 300; i++ {
		emit(t, a, "A", i) // nil while buffered
		emit(t, b, "B", i)
	}
	eventually(t, "B has sent its 300", func() bool { return b.Stats().Published == 300 })
	if s := a.Stats(); s.Published >= 300 || s.Buffered == 0 {
		t.Fatalf("A wrote through a cut link: %+v", s)
	}
	if got := countFrom(inB.all(), "A"); got >= 300 {
		t.Fatalf("B got %d of A's messages through a cut link", got)
	}
	px.Restore()

	checkSequence(t, inA.waitN(t, 300), "B", 1, 300)
	checkSequence(t, inB.waitN(t, 300), "A", 1, 300)
	// A's sender may learn of its last batch's success after B read it.
	eventually(t, "A's buffer drains", func() bool { s := a.Stats(); return s.Published == 300 && s.Buffered == 0 })
	if s := a.Stats(); s.Gaps != 0 || s.Duplicates != 0 || s.Delivered != 300 {
		t.Errorf("A's stats after the outage: %+v (want no gap)", s)
	}
}

func TestBufferFullRefusesAndReports(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	var logs logBuffer
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{BufferSize: 10, Logger: logs.logger()})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inB := subscribe(t, b)

	px.Cut()
	for i := 1; i <= 10; i++ {
		emit(t, a, "A", i)
	}
	for range 3 {
		if err := a.Publish(context.Background(), numbered("A", 99)); !errors.Is(err, redisbroker.ErrBufferFull) {
			t.Fatalf("Publish past the buffer: %v, want ErrBufferFull", err)
		}
	}
	if s := a.Stats(); s.Refused != 3 || s.Buffered != 10 {
		t.Errorf("stats with a full buffer: %+v", s)
	}
	logs.mustContain(t, "level=ERROR", "buffer full", "buffer_size=10")

	px.Restore()
	checkSequence(t, inB.waitN(t, 10), "A", 1, 10)
	eventually(t, "A's buffer drains", func() bool { return a.Stats().Buffered == 0 })
	emit(t, a, "A", 11)
	checkSequence(t, inB.waitN(t, 11), "A", 1, 11)
	logs.mustContain(t, "accepting publications again")
}

// A process that falls further behind than the retention misses the
// oldest messages, and says exactly how many.
func TestTrimmedGapReported(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	var logs logBuffer
	gaps := make(chan redisbroker.Gap, 10)
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{
		Logger: logs.logger(),
		OnGap:  func(g redisbroker.Gap) { gaps <- g },
	})
	b := newBroker(t, srv.Client(t), redisbroker.Options{MaxLen: 50})
	inA := subscribe(t, a)

	emit(t, b, "B", 1)
	inA.waitN(t, 1)
	px.Cut()
	const n = 2000
	for i := 2; i <= n; i++ {
		emit(t, b, "B", i)
	}
	eventually(t, "B has sent everything", func() bool { return b.Stats().Published == n })
	px.Restore()

	g := nextGap(t, gaps)
	if g.Reset || g.After != "0-1" || g.Missed <= 0 {
		t.Fatalf("gap %+v", g)
	}
	// What is left of the stream arrives, in order, after the gap.
	first := 2 + int(g.Missed)
	eventually(t, "A catches up with what the stream kept", func() bool { return countFrom(inA.all(), "B") == n-int(g.Missed) })
	msgs := inA.all()
	checkSequence(t, msgs[1:], "B", first, n)
	if g.Next != "0-"+itoa(first) {
		t.Errorf("gap.Next = %q, want 0-%d", g.Next, first)
	}
	s := a.Stats()
	if s.Gaps != 1 || s.Missed != uint64(g.Missed) || s.Delivered+s.Missed != n {
		t.Errorf("stats: %+v; delivered+missed want %d", s, n)
	}
	logs.mustContain(t, "level=ERROR", "lost", "missed="+itoa(int(g.Missed)), "max_len=")
}

// Redis is killed and restarted, with its data (an append-only file),
// while both processes publish: every message arrives exactly once, in
// each publisher's order.
func TestRedisRestartWhileMessagesFlow(t *testing.T) {
	srv := startRedis(t, true)
	a := newBroker(t, srv.Client(t), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA, inB := subscribe(t, a), subscribe(t, b)

	const n = 1500
	var wg sync.WaitGroup
	var half sync.WaitGroup
	half.Add(2)
	for _, p := range []struct {
		b    *redisbroker.Broker
		from string
	}{{a, "A"}, {b, "B"}} {
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				emit(t, p.b, p.from, i)
				if i == n/2 {
					half.Done()
				}
				if i%10 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	half.Wait()
	srv.Kill()
	time.Sleep(200 * time.Millisecond)
	srv.Restart()
	wg.Wait()

	checkSequence(t, inA.waitN(t, n), "B", 1, n)
	checkSequence(t, inB.waitN(t, n), "A", 1, n)
	for name, br := range map[string]*redisbroker.Broker{"A": a, "B": b} {
		eventually(t, name+" sends everything", func() bool { return br.Stats().Published == n })
		if s := br.Stats(); s.Gaps != 0 || s.Resets != 0 || s.Delivered != n {
			t.Errorf("%s's stats: %+v", name, s)
		}
	}
	// Nothing more arrives: no late duplicate.
	time.Sleep(300 * time.Millisecond)
	if got := len(inA.all()); got != n {
		t.Errorf("A got %d messages, want %d", got, n)
	}
	if got := len(inB.all()); got != n {
		t.Errorf("B got %d messages, want %d", got, n)
	}
}

// A Redis that comes back without its data does not wedge a reader whose
// position is past the new stream's end: the reset is reported and the
// reader follows the new stream.
func TestRedisRestartWithoutDataRecovers(t *testing.T) {
	srv := startRedis(t, false)
	var logs logBuffer
	gaps := make(chan redisbroker.Gap, 10)
	a := newBroker(t, srv.Client(t), redisbroker.Options{Logger: logs.logger(), OnGap: func(g redisbroker.Gap) { gaps <- g }})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA := subscribe(t, a)
	for i := 1; i <= 50; i++ {
		emit(t, b, "B", i)
	}
	inA.waitN(t, 50)

	srv.Kill()
	srv.Restart() // empty
	for i := 51; i <= 60; i++ {
		emit(t, b, "B", i)
	}
	checkSequence(t, inA.waitN(t, 60), "B", 1, 60)
	if g := nextGap(t, gaps); !g.Reset || g.Missed != -1 || g.After != "0-50" {
		t.Errorf("gap %+v", g)
	}
	if s := a.Stats(); s.Resets != 1 || s.Gaps != 1 {
		t.Errorf("stats: %+v", s)
	}
	logs.mustContain(t, "level=ERROR", "stream reset")
}

// A reader away while Redis restarted empty and the new stream grew past
// the reader's old position: it must not take the new stream for its old
// one (and skip its beginning), but read it whole.
func TestNewStreamLongerThanOldPositionReadWhole(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	gaps := make(chan redisbroker.Gap, 10)
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{OnGap: func(g redisbroker.Gap) { gaps <- g }})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA := subscribe(t, a)
	for i := 1; i <= 20; i++ {
		emit(t, b, "B", i)
	}
	inA.waitN(t, 20)

	px.Cut()
	srv.Kill()
	srv.Restart() // empty
	for i := 21; i <= 60; i++ {
		emit(t, b, "B", i) // entries 0-1 … 0-40 of the new stream
	}
	eventually(t, "B has sent everything", func() bool { return b.Stats().Published == 60 })
	px.Restore()

	checkSequence(t, inA.waitN(t, 60), "B", 1, 60)
	if g := nextGap(t, gaps); !g.Reset || g.After != "0-20" {
		t.Errorf("gap %+v", g)
	}
	if s := a.Stats(); s.Resets != 1 || s.Delivered != 60 {
		t.Errorf("stats: %+v", s)
	}
}

// A Redis restored from an older copy keeps the stream's generation but
// goes back in time: it numbers new entries with ids the reader has read.
// The reader notices (the entry at its position is another) and reads the
// new entries rather than skipping those up to its old position.
func TestStreamBackInTimeNoticed(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	gaps := make(chan redisbroker.Gap, 10)
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{OnGap: func(g redisbroker.Gap) { gaps <- g }})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inA := subscribe(t, a)
	for i := 1; i <= 20; i++ {
		emit(t, b, "B", i)
	}
	inA.waitN(t, 20)
	rdb := srv.Client(t)
	epochKey := strings.TrimSuffix(a.Key(), ":fanout") + ":epoch"
	epoch, err := rdb.Get(context.Background(), epochKey).Result()
	if err != nil {
		t.Fatal(err)
	}

	px.Cut()
	srv.Kill()
	srv.Restart()
	// The restored copy: the generation as it was, the stream ten entries
	// short.
	if err := rdb.Set(context.Background(), epochKey, epoch, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: a.Key(), ID: "0-*",
			Values: []any{"p", "old-copy", "s", itoa(i), "m", `{"o":1,"e":"old","d":` + itoa(i) + `}`}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 21; i <= 40; i++ {
		emit(t, b, "B", i) // entries 0-11 … 0-30: past A's 0-20
	}
	eventually(t, "B has sent everything", func() bool { return b.Stats().Published >= 40 })
	px.Restore()

	eventually(t, "A gets B's 40", func() bool { return countFrom(inA.all(), "B") >= 40 })
	checkSequence(t, inA.all(), "B", 1, 40)
	if g := nextGap(t, gaps); !g.Reset || g.After != "0-20" {
		t.Errorf("gap %+v", g)
	}
}

// The stream key deleted while the reader idles (a FLUSHALL): the reader
// notices on its own, with no broken link to tell it.
func TestStreamDeletedWhileIdleRecovers(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app"})
	b := newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app"})
	inA := subscribe(t, a)
	for i := 1; i <= 20; i++ {
		emit(t, b, "B", i)
	}
	inA.waitN(t, 20)
	if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reset is noticed", func() bool { return a.Stats().Resets == 1 })
	for i := 21; i <= 25; i++ {
		emit(t, b, "B", i)
	}
	checkSequence(t, inA.waitN(t, 25), "B", 1, 25)
}

func TestCloseFlushesWhatWaits(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inB := subscribe(t, b)
	px.Cut()
	for i := 1; i <= 5; i++ {
		emit(t, a, "A", i)
	}
	px.Restore()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkSequence(t, inB.waitN(t, 5), "A", 1, 5)
	if err := a.Publish(context.Background(), numbered("A", 6)); !errors.Is(err, redisbroker.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := a.Subscribe(newInbox().deliver); !errors.Is(err, redisbroker.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
}

func TestCloseReportsWhatItDrops(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	var logs logBuffer
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{CloseTimeout: 300 * time.Millisecond, Logger: logs.logger()})
	px.Cut()
	for i := 1; i <= 7; i++ {
		emit(t, a, "A", i)
	}
	err := a.Close()
	if err == nil || !strings.Contains(err.Error(), "7 buffered") {
		t.Fatalf("Close: %v, want 7 dropped", err)
	}
	if s := a.Stats(); s.Dropped != 7 || s.Buffered != 0 {
		t.Errorf("stats: %+v", s)
	}
	if again := a.Close(); again != err {
		t.Errorf("second Close: %v", again)
	}
	logs.mustContain(t, "level=ERROR", "dropped=7")
}

func TestSubscribeRules(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{})
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	if _, err := a.Subscribe(nil); err == nil {
		t.Error("Subscribe(nil) succeeded")
	}
	first := newInbox()
	stop, err := a.Subscribe(first.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Subscribe(newInbox().deliver); !errors.Is(err, redisbroker.ErrSubscribed) {
		t.Errorf("second Subscribe: %v", err)
	}
	emit(t, b, "B", 1)
	first.waitN(t, 1)
	stop()
	stop() // twice is fine
	emit(t, b, "B", 2)
	eventually(t, "B has sent 2", func() bool { return b.Stats().Published == 2 })

	// A new subscription starts at the stream's end: 2 is before it.
	second := newInbox()
	stop2, err := a.Subscribe(second.deliver)
	if err != nil {
		t.Fatalf("Subscribe after stop: %v", err)
	}
	defer stop2()
	emit(t, b, "B", 3)
	got := second.waitN(t, 1)
	if string(got[0].Data) != "3" {
		t.Errorf("new subscription got %s first", got[0].Data)
	}
	if n := len(first.all()); n != 1 {
		t.Errorf("stopped subscription got %d messages", n)
	}
}

func TestSubscribeFailsWithoutRedis(t *testing.T) {
	srv := startRedis(t, false)
	px := newProxy(t, srv.Addr())
	px.Cut()
	a := newBroker(t, newClient(t, px.Addr()), redisbroker.Options{})
	if _, err := a.Subscribe(newInbox().deliver); err == nil {
		t.Fatal("Subscribe succeeded with Redis unreachable")
	}
}

// Entries that are not the Broker's (someone wrote to its key) are
// skipped and counted; copies of a message are skipped.
func TestMalformedAndDuplicateEntriesSkipped(t *testing.T) {
	srv := startRedis(t, false)
	rdb := srv.Client(t)
	var logs logBuffer
	a := newBroker(t, rdb, redisbroker.Options{Logger: logs.logger()})
	inA := subscribe(t, a)
	add := func(values ...any) {
		t.Helper()
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: a.Key(), ID: "0-*", Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(i int) string { return `{"o":1,"e":"P","d":` + itoa(i) + `}` }
	add("p", "peer", "s", "1", "m", msg(1))
	add("junk", "1")                                    // no publisher
	add("p", "peer", "s", "2", "m", "{not json")        // undecodable
	add("p", "peer", "s", "1", "m", msg(1))             // a copy
	add("p", "peer", "s", "3", "m", `{"o":77,"e":"P"}`) // unknown operation
	add("p", "peer", "s", "4", "m", msg(2))
	got := inA.waitN(t, 2)
	checkSequence(t, got, "P", 1, 2)
	eventually(t, "counters", func() bool {
		s := a.Stats()
		return s.Malformed == 3 && s.Duplicates == 1 && s.Delivered == 2
	})
	logs.mustContain(t, "level=WARN", "entry skipped")
}

func TestKeyLayoutAndPrefixIsolation(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app1"})
	other := newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app2"})
	def := newBroker(t, srv.Client(t), redisbroker.Options{})
	if a.Key() != "{app1}:fanout" || def.Key() != "{wsgate}:fanout" {
		t.Errorf("keys %q %q", a.Key(), def.Key())
	}
	inOther := subscribe(t, other)
	b := newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app1"})
	inB := subscribe(t, b)
	emit(t, a, "A", 1)
	inB.waitN(t, 1)
	emit(t, newBroker(t, srv.Client(t), redisbroker.Options{Prefix: "app2"}), "O", 1)
	got := inOther.waitN(t, 1)
	if countFrom(got, "A") != 0 {
		t.Error("a message crossed prefixes")
	}
	n, err := srv.Client(t).XLen(context.Background(), "{app1}:fanout").Result()
	if err != nil || n != 1 {
		t.Errorf("XLEN app1:fanout = %d, %v", n, err)
	}
}

func TestRetentionBoundsTheStream(t *testing.T) {
	srv := startRedis(t, false)
	a := newBroker(t, srv.Client(t), redisbroker.Options{MaxLen: 100})
	for i := 1; i <= 3000; i++ {
		emit(t, a, "A", i)
	}
	eventually(t, "all sent", func() bool { return a.Stats().Published == 3000 })
	n, err := srv.Client(t).XLen(context.Background(), a.Key()).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole nodes (100 entries by default): what stays is
	// at least MaxLen and far less than what was written.
	if n < 100 || n > 400 {
		t.Errorf("stream holds %d entries with MaxLen 100", n)
	}
}

func TestOptionsValidated(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for name, o := range map[string]redisbroker.Options{
		"negative MaxLen":       {MaxLen: -1},
		"negative BufferSize":   {BufferSize: -1},
		"negative CloseTimeout": {CloseTimeout: -time.Second},
		"space in prefix":       {Prefix: "my app"},
		"newline in prefix":     {Prefix: "app\n"},
		"brace in prefix":       {Prefix: "a{b}"},
		"long prefix":           {Prefix: strings.Repeat("p", 257)},
	} {
		if b, err := redisbroker.New(rdb, o); err == nil {
			b.Close()
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := redisbroker.New(nil, redisbroker.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestOpenURL(t *testing.T) {
	srv := startRedis(t, false)
	if _, err := redisbroker.Open("http://user:s3cret@x/", redisbroker.Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad URL: %v", err)
	}
	a, err := redisbroker.Open("redis://"+srv.Addr()+"/0", redisbroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBroker(t, srv.Client(t), redisbroker.Options{})
	inB := subscribe(t, b)
	emit(t, a, "A", 1)
	inB.waitN(t, 1)
	if err := a.Close(); err != nil { // closes its client too: the leak check sees it
		t.Fatal(err)
	}
}
