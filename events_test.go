package wsgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// Tests of named events: typed handlers, their validation and their answers.

type pointInput struct {
	X     int    `json:"x"`
	Y     int    `json:"y"`
	Label string `json:"label"`
}

type sumOutput struct {
	Sum   int    `json:"sum"`
	Label string `json:"label"`
}

func TestEventTypedHandler(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	var calls sync.WaitGroup
	var mu sync.Mutex
	var seen []pointInput
	wsgate.On(gw, "add", func(c *wsgate.Context, in pointInput) (sumOutput, error) {
		mu.Lock()
		seen = append(seen, in)
		mu.Unlock()
		calls.Done()
		return sumOutput{Sum: in.X + in.Y, Label: in.Label}, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	calls.Add(1)
	ack := c.Request("add", map[string]any{"x": 2, "y": 40, "label": "answer"})
	var got sumOutput
	if err := ack.Decode(&got); err != nil || !ack.OK() {
		t.Fatalf("ack %+v: %v", ack, err)
	}
	if got != (sumOutput{Sum: 42, Label: "answer"}) {
		t.Fatalf("ack data = %+v, want sum 42 label answer", got)
	}

	// Absent data: the handler gets the zero value.
	calls.Add(1)
	r := dialRawClient(t, srv, nil)
	r.send(`{"event":"add","id":5}`)
	if f := r.read(); f != `{"id":5,"data":{"sum":0,"label":""}}` {
		t.Fatalf("ack of a request without data = %s", f)
	}
	// null data too.
	calls.Add(1)
	r.send(`{"event":"add","data":null,"id":6}`)
	if f := r.read(); f != `{"id":6,"data":{"sum":0,"label":""}}` {
		t.Fatalf("ack of a request with null data = %s", f)
	}
	calls.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[1] != (pointInput{}) || seen[2] != (pointInput{}) {
		t.Fatalf("handler inputs = %+v", seen)
	}
}

func TestEventWithoutIDGetsNoAck(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	ran := make(chan string, 1)
	wsgate.On(gw, "note", func(c *wsgate.Context, in string) (string, error) {
		_, hasID := c.ID()
		if hasID {
			t.Errorf("ID() reports an id for a message without one")
		}
		ran <- in
		return "result that must not be sent", nil
	}, wsgate.HandlerOptions{})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})

	r := dialRawClient(t, srv, nil)
	r.send(`{"event":"note","data":"hello"}`)
	if got := recv(t, ran, "the handler"); got != "hello" {
		t.Fatalf("handler got %q", got)
	}
	r.send(`{"event":"ping","id":9}`)
	// Events are handled in order: the next frame must be ping's ack.
	if f := r.read(); f != `{"id":9,"data":"pong"}` {
		t.Fatalf("first frame after a fire-and-forget message = %s, want the ping ack", f)
	}
}

func TestEventRawHandler(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	type seen struct {
		event string
		data  string
		id    int64
		hasID bool
	}
	got := make(chan seen, 2)
	gw.Handle("raw", func(c *wsgate.Context) (any, error) {
		id, hasID := c.ID()
		got <- seen{c.Event(), string(c.Data()), id, hasID}
		return json.RawMessage(`{"echo":` + string(c.Data()) + `}`), nil
	}, wsgate.HandlerOptions{})

	r := dialRawClient(t, srv, nil)
	r.send(`{"event":"raw","data":{ "b" : [1, 2.5, "x"] },"id":77}`)
	if f := r.read(); f != `{"id":77,"data":{"echo":{ "b" : [1, 2.5, "x"] }}}` {
		t.Fatalf("ack = %s", f)
	}
	s := recv(t, got, "the handler")
	if s.event != "raw" || s.data != `{ "b" : [1, 2.5, "x"] }` || s.id != 77 || !s.hasID {
		t.Fatalf("handler saw %+v", s)
	}

	r.send(`{"event":"raw"}`)
	s = recv(t, got, "the handler")
	if s.data != "" || s.hasID {
		t.Fatalf("handler of a message without data or id saw %+v", s)
	}
}

