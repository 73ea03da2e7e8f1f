package wsgate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsgate/wsgate"
)

// TestShutdownDrains: an in-flight handler finishes and its ack is sent,
// events that arrive meanwhile get UNAVAILABLE, then every connection is
// closed with 1001 and new handshakes are refused.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	// Two handlers at once, so the read loop goes on reading while one
	// is blocked and events sent during the drain reach dispatch.
	opts := wsgate.Options{HandlerConcurrency: 2}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	entered, release := handleBlocking(e.gw)
	busy := e.dial("busy")
	idle := e.dial("idle")

	send(busy, 1, "block", "null")
	recv(t, entered, "the handler to start")

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		shut <- e.gw.Shutdown(ctx)
	}()

	// The idle connection has nothing to finish: it goes at once.
	wantClosed(t, idle, wsgate.StatusGoingAway, "server shutting down")
	// Events on the busy one are refused from the moment it drains.
	id := int64(100)
	eventually(t, "an event to be refused during the drain", func() bool {
		id++
		send(busy, id, "echo", "1")
		ack := busy.WaitAck(id)
		if !ack.OK() {
			wantCode(t, ack, wsgate.CodeUnavailable)
		}
		return !ack.OK()
	})
	if he := e.srv.Refused(e.dialOptions(e.token("late"))); he.Status != http.StatusServiceUnavailable || he.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake during shutdown = %d %s, want 503 with Retry-After", he.Status, he.RawBody)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	default:
	}

	close(release)
	ack := busy.WaitAck(1)
	wantOK(t, ack)
	if string(ack.Data) != `"released"` {
		t.Fatalf("in-flight ack = %s, want \"released\"", ack.Data)
	}
	wantClosed(t, busy, wsgate.StatusGoingAway, "server shutting down")

	if err := recv(t, shut, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if n := e.gw.Len(); n != 0 {
		t.Fatalf("gw.Len() = %d after Shutdown, want 0", n)
	}
	for range 2 {
		d := recv(t, gone, "OnDisconnect")
		if d.status.Code != wsgate.StatusGoingAway || !d.status.ByServer {
			t.Fatalf("%s closed with %+v, want 1001 by the server", d.subject, d.status)
		}
	}
	he := e.srv.Refused(e.dialOptions(e.token("later")))
	if he.Status != http.StatusServiceUnavailable || he.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake after shutdown = %d %s, want 503 with Retry-After", he.Status, he.RawBody)
	}
}

// TestShutdownInOrderMode: with the default in-order handling the read loop
// runs the handler itself; the ack still goes out before the 1001.
func TestShutdownInOrderMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsgate.Options{}, 0)
	entered, release := handleBlocking(e.gw)
	c := e.dial("alice")

	send(c, 1, "block", "null")
	recv(t, entered, "the handler to start")
	shut := make(chan error, 1)
	go func() { shut <- e.gw.Shutdown(context.Background()) }()
	eventually(t, "the gateway to refuse handshakes", func() bool {
		_, err := e.dialErr("late")
		return err != nil
	})
	close(release)
	wantOK(t, c.WaitAck(1))
	wantClosed(t, c, wsgate.StatusGoingAway, "server shutting down")
	if err := recv(t, shut, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if n := e.gw.Len(); n != 0 {
		t.Fatalf("gw.Len() = %d after Shutdown, want 0", n)
	}
}

// TestShutdownDeadline: a handler that only ends with its context holds the
// drain until Shutdown's ctx expires; then its context is cancelled and
// Shutdown returns the ctx's error once everything is gone.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	opts := wsgate.Options{}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)
	entered := make(chan struct{}, 1)
	handlerErr := make(chan error, 1)
	e.gw.Handle("wait", func(c *wsgate.Context) (any, error) {
		entered <- struct{}{}
		<-c.Context().Done()
		handlerErr <- c.Context().Err()
		return nil, c.Context().Err()
	}, wsgate.HandlerOptions{})
	c := e.dial("alice")
	send(c, 1, "wait", "null")
	recv(t, entered, "the handler to start")

	wantShutdownDeadline(t, e.gw, 100*time.Millisecond)
	select {
	case err := <-handlerErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler's context ended with %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Shutdown returned before the handler did")
	}
	select {
	case d := <-gone:
		if !d.status.ByServer || d.status.Code != wsgate.StatusGoingAway {
			t.Fatalf("closed with %+v, want 1001 by the server", d.status)
		}
	default:
		t.Fatal("Shutdown returned before OnDisconnect")
	}
	if n := e.gw.Len(); n != 0 {
		t.Fatalf("gw.Len() = %d after Shutdown, want 0", n)
	}
	// The client sees the end of the connection, with or without a close
	// frame: the gateway tore it down.
	if st := c.WaitClosed(); st.Code != wsgate.StatusGoingAway && st.Code != wsgate.StatusAbnormalClosure {
		t.Fatalf("client saw close %d %q, want 1001 or an abrupt end", st.Code, st.Reason)
	}
}

// TestManyAbruptDisconnects: connections that vanish without a close frame
// are each reported once and leave nothing behind.
func TestManyAbruptDisconnects(t *testing.T) {
	t.Parallel()
	const n = 200
	var connected atomic.Int64
	allIn := make(chan struct{})
	opts := wsgate.Options{
		MaxConnectionsPerSubject: -1,
		OnConnect: func(*wsgate.Conn) {
			if connected.Add(1) == n {
				close(allIn)
			}
		},
	}
	gone := recordDisconnects(&opts)
	e := newEnv(t, opts, 0)

	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = e.dialRaw("crowd")
	}
	recv(t, allIn, "every connection to be served")
	if got := e.gw.Len(); got != n {
		t.Fatalf("gw.Len() = %d, want %d", got, n)
	}
	for _, ws := range conns {
		_ = ws.CloseNow()
	}
	for i := range n {
		d := recv(t, gone, "OnDisconnect")
		if d.status.ByServer || d.status.Code != wsgate.StatusAbnormalClosure {
			t.Fatalf("disconnect %d reported %+v, want 1006 by the peer", i, d.status)
		}
	}
	eventually(t, "gw.Len() to reach 0", func() bool { return e.gw.Len() == 0 })
	select {
	case d := <-gone:
		t.Fatalf("OnDisconnect called more than %d times: %+v", n, d)
	default:
	}
}

// TestShutdownNeverDropsAnAnswer races Shutdown against a stream of
// requests: a handler that has started must be able to answer, whichever
// way the race goes; only events that are refused get no handler.
func TestShutdownNeverDropsAnAnswer(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			t.Parallel()
			for range 100 {
				shutdownRace(t, conc)
			}
		})
	}
}

func shutdownRace(t *testing.T, conc int) {
	t.Helper()
	e := newEnv(t, wsgate.Options{EventsPerSecond: -1, HandlerConcurrency: conc}, 0)
	started := make(chan struct{})
	var once sync.Once
	var dropped atomic.Int64
	e.gw.Handle("r", func(c *wsgate.Context) (any, error) {
		once.Do(func() { close(started) })
		if err := c.Reply(1); err != nil {
			dropped.Add(1)
		}
		return nil, nil
	}, wsgate.HandlerOptions{})
	ws := e.dialRaw("a")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 200 {
			if ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"r","id":1}`)) != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	recv(t, started, "the first handler")
	shutdown(t, e.gw)
	_ = ws.CloseNow()
	wg.Wait()
	if n := dropped.Load(); n > 0 {
		t.Fatalf("%d handler(s) ran after the close was decided: their answers were dropped", n)
	}
}
