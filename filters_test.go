package wsgate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// passFilter returns a filter that records name and passes the error on.
func passFilter(rec *recorder, name string) wsgate.Filter {
	return func(c *wsgate.Context, err error) error {
		rec.add(name)
		return err
	}
}

// myError is an application error type for Catch.
type myError struct{ Resource string }

func (e *myError) Error() string { return "myError: " + e.Resource + " missing (internal detail)" }

func TestFilterOrder(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{passFilter(rec, "gw1"), passFilter(rec, "gw2")},
	})
	gw.Handle("fail", func(c *wsgate.Context) (any, error) {
		return nil, wsgate.NewError("TEAPOT", "short and stout")
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{passFilter(rec, "h1"), passFilter(rec, "h2")}})
	gw.Handle("deny", func(c *wsgate.Context) (any, error) { return "unreachable", nil },
		wsgate.HandlerOptions{
			Guards:  []wsgate.Guard{wsgate.Allow(func(*wsgate.Context) bool { return false })},
			Filters: []wsgate.Filter{passFilter(rec, "deny-h")},
		})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("fail", nil), "TEAPOT", "short and stout")
	if got := rec.String(); got != "h1,h2,gw1,gw2" {
		t.Fatalf("filter order = %s, want handler filters then gateway filters", got)
	}
	// A guard's denial goes through the same chain.
	wantError(t, c.Request("deny", nil), wsgate.CodeForbidden, "Forbidden resource")
	if got := rec.String(); got != "h1,h2,gw1,gw2,deny-h,gw1,gw2" {
		t.Fatalf("filter order = %s", got)
	}
	// Success runs no filter.
	gw.Handle("ok", func(c *wsgate.Context) (any, error) { return 1, nil },
		wsgate.HandlerOptions{Filters: []wsgate.Filter{passFilter(rec, "ok-h")}})
	wantOK(t, c.Request("ok", nil))
	if got := rec.String(); got != "h1,h2,gw1,gw2,deny-h,gw1,gw2" {
		t.Fatalf("filters ran on success: %s", got)
	}
}

func TestFilterTranslates(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	var sawTranslated atomic.Bool
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
			rec.add("gw")
			var e *wsgate.Error
			if errors.As(err, &e) && e.Code == "STORAGE_UNAVAILABLE" {
				sawTranslated.Store(true)
			}
			return err
		}},
	})
	gw.Handle("save", func(c *wsgate.Context) (any, error) {
		return nil, errors.New("pq: connection refused to 10.0.0.5")
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
		rec.add("h")
		return &wsgate.Error{Code: "STORAGE_UNAVAILABLE", Message: "try again later", Err: err}
	}}})
	c := srv.Dial(wsgatetest.DialOptions{})

	ack := c.Request("save", nil)
	wantError(t, ack, "STORAGE_UNAVAILABLE", "try again later")
	if strings.Contains(fmt.Sprintf("%+v", *ack.Error), "10.0.0.5") {
		t.Fatalf("the cause's text reached the client: %+v", *ack.Error)
	}
	if !sawTranslated.Load() || rec.String() != "h,gw" {
		t.Fatalf("the gateway filter did not receive the translation (ran %s)", rec.String())
	}
}

