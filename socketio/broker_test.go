package socketio_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/socketio"
	"github.com/wsgate/wsgate/wsgatetest"
)

// bus joins the gateways of a test as if they ran in separate processes:
// each member's publications reach every other member, in order, on one
// goroutine per subscriber, never the publisher itself. (redisbroker is
// the real one, tested against Redis in its own module.)
type bus struct {
	mu      sync.Mutex
	members []*busMember
}

type busMember struct {
	bus   *bus
	mu    sync.Mutex
	cond  *sync.Cond
	queue []*wsgate.BrokerMessage
	live  bool
	done  chan struct{}
}

func (b *bus) member() *busMember {
	m := &busMember{bus: b, done: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	b.mu.Lock()
	b.members = append(b.members, m)
	b.mu.Unlock()
	return m
}

func (m *busMember) Publish(_ context.Context, msg *wsgate.BrokerMessage) error {
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	for _, o := range m.bus.members {
		if o == m {
			continue
		}
		cp := *msg
		cp.Rooms, cp.Subjects, cp.Except, cp.Data = slices.Clone(msg.Rooms), slices.Clone(msg.Subjects), slices.Clone(msg.Except), slices.Clone(msg.Data)
		o.mu.Lock()
		if o.live {
			o.queue = append(o.queue, &cp)
			o.cond.Signal()
		}
		o.mu.Unlock()
	}
	return nil
}

func (m *busMember) Subscribe(deliver func(*wsgate.BrokerMessage)) (func(), error) {
	m.mu.Lock()
	m.live = true
	m.mu.Unlock()
	go func() {
		defer close(m.done)
		m.mu.Lock()
		defer m.mu.Unlock()
		for {
			for len(m.queue) == 0 && m.live {
				m.cond.Wait()
			}
			if !m.live {
				return
			}
			msg := m.queue[0]
			m.queue = m.queue[1:]
			m.mu.Unlock()
			deliver(msg)
			m.mu.Lock()
		}
	}()
	return func() {
		m.mu.Lock()
		m.live = false
		m.cond.Broadcast()
		m.mu.Unlock()
		<-m.done
	}, nil
}

// TestAcrossGateways: two gateways, as two processes joined by a broker,
// each serving socket.io and native clients. A room emit made on one
// reaches the socket.io and native members on both; a subject disconnect
// made on one closes that subject's socket.io connection on the other.
func TestAcrossGateways(t *testing.T) {
	t.Parallel()
	b := &bus{}
	inLobby := wsgate.Options{OnConnect: func(c *wsgate.Conn) { _ = c.Join("lobby") }}
	optsA, optsB := inLobby, inLobby
	optsA.Broker, optsB.Broker = b.member(), b.member()
	a, bb := newEnv(t, optsA, socketio.Options{}), newEnv(t, optsB, socketio.Options{})
	srvA, srvB := wsgatetest.NewServer(t, a.mux), wsgatetest.NewServer(t, bb.mux)

	sioA := handshake(t, srvA, testOrigin, a.token(t, "alice"))
	sioA.connect()
	sioB := handshake(t, srvB, testOrigin, bb.token(t, "bob"))
	sioB.connect()
	dial := func(srv *wsgatetest.Server, tok string) *wsgatetest.Client {
		return srv.Dial(wsgatetest.DialOptions{Path: "/ws", Origin: testOrigin,
			Cookies: []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: tok}}})
	}
	nativeA, nativeB := dial(srvA, a.token(t, "carol")), dial(srvB, bb.token(t, "dave"))
	eventually(t, "every client in the lobby", func() bool {
		return a.gw.RoomSize("lobby") == 2 && bb.gw.RoomSize("lobby") == 2
	})

	if err := a.gw.To("lobby").Emit("news", "hi"); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*pollClient{"socket.io on A": sioA, "socket.io on B": sioB} {
		if got, _ := p.expect(`42["news"`); got != `42["news","hi"]` {
			t.Errorf("%s got %s", name, got)
		}
	}
	for name, c := range map[string]*wsgatetest.Client{"native on A": nativeA, "native on B": nativeB} {
		if ev := c.WaitEvent("news"); string(ev.Data) != `"hi"` {
			t.Errorf("%s got %s", name, ev.Data)
		}
	}

	if err := bb.gw.ToSubject("alice").Disconnect(wsgate.StatusPolicyViolation, "logged out"); err != nil {
		t.Fatal(err)
	}
	got, skipped := sioA.expect("1")
	if all := append(skipped, got); !slices.Equal(all, []string{`42["$close",{"code":1008,"reason":"logged out"}]`, "41", "1"}) {
		t.Fatalf("alice's socket.io connection on A got %q", all)
	}
	eventually(t, "alice's connection to end", func() bool { return a.gw.Len() == 1 })
}
