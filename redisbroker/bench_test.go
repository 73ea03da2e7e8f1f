package redisbroker_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
)

// BenchmarkDeliveryLatency measures the time from Publish on one process
// to deliver on another, at a steady rate of one message a millisecond,
// beside Redis's own round trip (PING) on the same machine.
//
//	go test -run '^$' -bench DeliveryLatency -benchtime 5000x .
func BenchmarkDeliveryLatency(b *testing.B) {
	srv := startRedis(b, false)
	a := newBroker(b, srv.Client(b), redisbroker.Options{})
	r := newBroker(b, srv.Client(b), redisbroker.Options{})

	start := time.Now()
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	stop, err := r.Subscribe(func(m *wsgate.BrokerMessage) {
		sent, _ := strconv.ParseInt(string(m.Data), 10, 64)
		mu.Lock()
		latencies = append(latencies, time.Since(start)-time.Duration(sent))
		if len(latencies) == b.N {
			close(done)
		}
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()

	pings := redisPings(b, srv)

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		m := &wsgate.BrokerMessage{Op: wsgate.OpEmit, Rooms: []string{"bench"}, Event: "tick",
			Data: json.RawMessage(strconv.FormatInt(int64(time.Since(start)), 10))}
		if err := a.Publish(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		b.Fatal("not every message arrived")
	}
	b.StopTimer()
	reportLatencies(b, latencies, pings)
}

// redisPings times 1000 PINGs to srv on a connection of their own: Redis's
// own round trip, the floor of every latency measured beside it.
func redisPings(b *testing.B, srv *redisServer) []time.Duration {
	pings := make([]time.Duration, 0, 1000)
	rdb := srv.Client(b)
	for range 1000 {
		t0 := time.Now()
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		pings = append(pings, time.Since(t0))
	}
	return pings
}

// reportLatencies reports the median and 99th percentile of latencies and
// of pings, in milliseconds. It sorts both.
func reportLatencies(b *testing.B, latencies, pings []time.Duration) {
	slices.Sort(latencies)
	slices.Sort(pings)
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
	b.ReportMetric(ms(pings[len(pings)/2]), "ping-p50-ms")
	b.ReportMetric(ms(pings[len(pings)*99/100]), "ping-p99-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