func TestFilterAnswersItself(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{passFilter(rec, "gw")},
	})
	boom := func(c *wsgate.Context) (any, error) { return nil, errors.New("boom") }
	gw.Handle("reply-error", boom, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		func(c *wsgate.Context, err error) error {
			rec.add("reply-error")
			if rerr := c.ReplyError(wsgate.NewError("CUSTOM", "handled by the filter")); rerr != nil {
				t.Errorf("ReplyError: %v", rerr)
			}
			if rerr := c.ReplyError(wsgate.NewError("SECOND", "second answer")); !errors.Is(rerr, wsgate.ErrAlreadyReplied) {
				t.Errorf("second ReplyError = %v, want ErrAlreadyReplied", rerr)
			}
			if rerr := c.Reply("late"); !errors.Is(rerr, wsgate.ErrAlreadyReplied) {
				t.Errorf("Reply after ReplyError = %v, want ErrAlreadyReplied", rerr)
			}
			return nil
		},
	}})
	gw.Handle("reply", boom, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		func(c *wsgate.Context, err error) error {
			rec.add("reply")
			_ = c.Reply(map[string]string{"fallback": "cached"})
			return nil
		},
	}})
	// Answers and then passes the error on anyway: the default filter must
	// not answer a second time.
	gw.Handle("reply-and-pass", boom, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		func(c *wsgate.Context, err error) error {
			rec.add("reply-and-pass")
			_ = c.ReplyError(wsgate.NewError("FIRST", "first answer"))
			return err
		},
	}})
	gw.Handle("emit", boom, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		func(c *wsgate.Context, err error) error {
			rec.add("emit")
			_ = c.Emit("oops", map[string]string{"what": c.Event()})
			return nil
		},
	}})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("reply-error", nil), "CUSTOM", "handled by the filter")
	if data := wantOK(t, c.Request("reply", nil)); data != `{"fallback":"cached"}` {
		t.Fatalf("reply = %s", data)
	}
	wantError(t, c.Request("reply-and-pass", nil), "FIRST", "first answer")

	// Without an id: the client gets the emitted event and nothing else.
	c.Emit("emit", nil)
	var oops map[string]string
	if err := c.WaitEvent("oops").Decode(&oops); err != nil || oops["what"] != "emit" {
		t.Fatalf("oops = %v, %v", oops, err)
	}
	c.Emit("reply-error", nil)
	if ex := c.WaitException(); ex.Code != "CUSTOM" {
		t.Fatalf("exception = %+v", ex)
	}
	// With an id: the emitted event, and the request still answered once.
	ack := c.Request("emit", nil)
	if data := wantOK(t, ack); data != "null" {
		t.Fatalf("ack after a filter that emitted = %s", data)
	}
	c.WaitEvent("oops")

	// A round trip flushes anything else the server might have sent.
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})
	wantOK(t, c.Request("ping", nil))
	if p := c.Pending(); len(p) != 0 {
		t.Fatalf("extra events: %+v", p)
	}
	if got := rec.String(); got != "reply-error,reply,reply-and-pass,gw,emit,reply-error,emit" {
		t.Fatalf("filters that ran = %s", got)
	}
	// Double answers are reported by the harness when the client closes.
	c.Close()
}

func TestFilterReturnsNilWithoutAnswering(t *testing.T) {
	t.Parallel()
	var gwRan atomic.Int32
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error { gwRan.Add(1); return err }},
	})
	gw.Handle("swallow", func(c *wsgate.Context) (any, error) {
		return "ignored result", errors.New("swallowed")
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error { return nil }}})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})
	r := dialRawClient(t, srv, nil)

	r.send(`{"event":"swallow","id":12}`)
	if f := r.read(); f != `{"id":12,"data":null}` {
		t.Fatalf("answer = %s, want an ack with null data", f)
	}
	// Without an id there is nothing to answer.
	r.send(`{"event":"swallow"}`)
	r.send(`{"event":"ping","id":13}`)
	if f := r.read(); f != `{"id":13,"data":"pong"}` {
		t.Fatalf("next frame = %s, want the ping ack", f)
	}
	if n := gwRan.Load(); n != 0 {
		t.Fatalf("gateway filter ran %d times after a filter handled the error", n)
	}
}

