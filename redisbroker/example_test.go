package redisbroker_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
)

// Every gateway process of an application gets a Broker on the same Redis
// and prefix; an emit to a room on one reaches the room's members on all.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close() // after the Broker's Close

	b, err := redisbroker.New(rdb, redisbroker.Options{Prefix: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Print(err) // publications that never reached Redis
		}
	}()

	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://chat.example.com"},
		Broker:  b, // New subscribes: it fails when Redis cannot be reached
	})
	if err != nil {
		log.Fatal(err)
	}
	wsgate.On(gw, "join", func(c *wsgate.Context, room string) (string, error) {
		return room, c.Conn().Join(room)
	}, wsgate.HandlerOptions{})

	srv := &http.Server{Addr: ":8080", Handler: gw, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()

	// Later, anywhere in this process: every member of "lobby", on every
	// process, gets the event.
	_ = gw.To("lobby").Emit("announce", "maintenance at noon")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(ctx) // stops the Broker's deliveries to this gateway
	_ = srv.Shutdown(ctx)
}

// Open makes the Redis client from a URL, REDIS_URL here; the Broker owns
// it and closes it in Close. Stats feeds metrics.
func ExampleOpen() {
	b, err := redisbroker.Open(os.Getenv("REDIS_URL"), redisbroker.Options{
		MaxLen:     200_000, // catch-up window: the last 200,000 messages of all processes
		BufferSize: 50_000,  // own messages kept while Redis is unreachable
		OnGap: func(g redisbroker.Gap) {
			log.Printf("lost messages of other processes: %+v", g)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	s := b.Stats()
	log.Printf("published=%d buffered=%d refused=%d delivered=%d gaps=%d missed=%d",
		s.Published, s.Buffered, s.Refused, s.Delivered, s.Gaps, s.Missed)
}
