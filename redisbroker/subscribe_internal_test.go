package redisbroker

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
)

// The reader remembers a publisher to skip copies of its messages, and
// forgets it once it has been quiet for dedupeWindow, so a long-lived
// process does not collect every publisher that ever was.
func TestQuietPublishersForgotten(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	b, err := New(rdb, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Unix(1_000_000, 0)
	var got []string
	s := &subscription{b: b, pubs: map[string]*publisherState{}, now: func() time.Time { return now },
		lastSweep: now, deliver: func(m *wsgate.BrokerMessage) { got = append(got, string(m.Data)) }}
	entry := func(id, pub, seq, data string) redis.XMessage {
		return redis.XMessage{ID: id, Values: map[string]any{"p": pub, "s": seq, "m": `{"o":1,"e":"x","d":` + data + `}`}}
	}
	s.handle(entry("0-1", "old", "5", "1"))
	now = now.Add(dedupeWindow / 2)
	s.handle(entry("0-2", "live", "1", "2"))
	now = now.Add(dedupeWindow/2 + time.Second)
	s.sweep()
	if _, ok := s.pubs["old"]; ok {
		t.Error("a publisher quiet for longer than the window is remembered")
	}
	if _, ok := s.pubs["live"]; !ok {
		t.Error("a publisher heard within the window was forgotten")
	}
	s.handle(entry("0-3", "live", "1", "3")) // a copy: still skipped
	if len(got) != 2 || b.Stats().Duplicates != 1 {
		t.Errorf("delivered %v, stats %+v", got, b.Stats())
	}
}