func TestFilterCatch(t *testing.T) {
	t.Parallel()
	var caught atomic.Int32
	catch := wsgate.Catch(func(c *wsgate.Context, err *myError) error {
		caught.Add(1)
		return &wsgate.Error{Code: "NOT_FOUND", Message: err.Resource + " not found", Err: err}
	})
	gw, srv := newServer(t, wsgate.Options{Filters: []wsgate.Filter{catch}})
	wsgate.On(gw, "find", func(c *wsgate.Context, what string) (string, error) {
		switch what {
		case "direct":
			return "", &myError{Resource: "direct"}
		case "wrapped":
			return "", fmt.Errorf("loading: %w", fmt.Errorf("store: %w", &myError{Resource: "wrapped"}))
		case "joined":
			return "", errors.Join(errors.New("first"), &myError{Resource: "joined"})
		case "app":
			return "", wsgate.NewError("APP", "an application error")
		}
		return "", errors.New("something else (internal detail)")
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	for _, what := range []string{"direct", "wrapped", "joined"} {
		wantError(t, c.Request("find", what), "NOT_FOUND", what+" not found")
	}
	if n := caught.Load(); n != 3 {
		t.Fatalf("caught %d, want 3", n)
	}
	wantError(t, c.Request("find", "app"), "APP", "an application error")
	ack := c.Request("find", "other")
	wantError(t, ack, wsgate.CodeInternal, "Internal server error")
	if n := caught.Load(); n != 3 {
		t.Fatalf("Catch caught errors of other types: %d", n)
	}
}

func TestFilterHandlerPanic(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	var filterSaw atomic.Pointer[wsgate.PanicError]
	gw, srv := newServer(t, wsgate.Options{
		Logger: logs.logger(),
		Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
			var p *wsgate.PanicError
			if errors.As(err, &p) {
				filterSaw.Store(p)
			}
			return err
		}},
	})
	gw.Handle("explode", func(c *wsgate.Context) (any, error) {
		panicKaboom()
		return nil, nil
	}, wsgate.HandlerOptions{})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})

	victim := srv.Dial(wsgatetest.DialOptions{})
	bystander := srv.Dial(wsgatetest.DialOptions{})
	wantOK(t, bystander.Request("ping", nil))

	ack := victim.Request("explode", nil)
	wantError(t, ack, wsgate.CodeInternal, "Internal server error")
	whole, _ := json.Marshal(ack.Error)
	for _, leak := range []string{"kaboom", "goroutine", ".go:", "panic"} {
		if strings.Contains(string(whole), leak) {
			t.Fatalf("answer %s leaks %q", whole, leak)
		}
	}
	victim.Emit("explode", nil)
	if ex := victim.WaitException(); ex.Message != "Internal server error" {
		t.Fatalf("exception = %+v", ex)
	}

	// The panicking connection and the other one both keep working.
	wantOK(t, victim.Request("ping", nil))
	wantOK(t, bystander.Request("ping", nil))

	p := filterSaw.Load()
	if p == nil || p.Value != "kaboom-3b1f" || len(p.Stack) == 0 {
		t.Fatalf("filter saw %+v, want a *PanicError with the value and a stack", p)
	}
	log := logs.String()
	for _, want := range []string{"kaboom-3b1f", "explode", "panicKaboom", "stack"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log does not contain %q:\n%s", want, log)
		}
	}
}

//go:noinline
func panicKaboom() { panic("kaboom-3b1f") }

func TestFilterPanicKeepsChain(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	var sawPanic atomic.Bool
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
			rec.add("gw")
			var p *wsgate.PanicError
			sawPanic.Store(errors.As(err, &p))
			return err
		}},
	})
	gw.Handle("bad-filter", func(c *wsgate.Context) (any, error) {
		return nil, wsgate.NewError("ORIGINAL", "original error")
	}, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		func(c *wsgate.Context, err error) error {
			rec.add("panicky")
			panic("filter-panic")
		},
		passFilter(rec, "after"),
	}})
	gw.Handle("ping", func(c *wsgate.Context) (any, error) { return "pong", nil }, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("bad-filter", nil), wsgate.CodeInternal, "Internal server error")
	if got := rec.String(); got != "panicky,after,gw" {
		t.Fatalf("filters that ran = %s, want the rest of the chain after the panic", got)
	}
	if !sawPanic.Load() {
		t.Fatal("the gateway filter did not receive the panic as a *PanicError")
	}
	c.Emit("bad-filter", nil)
	if ex := c.WaitException(); ex.Code != wsgate.CodeInternal {
		t.Fatalf("exception = %+v", ex)
	}
	wantOK(t, c.Request("ping", nil))
}

