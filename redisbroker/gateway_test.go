package redisbroker_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/redisbroker"
	"github.com/wsgate/wsgate/wsgatetest"
)

var gatewayKey = []byte("redisbroker-test-key-of-32-bytes!!")

const origin = "https://app.example.com"

type roomMessage struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// newGateway is one gateway process: its own Broker on its own Redis
// client, events join (a room) and say (to a room, except the sender).
func newGateway(t *testing.T, addr string) (*wsgate.Gateway, *wsgatetest.Server) {
	gw, srv, _ := newGatewayBroker(t, addr)
	return gw, srv
}

func newGatewayBroker(t *testing.T, addr string) (*wsgate.Gateway, *wsgatetest.Server, *redisbroker.Broker) {
	t.Helper()
	b := newBroker(t, newClient(t, addr), redisbroker.Options{})
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{
		Methods: []string{"HS256"}, Key: gatewayKey, Issuer: "auth", Audience: "app",
	})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:       []string{origin},
		Authenticator: v,
		Guards:        []wsgate.Guard{wsgate.Authenticated},
		Broker:        b,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	wsgate.On(gw, "join", func(c *wsgate.Context, room string) (string, error) {
		return room, c.Conn().Join(room)
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "say", func(c *wsgate.Context, m roomMessage) (bool, error) {
		return true, gw.To(m.Room).Except(c.Conn()).Emit("message", m)
	}, wsgate.HandlerOptions{})
	return gw, wsgatetest.NewServer(t, gw), b
}

func dialAs(t *testing.T, srv *wsgatetest.Server, subject string) *wsgatetest.Client {
	tokens := wsgatetest.Signer{Key: gatewayKey, Issuer: "auth", Audience: "app"}
	return srv.Dial(wsgatetest.DialOptions{
		Origin:  origin,
		Cookies: []*http.Cookie{{Name: "access_token", Value: tokens.Token(t, subject, nil)}},
		Timeout: waitFor,
	})
}

// Two gateway processes on one Redis: a room emit, a subject emit and a
// subject disconnect made on one reach the clients of the other.
func TestGatewaysShareRoomsThroughRedis(t *testing.T) {
	redisSrv := startRedis(t, false)
	gwA, srvA := newGateway(t, redisSrv.Addr())
	_, srvB := newGateway(t, redisSrv.Addr())

	alice := dialAs(t, srvA, "alice")
	bob := dialAs(t, srvB, "bob")
	carol := dialAs(t, srvB, "carol")
	for _, c := range []*wsgatetest.Client{alice, bob} {
		if ack := c.Request("join", "lobby"); !ack.OK() {
			t.Fatalf("join: %+v", ack.Error)
		}
	}
	if ack := alice.Request("say", roomMessage{Room: "lobby", Text: "hi"}); !ack.OK() {
		t.Fatalf("say: %+v", ack.Error)
	}
	var got roomMessage
	if err := bob.WaitEvent("message").Decode(&got); err != nil || got.Text != "hi" || got.Room != "lobby" {
		t.Fatalf("bob got %+v, %v", got, err)
	}

	if err := gwA.ToSubject("carol").Emit("notice", "for carol"); err != nil {
		t.Fatal(err)
	}
	var notice string
	if err := carol.WaitEvent("notice").Decode(&notice); err != nil || notice != "for carol" {
		t.Fatalf("carol got %q, %v", notice, err)
	}

	if err := gwA.ToSubject("bob").Disconnect(1008, "logged out"); err != nil {
		t.Fatal(err)
	}
	if st := bob.WaitClosed(); st.Code != 1008 || st.Reason != "logged out" {
		t.Fatalf("bob closed with %+v", st)
	}
	// Neither the sender nor a non-member got the room message. A round
	// trip first: a frame queued before the ack arrives before it.
	for name, c := range map[string]*wsgatetest.Client{"alice": alice, "carol": carol} {
		if ack := c.Request("join", "elsewhere"); !ack.OK() {
			t.Fatalf("%s: join: %+v", name, ack.Error)
		}
		for _, e := range c.Pending() {
			if e.Name == "message" {
				t.Errorf("%s got the room message", name)
			}
		}
	}
}