func TestEventHandlerEmits(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	wsgate.On(gw, "shout", func(c *wsgate.Context, in string) (bool, error) {
		if err := c.Emit("shouted", strings.ToUpper(in)); err != nil {
			return false, err
		}
		if err := c.Conn().Emit("shouted-conn", in+"!"); err != nil {
			return false, err
		}
		return true, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	if data := wantOK(t, c.Request("shout", "hey")); data != "true" {
		t.Fatalf("ack data = %s", data)
	}
	var s string
	if err := c.WaitEvent("shouted").Decode(&s); err != nil || s != "HEY" {
		t.Fatalf("shouted = %q, %v", s, err)
	}
	if err := c.WaitEvent("shouted-conn").Decode(&s); err != nil || s != "hey!" {
		t.Fatalf("shouted-conn = %q, %v", s, err)
	}

	// Fire and forget: the emit still arrives.
	c.Emit("shout", "again")
	if err := c.WaitEvent("shouted").Decode(&s); err != nil || s != "AGAIN" {
		t.Fatalf("shouted = %q, %v", s, err)
	}
}

func TestEventMalformedFrame(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	calls := 0
	var mu sync.Mutex
	gw.Handle("echo", func(c *wsgate.Context) (any, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return c.Data(), nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	// Not JSON at all: no id to answer, so an exception event.
	c.SendText(`this is not json`)
	if ex := c.WaitException(); ex.Status != "error" || ex.Code != wsgate.CodeBadRequest {
		t.Fatalf("exception = %+v, want BAD_REQUEST", ex)
	}
	// Broken after a readable id: an error ack for that id.
	c.SendText(`{"id":41,"event":"echo","data":{"a":`)
	wantError(t, c.WaitAck(41), wsgate.CodeBadRequest, "")

	// The connection stays up and works.
	if data := wantOK(t, c.Request("echo", []int{1, 2})); data != "[1,2]" {
		t.Fatalf("echo after malformed frames = %s", data)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("handler ran %d times, want once (never for a malformed frame)", calls)
	}
}

func TestEventUnknown(t *testing.T) {
	t.Parallel()
	for _, includeCause := range []bool{false, true} {
		gw, srv := newServer(t, wsgate.Options{IncludeCause: includeCause})
		gw.Handle("known", func(c *wsgate.Context) (any, error) { return "ok", nil }, wsgate.HandlerOptions{})
		r := dialRawClient(t, srv, nil)

		const name = "zq-unknown-event-8f3c1a"
		r.send(`{"event":"` + name + `","data":"payload-7d2e","id":3}`)
		f := r.read()
		if strings.Contains(f, name) || strings.Contains(f, "zq-unknown") {
			t.Fatalf("IncludeCause=%v: answer echoes the event name: %s", includeCause, f)
		}
		var ack struct {
			ID    *int64               `json:"id"`
			Error wsgatetest.ErrorBody `json:"error"`
		}
		if err := json.Unmarshal([]byte(f), &ack); err != nil || ack.ID == nil || *ack.ID != 3 ||
			ack.Error.Code != wsgate.CodeUnknownEvent || ack.Error.Status != "error" {
			t.Fatalf("IncludeCause=%v: answer = %s, want an UNKNOWN_EVENT error ack for id 3", includeCause, f)
		}

		r.send(`{"event":"` + name + `"}`)
		f = r.read()
		if strings.Contains(f, name) || !strings.Contains(f, `"event":"exception"`) || !strings.Contains(f, wsgate.CodeUnknownEvent) {
			t.Fatalf("IncludeCause=%v: answer without id = %s", includeCause, f)
		}

		// Still up.
		r.send(`{"event":"known","id":4}`)
		if f := r.read(); f != `{"id":4,"data":"ok"}` {
			t.Fatalf("known event after an unknown one = %s", f)
		}
	}
}

type countInput struct {
	Count  int    `json:"count"`
	Name   string `json:"name"`
	Strict bool   `json:"strict"`
}

func TestEventInvalidData(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	ran := false
	var mu sync.Mutex
	wsgate.On(gw, "count", func(c *wsgate.Context, in countInput) (int, error) {
		mu.Lock()
		ran = true
		mu.Unlock()
		return in.Count, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	ack := c.Request("count", map[string]any{"count": "seven"})
	wantError(t, ack, wsgate.CodeInvalidData, "")
	var data map[string]string
	if err := json.Unmarshal(ack.Error.Data, &data); err != nil {
		t.Fatalf("error data %s: %v", ack.Error.Data, err)
	}
	if data["field"] != "count" || data["expected"] != "number" || len(data) != 2 {
		t.Fatalf("error data = %v, want field count, expected number", data)
	}
	whole, _ := json.Marshal(ack.Error)
	for _, leak := range []string{"int", "string", "countInput", "wsgate_test", "Go ", "unmarshal"} {
		if strings.Contains(string(whole), leak) {
			t.Fatalf("error %s names Go types (%q)", whole, leak)
		}
	}

	ack = c.Request("count", map[string]any{"strict": "yes"})
	wantError(t, ack, wsgate.CodeInvalidData, "")
	if string(ack.Error.Data) != `{"expected":"boolean","field":"strict"}` {
		t.Fatalf("error data = %s", ack.Error.Data)
	}
	// Data of the wrong JSON type altogether.
	wantError(t, c.Request("count", []int{1}), wsgate.CodeInvalidData, "")
	// Without an id: an exception event.
	c.Emit("count", "nope")
	if ex := c.WaitException(); ex.Code != wsgate.CodeInvalidData {
		t.Fatalf("exception = %+v", ex)
	}
	mu.Lock()
	defer mu.Unlock()
	if ran {
		t.Fatal("handler ran on data that does not bind")
	}
}

type signupInput struct {
	Email string `json:"email"`
}

func (s signupInput) Validate() error {
	switch {
	case s.Email == "":
		return errors.New("email is required")
	case s.Email == "taken@example.com":
		return &wsgate.Error{Code: "EMAIL_TAKEN", Message: "email already registered", Data: map[string]string{"email": s.Email}}
	}
	return nil
}

// ptrValidated validates through a pointer receiver.
type ptrValidated struct {
	N int `json:"n"`
}

func (v *ptrValidated) Validate() error {
	if v.N < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}

func TestEventValidate(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	var mu sync.Mutex
	calls := 0
	wsgate.On(gw, "signup", func(c *wsgate.Context, in signupInput) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return "welcome " + in.Email, nil
	}, wsgate.HandlerOptions{})
	wsgate.On(gw, "ptr", func(c *wsgate.Context, in ptrValidated) (int, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return in.N, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("signup", map[string]string{}), wsgate.CodeValidationFailed, "email is required")
	// Absent data is validated too.
	wantError(t, c.Request("signup", nil), wsgate.CodeValidationFailed, "email is required")

	ack := c.Request("signup", map[string]string{"email": "taken@example.com"})
	wantError(t, ack, "EMAIL_TAKEN", "email already registered")
	if string(ack.Error.Data) != `{"email":"taken@example.com"}` {
		t.Fatalf("error data = %s", ack.Error.Data)
	}

	wantError(t, c.Request("ptr", map[string]int{"n": -1}), wsgate.CodeValidationFailed, "n must not be negative")

	mu.Lock()
	if calls != 0 {
		t.Fatalf("handler ran %d times on invalid input", calls)
	}
	mu.Unlock()

	if data := wantOK(t, c.Request("signup", map[string]string{"email": "a@example.com"})); data != `"welcome a@example.com"` {
		t.Fatalf("valid signup = %s", data)
	}
	if data := wantOK(t, c.Request("ptr", map[string]int{"n": 3})); data != "3" {
		t.Fatalf("valid ptr = %s", data)
	}
}

func TestEventPointerInput(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	// Value-receiver Validate on a pointer input.
	wsgate.On(gw, "signup", func(c *wsgate.Context, in *signupInput) (string, error) {
		if in == nil {
			return "nil", nil
		}
		return in.Email, nil
	}, wsgate.HandlerOptions{})
	// Pointer-receiver Validate, with a valid zero value.
	wsgate.On(gw, "ptr", func(c *wsgate.Context, in *ptrValidated) (string, error) {
		if in == nil {
			return "nil", nil
		}
		return fmt.Sprint(in.N), nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	// Absent or null data leaves the pointer nil; its zero value is
	// validated instead of a method being called on nil.
	wantError(t, c.Request("signup", nil), wsgate.CodeValidationFailed, "email is required")
	c.SendText(`{"event":"signup","id":100}`)
	wantError(t, c.WaitAck(100), wsgate.CodeValidationFailed, "email is required")
	if data := wantOK(t, c.Request("signup", map[string]string{"email": "p@example.com"})); data != `"p@example.com"` {
		t.Fatalf("signup = %s", data)
	}
	if data := wantOK(t, c.Request("ptr", nil)); data != `"nil"` {
		t.Fatalf("ptr without data = %s", data)
	}
	wantError(t, c.Request("ptr", map[string]int{"n": -2}), wsgate.CodeValidationFailed, "n must not be negative")
	if data := wantOK(t, c.Request("ptr", map[string]int{"n": 2})); data != `"2"` {
		t.Fatalf("ptr = %s", data)
	}
}

func TestEventEnvelopeStrictness(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{MaxMalformedFrames: -1})
	var mu sync.Mutex
	calls := 0
	gw.Handle("x", func(c *wsgate.Context) (any, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return "handled", nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	// Frames whose id cannot be read: an exception event.
	for _, frame := range []string{
		`{"Event":"x"}`,
		`{"event":"x","event":"x"}`,
		`{"event":"x"}{}`,
		`{"event":"x"} {"event":"x"}`,
		`{"event":"x","id":-1}`,
		`{"event":"x","id":1.5}`,
		`{"event":"x","id":1e2}`,
		`{"event":"x","id":"7"}`,
		`{"event":"x","id":9007199254740992}`,
		`{"event":"x","DATA":1}`,
		`{"event":""}`,
		`{"event":"x","data":1,"extra":true}`,
		`["x"]`,
	} {
		c.SendText(frame)
		if ex := c.WaitException(); ex.Code != wsgate.CodeBadRequest {
			t.Fatalf("%s: exception %+v, want BAD_REQUEST", frame, ex)
		}
	}
	// Frames with a readable id: an error ack for it.
	for id, frame := range map[int64]string{
		101: `{"Event":"x","id":101}`,
		102: `{"event":"x","id":102,"event":"x"}`,
		103: `{"event":"x","id":103}{}`,
		104: `{"event":"x","id":104,"data":1,"data":2}`,
		105: `{"id":105,"event":"x","Data":1}`,
	} {
		c.SendText(frame)
		wantError(t, c.WaitAck(id), wsgate.CodeBadRequest, "")
	}
	// The largest id is fine, and the connection is still up.
	c.SendText(`{"event":"x","id":9007199254740991}`)
	if data := wantOK(t, c.WaitAck(1<<53-1)); data != `"handled"` {
		t.Fatalf("ack = %s", data)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("handler ran %d times, want once (only for the valid frame)", calls)
	}
	if p := c.Pending(); len(p) != 0 {
		t.Fatalf("unexpected events: %+v", p)
	}
}

func TestEventRegistrationPanics(t *testing.T) {
	t.Parallel()
	gw, err := wsgate.New(wsgate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := func(c *wsgate.Context) (any, error) { return nil, nil }
	gw.Handle("taken", h, wsgate.HandlerOptions{})

	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("duplicate event", func() { gw.Handle("taken", h, wsgate.HandlerOptions{}) })
	mustPanic("duplicate typed event", func() {
		wsgate.On(gw, "taken", func(c *wsgate.Context, in int) (int, error) { return in, nil }, wsgate.HandlerOptions{})
	})
	mustPanic("empty name", func() { gw.Handle("", h, wsgate.HandlerOptions{}) })
	mustPanic("reserved name", func() { gw.Handle("$x", h, wsgate.HandlerOptions{}) })
	mustPanic("reserved $refresh", func() { gw.Handle("$refresh", h, wsgate.HandlerOptions{}) })
	mustPanic("name too long", func() { gw.Handle(strings.Repeat("e", 129), h, wsgate.HandlerOptions{}) })
	// The decoder refuses such names: a handler for one could never run.
	mustPanic("control character", func() { gw.Handle("tab\tname", h, wsgate.HandlerOptions{}) })
	mustPanic("C1 control character", func() { gw.Handle("x\u0085", h, wsgate.HandlerOptions{}) })
	mustPanic("nil handler", func() { gw.Handle("nil-handler", nil, wsgate.HandlerOptions{}) })

	// A name at the limit is fine, and the failed registrations left the
	// table as it was.
	gw.Handle(strings.Repeat("e", 128), h, wsgate.HandlerOptions{})
	gw.Handle("nil-handler", h, wsgate.HandlerOptions{})
}

// ---------------------------------------------------------------------------
// Lifecycle

func TestLifecycleConnectAndDisconnect(t *testing.T) {
	t.Parallel()
	connected := make(chan *wsgate.Conn, 4)
	disconnected := make(chan wsgate.CloseStatus, 4)
	opts := bearerJWTOptions(t)
	opts.OnConnect = func(c *wsgate.Conn) { connected <- c }
	opts.OnDisconnect = func(c *wsgate.Conn, st wsgate.CloseStatus) { disconnected <- st }
	gw, srv := newServer(t, opts)
	gw.Handle("whoami", func(c *wsgate.Context) (any, error) { return c.Conn().ID(), nil }, wsgate.HandlerOptions{})

	c := dialBearer(t, srv, "alice", nil)
	conn := recv(t, connected, "OnConnect")
	if p := conn.Principal(); p == nil || p.Subject != "alice" {
		t.Fatalf("OnConnect principal = %+v, want alice", p)
	}
	if claims, ok := conn.Principal().Claims.(*multiRoleClaims); !ok || claims.Subject != "alice" {
		t.Fatalf("OnConnect claims = %#v", conn.Principal().Claims)
	}
	var id string
	if err := c.Request("whoami", nil).Decode(&id); err != nil || id != conn.ID() || id == "" {
		t.Fatalf("handler's conn id %q, OnConnect's %q (%v)", id, conn.ID(), err)
	}

	// The client closes normally.
	c.Close()
	st := recv(t, disconnected, "OnDisconnect")
	if st.Code != wsgate.StatusNormalClosure || st.ByServer {
		t.Fatalf("client close: OnDisconnect status %+v, want 1000 by the client", st)
	}
	if conn.Context().Err() == nil {
		t.Fatal("the connection's context is not cancelled after it ended")
	}

	// The server closes: a binary frame is refused with 1003.
	c2 := dialBearer(t, srv, "bob", nil)
	if p := recv(t, connected, "OnConnect").Principal(); p == nil || p.Subject != "bob" {
		t.Fatalf("OnConnect principal = %+v, want bob", p)
	}
	c2.SendBinary([]byte{1, 2, 3})
	if cs := c2.WaitClosed(); cs.Code != wsgate.StatusUnsupportedData {
		t.Fatalf("client saw close %+v, want 1003", cs)
	}
	st = recv(t, disconnected, "OnDisconnect")
	if st.Code != wsgate.StatusUnsupportedData || !st.ByServer {
		t.Fatalf("binary frame: OnDisconnect status %+v, want 1003 by the server", st)
	}
}

func TestLifecycleAnonymousConnectHasNoPrincipal(t *testing.T) {
	t.Parallel()
	connected := make(chan *wsgate.Principal, 1)
	opts := bearerJWTOptions(t)
	opts.AllowAnonymous = true
	opts.OnConnect = func(c *wsgate.Conn) { connected <- c.Principal() }
	_, srv := newServer(t, opts)
	srv.Dial(wsgatetest.DialOptions{})
	if p := recv(t, connected, "OnConnect"); p != nil {
		t.Fatalf("anonymous OnConnect principal = %+v, want nil", p)
	}
}

func TestLifecycleHandlerContextCancelledOnDisconnect(t *testing.T) {
	t.Parallel()
	disconnected := make(chan wsgate.CloseStatus, 1)
	gw, srv := newServer(t, wsgate.Options{
		HandlerConcurrency: 2,
		OnDisconnect:       func(c *wsgate.Conn, st wsgate.CloseStatus) { disconnected <- st },
	})
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	gw.Handle("block", func(c *wsgate.Context) (any, error) {
		close(started)
		select {
		case <-c.Context().Done():
			cancelled <- c.Context().Err()
		case <-time.After(2 * testWait):
			cancelled <- errors.New("the context was never cancelled")
		}
		return nil, nil
	}, wsgate.HandlerOptions{})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	c.Emit("block", nil)
	recv(t, started, "the handler to start")
	// The read loop is free while the handler blocks.
	wantOK(t, c.Request("ping", nil))
	c.Close()
	if err := recv(t, cancelled, "the handler's context"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler context: %v", err)
	}
	if st := recv(t, disconnected, "OnDisconnect"); st.Code != wsgate.StatusNormalClosure {
		t.Fatalf("OnDisconnect status %+v", st)
	}
}

func TestLifecycleHandlerContextCancelledAfterEndInOrder(t *testing.T) {
	t.Parallel()
	disconnected := make(chan struct{})
	gw, srv := newServer(t, wsgate.Options{
		OnDisconnect: func(c *wsgate.Conn, st wsgate.CloseStatus) { close(disconnected) },
	})
	kept := make(chan context.Context, 1)
	gw.Handle("keep", func(c *wsgate.Context) (any, error) {
		if err := c.Context().Err(); err != nil {
			return nil, err
		}
		kept <- c.Context()
		return nil, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})
	wantOK(t, c.Request("keep", nil))
	ctx := recv(t, kept, "the handler")
	if ctx.Err() != nil {
		t.Fatal("the handler's context is done while the connection is open")
	}
	c.Close()
	recv(t, disconnected, "OnDisconnect")
	select {
	case <-ctx.Done():
	case <-time.After(testWait):
		t.Fatal("the handler's context is not cancelled after the connection ended")
	}
}

func TestLifecycleEmitFromOutsideHandlers(t *testing.T) {
	t.Parallel()
	var bg sync.WaitGroup
	t.Cleanup(bg.Wait)
	gw, srv := newServer(t, wsgate.Options{
		OnConnect: func(c *wsgate.Conn) {
			bg.Add(1)
			go func() {
				defer bg.Done()
				_ = c.Emit("welcome", map[string]string{"conn": c.ID()})
			}()
		},
	})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})

	a := srv.Dial(wsgatetest.DialOptions{})
	b := srv.Dial(wsgatetest.DialOptions{})
	var w map[string]string
	if err := a.WaitEvent("welcome").Decode(&w); err != nil || w["conn"] == "" {
		t.Fatalf("welcome = %v, %v", w, err)
	}
	b.WaitEvent("welcome")

	// Both sessions are serving once they answer a request.
	wantOK(t, a.Request("ping", nil))
	wantOK(t, b.Request("ping", nil))
	if n := gw.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	if err := gw.Broadcast("news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsgatetest.Client{a, b} {
		var n map[string]int
		if err := c.WaitEvent("news").Decode(&n); err != nil || n["n"] != 1 {
			t.Fatalf("news = %v, %v", n, err)
		}
	}
	// A payload that does not encode is an error, and nothing is sent.
	if err := gw.Broadcast("bad", make(chan int)); err == nil {
		t.Fatal("Broadcast of an unencodable payload succeeded")
	}
	wantOK(t, a.Request("ping", nil))
	for _, e := range a.Pending() {
		if e.Name == "bad" {
			t.Fatalf("unencodable broadcast reached the client: %+v", e)
		}
	}
}

// profileInput reports its invalid fields, through a pointer receiver.
type profileInput struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func (p *profileInput) Validate() error {
	var v wsgate.ValidationError
	if p.Name == "" {
		v.Add("name", "required")
	}
	if p.Age < 18 {
		v.Add("age", "must be at least 18")
	}
	return v.Err()
}

// TestEventValidateFields: a ValidationError from Validate reaches the
// client as VALIDATION_FAILED with its fields in the error's data.
func TestEventValidateFields(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	wsgate.On(gw, "profile", func(c *wsgate.Context, in profileInput) (string, error) {
		return "saved " + in.Name, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	ack := c.Request("profile", map[string]any{"age": 12})
	wantError(t, ack, wsgate.CodeValidationFailed, "name: required; age: must be at least 18")
	if got, want := string(ack.Error.Data), `{"fields":[{"field":"name","message":"required"},{"field":"age","message":"must be at least 18"}]}`; got != want {
		t.Fatalf("data = %s, want %s", got, want)
	}
	c.Emit("profile", map[string]any{"name": "ann"})
	ex := c.WaitException()
	if ex.Code != wsgate.CodeValidationFailed || string(ex.Data) != `{"fields":[{"field":"age","message":"must be at least 18"}]}` {
		t.Fatalf("exception = %+v %s", ex, ex.Data)
	}
	if data := wantOK(t, c.Request("profile", map[string]any{"name": "ann", "age": 30})); data != `"saved ann"` {
		t.Fatalf("valid profile = %s", data)
	}

	// Err is nil without fields: no typed nil slips through as an error.
	var v wsgate.ValidationError
	if err := v.Err(); err != nil {
		t.Fatalf("empty ValidationError.Err() = %v, want nil", err)
	}
}

// TestEventWithoutInput: struct{} is the input of an event that takes
// none; absent data, null and any object are accepted.
func TestEventWithoutInput(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	wsgate.On(gw, "ping", func(*wsgate.Context, struct{}) (string, error) { return "pong", nil }, wsgate.HandlerOptions{})
	wsgate.On(gw, "nothing", func(*wsgate.Context, struct{}) (struct{}, error) { return struct{}{}, nil }, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})
	for _, data := range []any{nil, map[string]int{"ignored": 1}} {
		if got := wantOK(t, c.Request("ping", data)); got != `"pong"` {
			t.Fatalf("ping with %v = %s", data, got)
		}
	}
	if got := wantOK(t, c.Request("nothing", nil)); got != `{}` {
		t.Fatalf("nothing = %s, want {}", got)
	}
	wantError(t, c.Request("ping", []int{1}), wsgate.CodeInvalidData, "invalid data")
}