func TestFilterInternalTextNeverSent(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-dsn-postgres://admin:hunter2@db"
	// IncludeCause echoes what the client sent, never the error.
	gw, srv := newServer(t, wsgate.Options{IncludeCause: true})
	gw.Handle("plain", func(c *wsgate.Context) (any, error) { return nil, errors.New(secret) }, wsgate.HandlerOptions{})
	gw.Handle("wrapped", func(c *wsgate.Context) (any, error) {
		return nil, fmt.Errorf("query failed: %w", errors.New(secret))
	}, wsgate.HandlerOptions{})
	gw.Handle("cause", func(c *wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "DB", Message: "database unavailable", Err: errors.New(secret)}
	}, wsgate.HandlerOptions{})
	gw.Handle("guarded", func(c *wsgate.Context) (any, error) { return nil, nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{func(*wsgate.Context) error { return errors.New(secret) }}})
	gw.Handle("filtered", func(c *wsgate.Context) (any, error) { return nil, errors.New("x") },
		wsgate.HandlerOptions{Filters: []wsgate.Filter{func(c *wsgate.Context, err error) error {
			return fmt.Errorf("filter: %s", secret)
		}}})
	gw.Handle("unmarshalable", func(c *wsgate.Context) (any, error) {
		return map[string]any{secret: make(chan int)}, nil
	}, wsgate.HandlerOptions{})
	r := dialRawClient(t, srv, nil)

	events := []string{"plain", "wrapped", "cause", "guarded", "filtered"}
	for i, ev := range events {
		r.send(fmt.Sprintf(`{"event":%q,"id":%d}`, ev, i))
		r.send(fmt.Sprintf(`{"event":%q}`, ev))
	}
	// A result that does not encode is the handler's bug: an internal
	// error for a request (a message without id has no answer to encode).
	r.send(`{"event":"unmarshalable","id":99}`)
	want := 2*len(events) + 1
	frames := []string{}
	for range want {
		frames = append(frames, r.read())
	}
	frames = append(frames, r.closeAndDrain()...)
	if len(frames) != want {
		t.Fatalf("got %d frames, want %d: %q", len(frames), want, frames)
	}
	for _, f := range frames {
		if strings.Contains(f, "s3cr3t") || strings.Contains(f, "hunter2") {
			t.Fatalf("internal error text reached the client: %s", f)
		}
		if !strings.Contains(f, `"Internal server error"`) && !strings.Contains(f, `"database unavailable"`) {
			t.Fatalf("unexpected answer %s", f)
		}
	}
}

func TestFilterErrorData(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	gw.Handle("limits", func(c *wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "QUOTA", Message: "quota exceeded", Data: map[string]any{"limit": 10, "used": 12}}
	}, wsgate.HandlerOptions{})
	gw.Handle("bad-data", func(c *wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "ODD", Message: "odd data", Data: make(chan int)}
	}, wsgate.HandlerOptions{})
	gw.Handle("no-data", func(c *wsgate.Context) (any, error) { return nil, wsgate.NewError("PLAIN", "no data") }, wsgate.HandlerOptions{})
	r := dialRawClient(t, srv, nil)

	r.send(`{"event":"limits","id":1}`)
	if f := r.read(); f != `{"id":1,"error":{"status":"error","message":"quota exceeded","code":"QUOTA","data":{"limit":10,"used":12}}}` {
		t.Fatalf("answer = %s", f)
	}
	r.send(`{"event":"limits"}`)
	if f := r.read(); f != `{"event":"exception","data":{"status":"error","message":"quota exceeded","code":"QUOTA","data":{"limit":10,"used":12}}}` {
		t.Fatalf("exception = %s", f)
	}
	r.send(`{"event":"no-data","id":2}`)
	if f := r.read(); f != `{"id":2,"error":{"status":"error","message":"no data","code":"PLAIN"}}` {
		t.Fatalf("answer = %s", f)
	}
	// Data that does not encode is dropped; the error is still answered.
	r.send(`{"event":"bad-data","id":3}`)
	if f := r.read(); f != `{"id":3,"error":{"status":"error","message":"odd data","code":"ODD"}}` {
		t.Fatalf("answer = %s", f)
	}
}