// A room disconnect crosses processes; a process that dies (its Broker
// gone without a word) leaves the others working.
func TestGatewaysRoomDisconnectAndADeadProcess(t *testing.T) {
	redisSrv := startRedis(t, false)
	gwA, _ := newGateway(t, redisSrv.Addr())
	_, srvB := newGateway(t, redisSrv.Addr())
	_, srvC, brokerC := newGatewayBroker(t, redisSrv.Addr())

	dave := dialAs(t, srvB, "dave")
	erin := dialAs(t, srvC, "erin")
	frank := dialAs(t, srvB, "frank")
	for _, c := range []*wsgatetest.Client{dave, erin, frank} {
		if ack := c.Request("join", "project-42"); !ack.OK() {
			t.Fatalf("join: %+v", ack.Error)
		}
	}
	if ack := frank.Request("join", "other"); !ack.OK() {
		t.Fatalf("join: %+v", ack.Error)
	}

	// C dies: its Broker stops reading and writing, its clients stay.
	if err := brokerC.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gwA.To("project-42").Emit("update", 1); err != nil {
		t.Fatalf("emit with a dead process around: %v", err)
	}
	if e := dave.WaitEvent("update"); string(e.Data) != "1" {
		t.Fatalf("dave got %s", e.Data)
	}
	if err := gwA.To("project-42").Disconnect(1008, "access revoked"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*wsgatetest.Client{"dave": dave, "frank": frank} {
		if st := c.WaitClosed(); st.Code != 1008 || st.Reason != "access revoked" {
			t.Errorf("%s closed with %+v", name, st)
		}
	}
	// erin's process is gone from the fan-out: her connection saw nothing.
	for _, e := range erin.Pending() {
		t.Errorf("erin, on the dead process, got %q", e.Name)
	}
}

// Redis is killed and restarted (with its data) while both gateway
// processes emit to a room: each client gets every emit of the other
// process exactly once, in order.
func TestGatewaysRedisRestartWhileEmitting(t *testing.T) {
	redisSrv := startRedis(t, true)
	gwA, srvA := newGateway(t, redisSrv.Addr())
	gwB, srvB := newGateway(t, redisSrv.Addr())
	onA, onB := dialAs(t, srvA, "alice"), dialAs(t, srvB, "bob")
	for _, c := range []*wsgatetest.Client{onA, onB} {
		if ack := c.Request("join", "live"); !ack.OK() {
			t.Fatalf("join: %+v", ack.Error)
		}
	}

	const n = 300
	var wg sync.WaitGroup
	var half sync.WaitGroup
	half.Add(2)
	for _, p := range []struct {
		gw    *wsgate.Gateway
		event string
	}{{gwA, "fromA"}, {gwB, "fromB"}} {
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				if err := p.gw.To("live").Emit(p.event, i); err != nil {
					t.Errorf("emit %d: %v", i, err)
					return
				}
				if i == n/2 {
					half.Done()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	half.Wait()
	redisSrv.Kill()
	time.Sleep(100 * time.Millisecond)
	redisSrv.Restart()
	wg.Wait()

	for _, w := range []struct {
		c     *wsgatetest.Client
		event string
	}{{onB, "fromA"}, {onA, "fromB"}} {
		for i := 1; i <= n; i++ {
			var got int
			if err := w.c.WaitEvent(w.event).Decode(&got); err != nil || got != i {
				t.Fatalf("%s: got %d (%v) where %d was due", w.event, got, err, i)
			}
		}
	}
	// A round trip: a late copy would be queued before its ack.
	for _, c := range []*wsgatetest.Client{onA, onB} {
		if ack := c.Request("join", "other"); !ack.OK() {
			t.Fatalf("join: %+v", ack.Error)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for name, w := range map[string]struct {
		c     *wsgatetest.Client
		event string
	}{"bob": {onB, "fromA"}, "alice": {onA, "fromB"}} {
		for _, e := range w.c.Pending() {
			if e.Name == w.event {
				t.Errorf("%s got an extra %s: %s", name, e.Name, e.Data)
			}
		}
	}
}
