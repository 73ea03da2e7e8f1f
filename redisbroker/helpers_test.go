package redisbroker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
)

// waitFor is how long a test waits for something that should happen: long,
// since the machine may be loaded; a passing test never waits it out.
const waitFor = 30 * time.Second

// inbox collects the messages a Broker delivers.
type inbox struct {
	mu      sync.Mutex
	msgs    []wsgate.BrokerMessage
	changed chan struct{}
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{}, 1)} }

func (in *inbox) deliver(m *wsgate.BrokerMessage) {
	c := *m // deliver must not keep m: copy what we look at
	c.Data = bytes.Clone(m.Data)
	c.Rooms = append([]string(nil), m.Rooms...)
	c.Subjects = append([]string(nil), m.Subjects...)
	c.Except = append([]string(nil), m.Except...)
	in.mu.Lock()
	in.msgs = append(in.msgs, c)
	in.mu.Unlock()
	select {
	case in.changed <- struct{}{}:
	default:
	}
}

func (in *inbox) all() []wsgate.BrokerMessage {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]wsgate.BrokerMessage(nil), in.msgs...)
}

// waitN waits until the inbox holds at least n messages and returns them.
func (in *inbox) waitN(t testing.TB, n int) []wsgate.BrokerMessage {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		if msgs := in.all(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-in.changed:
		case <-deadline.C:
			t.Fatalf("inbox holds %d messages after %v, want %d", len(in.all()), waitFor, n)
		}
	}
}

// eventually waits until cond holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextGap returns the next gap reported on gaps (an Options.OnGap's
// channel), failing the test when none is within waitFor.
func nextGap(t testing.TB, gaps <-chan redisbroker.Gap) redisbroker.Gap {
	t.Helper()
	select {
	case g := <-gaps:
		return g
	case <-time.After(waitFor):
		t.Fatalf("after %v: no gap reported", waitFor)
		return redisbroker.Gap{}
	}
}

func newBroker(t testing.TB, rdb redis.UniversalClient, opts redisbroker.Options) *redisbroker.Broker {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	b, err := redisbroker.New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func subscribe(t testing.TB, b *redisbroker.Broker) *inbox {
	t.Helper()
	in := newInbox()
	stop, err := b.Subscribe(in.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return in
}

// emit publishes message i of publisher from: event from, data i.
func emit(t testing.TB, b *redisbroker.Broker, from string, i int) {
	t.Helper()
	if err := b.Publish(context.Background(), numbered(from, i)); err != nil {
		t.Fatalf("Publish %s %d: %v", from, i, err)
	}
}

func numbered(from string, i int) *wsgate.BrokerMessage {
	return &wsgate.BrokerMessage{Op: wsgate.OpEmit, Rooms: []string{"r"}, Event: from, Data: json.RawMessage(strconv.Itoa(i))}
}

// checkSequence fails unless msgs, restricted to those of publisher from,
// are exactly first, first+1, …, last, in that order.
func checkSequence(t testing.TB, msgs []wsgate.BrokerMessage, from string, first, last int) {
	t.Helper()
	want := first
	for _, m := range msgs {
		if m.Event != from {
			continue
		}
		got, err := strconv.Atoi(string(m.Data))
		if err != nil {
			t.Fatalf("message of %s with data %q", from, m.Data)
		}
		if got != want {
			t.Fatalf("messages of %s: got %d where %d was due (duplicate, loss or reorder)", from, got, want)
		}
		want++
	}
	if want != last+1 {
		t.Fatalf("messages of %s: got %d..%d, want %d..%d", from, first, want-1, first, last)
	}
}

func countFrom(msgs []wsgate.BrokerMessage, from string) int {
	n := 0
	for _, m := range msgs {
		if m.Event == from {
			n++
		}
	}
	return n
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// logBuffer collects log lines for a test to look at.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *logBuffer) mustContain(t testing.TB, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(l.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no log line holds all of %q; the log:\n%s", parts, l.String())
}

func itoa(i int) string { return strconv.Itoa(i) }
