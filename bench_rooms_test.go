package wsgate_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/baseline"
	"github.com/wsgate/wsgate/wsgatetest"
)

// BenchmarkRoomRoundTrip is what rooms and a Broker cost a gateway per
// round trip, over the in-memory transport, on one connection that is in
// a room of its own:
//
//	ack/no-broker        a request and its ack, no Broker (the default)
//	ack/broker           the same on a gateway with a Broker that accepts every message:
//	                     a request that emits nothing must cost the same
//	emit/conn            the handler emits to its own connection (Conn.Emit), then acks
//	emit/room            it emits to the connection's room instead (gw.To(room).Emit)
//	emit/room+broker     the same with the Broker: the emit is also published
//
// Each emit round trip reads two frames, the event and the ack.
//
//	go test -run '^$' -bench RoomRoundTrip -benchmem -count 5 .
func BenchmarkRoomRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name   string
		event  string
		broker wsgate.Broker
	}{
		{"ack/no-broker", "ack", nil},
		{"ack/broker", "ack", nopBroker{}},
		{"emit/conn", "emit-conn", nil},
		{"emit/room", "emit-room", nil},
		{"emit/room+broker", "emit-room", nopBroker{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ws := roomBenchConn(b, bc.broker)
			defer ws.CloseNow()
			ctx := context.Background()
			frames := 1
			if bc.event != "ack" {
				frames = 2
			}
			var msg []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				msg = append(msg[:0], `{"event":"`...)
				msg = append(msg, bc.event...)
				msg = append(msg, `","data":{"n":42,"s":"hello"},"id":`...)
				msg = strconv.AppendInt(msg, int64(i), 10)
				msg = append(msg, '}')
				if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatalf("write: %v", err)
				}
				for range frames {
					_, f, err := ws.Read(ctx)
					if err != nil {
						b.Fatalf("read: %v", err)
					}
					if bytes.Contains(f, []byte(`"error"`)) {
						b.Fatalf("answer %s", f)
					}
				}
			}
		})
	}
}

// roomBenchConn serves a gateway in memory and returns one connection, in
// the room "mine". The rate limit and keepalive are off: a benchmark
// client is a flood by design, and pings would be measured.
func roomBenchConn(b *testing.B, broker wsgate.Broker) *websocket.Conn {
	b.Helper()
	gw, err := wsgate.New(wsgate.Options{
		AllowMissingOrigin: true, EventsPerSecond: -1, MaxConnections: -1, PingInterval: -1,
		Broker:    broker,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnConnect: func(c *wsgate.Conn) { _ = c.Join("mine") },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	wsgate.On(gw, "ack", func(c *wsgate.Context, in baseline.EchoIn) (baseline.EchoIn, error) {
		return in, nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "emit-conn", func(c *wsgate.Context, in baseline.EchoIn) (bool, error) {
		return true, c.Conn().Emit("echo", in)
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "emit-room", func(c *wsgate.Context, in baseline.EchoIn) (bool, error) {
		return true, gw.To("mine").Emit("echo", in)
	}, wsgate.HandlerOptions{})

	srv := wsgatetest.NewServer(b, gw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.HTTPClient()})
	if err != nil {
		b.Fatal(err)
	}
	for gw.RoomSize("mine") != 1 { // OnConnect runs after the upgrade
		time.Sleep(time.Millisecond)
	}
	return ws
}
