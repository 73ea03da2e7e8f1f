package redisbroker_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
	"github.com/wsgate/wsgate/wsgatetest"
)

// BenchmarkGatewayLatency measures what a user sees between two gateway
// processes: the time from gw.To(room).Emit on one gateway to the frame
// read by a client of the other, each gateway on its own Broker and Redis
// connection, at a steady rate of one emit a millisecond, beside Redis's
// own round trip (PING). BenchmarkDeliveryLatency is the Broker's share of
// it, from Publish to deliver.
//
//	go test -run '^$' -bench GatewayLatency -benchtime 5000x .
func BenchmarkGatewayLatency(b *testing.B) {
	srv := startRedis(b, false)
	sender := benchGateway(b, srv.Addr())
	receiver := benchGateway(b, srv.Addr())

	// The receiving client, in the room, over the in-memory transport.
	ts := wsgatetest.NewServer(b, receiver)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.URL, &websocket.DialOptions{HTTPClient: ts.HTTPClient()})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	eventually(b, "the client joined the room", func() bool { return receiver.RoomSize("bench") == 1 })

	start := time.Now()
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_, f, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			now := time.Since(start)
			var ev struct{ Data int64 }
			if json.Unmarshal(f, &ev) != nil {
				continue
			}
			mu.Lock()
			latencies = append(latencies, now-time.Duration(ev.Data))
			if len(latencies) == b.N {
				close(done)
			}
			mu.Unlock()
		}
	}()
	defer func() { ws.CloseNow(); <-readerDone }()

	pings := redisPings(b, srv)

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		if err := sender.To("bench").Emit("tick", int64(time.Since(start))); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		mu.Lock()
		n := len(latencies)
		mu.Unlock()
		b.Fatalf("%d of %d frames arrived", n, b.N)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	reportLatencies(b, latencies, pings)
}

// benchGateway is one gateway process on its own Broker and Redis
// connection; its connections join the room "bench". Keepalive is off, so
// that no ping is measured.
func benchGateway(b *testing.B, addr string) *wsgate.Gateway {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker := newBroker(b, newClient(b, addr), redisbroker.Options{Logger: quiet})
	gw, err := wsgate.New(wsgate.Options{
		AllowMissingOrigin: true, PingInterval: -1, Broker: broker, Logger: quiet,
		OnConnect: func(c *wsgate.Conn) { _ = c.Join("bench") },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw
}