func TestFilterIncludeCause(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{false, true} {
		gw, srv := newServer(t, wsgate.Options{IncludeCause: include})
		gw.Handle("fail", func(c *wsgate.Context) (any, error) { return nil, wsgate.NewError("NOPE", "nope") }, wsgate.HandlerOptions{})
		gw.Handle("crash", func(c *wsgate.Context) (any, error) { return nil, errors.New("internal") }, wsgate.HandlerOptions{})
		c := srv.Dial(wsgatetest.DialOptions{})

		for _, ev := range []string{"fail", "crash"} {
			ack := c.Request(ev, map[string]any{"n": 1, "s": "x"})
			c.Emit(ev, []int{7})
			ex := c.WaitException()
			if !include {
				if ack.Error == nil || ack.Error.Cause != nil || ex.Cause != nil {
					t.Fatalf("%s without IncludeCause: ack %+v, exception %+v; want no cause", ev, ack.Error, ex)
				}
				continue
			}
			var cause struct {
				Pattern string          `json:"pattern"`
				Data    json.RawMessage `json:"data"`
			}
			if ack.Error == nil || json.Unmarshal(ack.Error.Cause, &cause) != nil ||
				cause.Pattern != ev || string(cause.Data) != `{"n":1,"s":"x"}` {
				t.Fatalf("%s: ack error %+v, want cause {pattern %s, data {n:1,s:x}}", ev, ack.Error, ev)
			}
			if json.Unmarshal(ex.Cause, &cause) != nil || cause.Pattern != ev || string(cause.Data) != `[7]` {
				t.Fatalf("%s: exception %+v, want cause {pattern %s, data [7]}", ev, ex, ev)
			}
		}
		if include {
			// Absent data is echoed as null.
			c.Emit("fail", nil)
			c.SendText(`{"event":"fail"}`)
			c.WaitException()
			ex := c.WaitException()
			if string(ex.Cause) != `{"pattern":"fail","data":null}` {
				t.Fatalf("cause without data = %s", ex.Cause)
			}
		}
	}
}

// TestFilterEditingGuardDenialIsLocal: a filter that rewrites the denial it
// is given changes that answer only, never the package's ErrForbidden.
func TestFilterEditingGuardDenialIsLocal(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{})
	gw.Handle("locked", func(*wsgate.Context) (any, error) { return "open", nil }, wsgate.HandlerOptions{
		Guards: []wsgate.Guard{wsgate.Allow(func(*wsgate.Context) bool { return false })},
		Filters: []wsgate.Filter{wsgate.Catch(func(c *wsgate.Context, e *wsgate.Error) error {
			e.Message = "rewritten by a filter"
			return e
		})},
	})
	gw.Handle("also-locked", func(*wsgate.Context) (any, error) { return "open", nil }, wsgate.HandlerOptions{
		Guards: []wsgate.Guard{wsgate.Allow(func(*wsgate.Context) bool { return false })},
	})
	c := dialBearer(t, srv, "", nil)
	wantError(t, c.Request("locked", nil), wsgate.CodeForbidden, "rewritten by a filter")
	if got := wsgate.ErrForbidden.Error(); got != "FORBIDDEN: Forbidden resource" {
		t.Fatalf("ErrForbidden = %q after a filter edited its error", got)
	}
	// The next denial, on the same connection, says what it always says.
	wantError(t, c.Request("also-locked", nil), wsgate.CodeForbidden, "Forbidden resource")
	wantError(t, c.Request("locked", nil), wsgate.CodeForbidden, "rewritten by a filter")
}

// TestIncludeCauseOnlyForRoutedEvents: the cause names the event and its
// data for a handler's error, and is absent for errors found before
// routing, where there is no event to name.
func TestIncludeCauseOnlyForRoutedEvents(t *testing.T) {
	t.Parallel()
	gw, srv := newServer(t, wsgate.Options{IncludeCause: true})
	gw.Handle("fail", func(*wsgate.Context) (any, error) { return nil, wsgate.NewError("NOPE", "nope") }, wsgate.HandlerOptions{})
	r := dialRawClient(t, srv, nil)

	r.send(`{"event":"fail","data":{"x":1},"id":1}`)
	if got, want := r.read(), `"cause":{"pattern":"fail","data":{"x":1}}`; !strings.Contains(got, want) {
		t.Fatalf("handler error %s, want it to hold %s", got, want)
	}
	for _, frame := range []string{`{"event":"nosuch","id":2}`, `{"event":"fail","id":3,"extra":true}`} {
		r.send(frame)
		if got := r.read(); strings.Contains(got, "cause") {
			t.Fatalf("answer to %s is %s: a cause without an event", frame, got)
		}
	}
}

// errNotFound is an application's sentinel error.
var errNotFound = errors.New("not found")

// TestFilterCatchIs: a sentinel error, wrapped with %w, is translated into
// the code and message given; the translation goes on to the next filter,
// and other errors pass untouched.
func TestFilterCatchIs(t *testing.T) {
	t.Parallel()
	var gwSaw atomic.Value
	gw, srv := newServer(t, wsgate.Options{
		Filters: []wsgate.Filter{
			wsgate.CatchIs(errNotFound, "NOT_FOUND", "item not found"),
			func(c *wsgate.Context, err error) error {
				var e *wsgate.Error
				gwSaw.Store(errors.As(err, &e) && e.Code == "NOT_FOUND" && errors.Is(err, errNotFound))
				return err
			},
		},
	})
	wsgate.On(gw, "item", func(c *wsgate.Context, id string) (string, error) {
		switch id {
		case "missing":
			return "", fmt.Errorf("loading item %s: %w", id, errNotFound)
		case "broken":
			return "", errors.New("not found in the cache either (internal detail)")
		}
		return "item " + id, nil
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("item", "missing"), "NOT_FOUND", "item not found")
	if saw, _ := gwSaw.Load().(bool); !saw {
		t.Fatal("the next filter did not receive the translation with its cause")
	}
	// An error with the same text is not the sentinel.
	wantError(t, c.Request("item", "broken"), wsgate.CodeInternal, "Internal server error")
	if data := wantOK(t, c.Request("item", "7")); data != `"item 7"` {
		t.Fatalf("item 7 = %s", data)
	}
	for name, f := range map[string]func(){
		"nil target": func() { wsgate.CatchIs(nil, "X", "x") },
		"no code":    func() { wsgate.CatchIs(errNotFound, "", "x") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CatchIs with %s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestFilterWhoLogs: the default filter logs an internal error once; a
// filter that logs and passes the error on with Logged is the only one to
// log it; a filter that handles the error owns its logging.
func TestFilterWhoLogs(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	gw, srv := newServer(t, wsgate.Options{Logger: logs.logger()})
	logAndPass := func(marked bool) wsgate.Filter {
		return func(c *wsgate.Context, err error) error {
			logs.logger().Error("app: event failed", "event", c.Event(), "error", err)
			if marked {
				return wsgate.Logged(err)
			}
			return err
		}
	}
	fail := func(c *wsgate.Context) (any, error) {
		return nil, fmt.Errorf("%s: db-timeout-%s", c.Event(), c.Event())
	}
	gw.Handle("unlogged", fail, wsgate.HandlerOptions{})
	gw.Handle("logged-twice", fail, wsgate.HandlerOptions{Filters: []wsgate.Filter{logAndPass(false)}})
	gw.Handle("logged-once", fail, wsgate.HandlerOptions{Filters: []wsgate.Filter{
		logAndPass(true),
		// Later filters still see the error through the mark.
		wsgate.Catch(func(c *wsgate.Context, err *wsgate.PanicError) error { return err }),
	}})
	gw.Handle("app-error", func(*wsgate.Context) (any, error) {
		return nil, wsgate.NewError("APP", "an answer, not a fault")
	}, wsgate.HandlerOptions{})
	c := srv.Dial(wsgatetest.DialOptions{})

	count := func(needle string) int { return strings.Count(logs.String(), needle) }
	wantError(t, c.Request("unlogged", nil), wsgate.CodeInternal, "Internal server error")
	wantError(t, c.Request("logged-twice", nil), wsgate.CodeInternal, "Internal server error")
	wantError(t, c.Request("logged-once", nil), wsgate.CodeInternal, "Internal server error")
	wantError(t, c.Request("app-error", nil), "APP", "an answer, not a fault")
	for needle, want := range map[string]int{
		"db-timeout-unlogged":     1, // the default filter
		"db-timeout-logged-twice": 2, // the filter's and the default filter's
		"db-timeout-logged-once":  1, // the filter's only
		"not a fault":             0, // an *Error is an answer
	} {
		if got := count(needle); got != want {
			t.Errorf("%s logged %d times, want %d:\n%s", needle, got, want, logs.String())
		}
	}
	if wsgate.Logged(nil) != nil {
		t.Error("Logged(nil) is not nil")
	}
}

// TestFilterDefaultFilterEndsAChain: DefaultFilter in a handler's chain
// answers and logs as the gateway's own does, and the gateway's filters do
// not run after it.
func TestFilterDefaultFilterEndsAChain(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	rec := &recorder{}
	gw, srv := newServer(t, wsgate.Options{Logger: logs.logger(), Filters: []wsgate.Filter{passFilter(rec, "gw")}})
	opts := wsgate.HandlerOptions{Filters: []wsgate.Filter{passFilter(rec, "h"), wsgate.DefaultFilter}}
	gw.Handle("crash", func(*wsgate.Context) (any, error) { return nil, errors.New("crash-detail-42") }, opts)
	gw.Handle("deny", func(*wsgate.Context) (any, error) { return nil, wsgate.ErrForbidden }, opts)
	gw.Handle("quota", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "QUOTA", Message: "quota exceeded", Data: map[string]int{"limit": 3}}
	}, opts)
	c := srv.Dial(wsgatetest.DialOptions{})

	wantError(t, c.Request("crash", nil), wsgate.CodeInternal, "Internal server error")
	wantError(t, c.Request("deny", nil), wsgate.CodeForbidden, "Forbidden resource")
	ack := c.Request("quota", nil)
	wantError(t, ack, "QUOTA", "quota exceeded")
	if string(ack.Error.Data) != `{"limit":3}` {
		t.Fatalf("quota data = %s", ack.Error.Data)
	}
	c.Emit("crash", nil)
	if ex := c.WaitException(); ex.Code != wsgate.CodeInternal {
		t.Fatalf("exception = %+v", ex)
	}
	if got := rec.String(); got != "h,h,h,h" {
		t.Fatalf("filters that ran = %s, want the handler's only", got)
	}
	if n := strings.Count(logs.String(), "crash-detail-42"); n != 2 {
		t.Fatalf("the internal error was logged %d times, want once per failure (2):\n%s", n, logs.String())
	}
}
