package wsgate

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// A Filter handles an error raised while an event was guarded or handled,
// the way a NestJS exception filter does. It may answer the client itself
// (with Context.Reply, Context.ReplyError or Context.Emit) and return nil,
// or return an error — the same one, or a translation — for the next filter.
// Filters run in order: the handler's, then the gateway's, then the
// default filter, which sends the NestJS shape
// {"status":"error","message":…,"code":…}.
//
// A filter that returns nil for a request (a message with an id) without
// answering it has chosen to treat the failure as handled: the gateway then
// acknowledges the request with null data, so the client's request is still
// answered exactly once.
type Filter func(c *Context, err error) error

// Catch returns a filter that calls fn for errors that errors.As finds to be
// of type E, and passes every other error on untouched.
//
//	wsgate.Catch(func(c *wsgate.Context, err *json.SyntaxError) error { ... })
func Catch[E error](fn func(c *Context, err E) error) Filter {
	return func(c *Context, err error) error {
		var target E
		if errors.As(err, &target) {
			return fn(c, target)
		}
		return err
	}
}

// PanicError is the error a recovered panic becomes. It reaches filters like
// any other error, and the client as "Internal server error".
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

// Error says what was passed to panic; the stack is left to logs.
func (e *PanicError) Error() string { return fmt.Sprintf("wsgate: panic: %v", e.Value) }

// protect calls fn and turns a panic into a *PanicError.
func protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// runFilters passes err through filters and then to the default filter.
// A filter that panics is treated as having passed on the panic as a new
// error.
func (g *Gateway) runFilters(c *Context, err error, filters []Filter) {
	for _, f := range filters {
		next := err
		perr := protect(func() error {
			next = f(c, next)
			return nil
		})
		if perr != nil {
			next = perr
		}
		if next == nil {
			if !c.replied() {
				_ = c.Reply(nil)
			}
			return
		}
		err = next
	}
	g.defaultFilter(c, err)
}

// defaultFilter answers an *Error with its message and code, and anything
// else with "Internal server error" after logging it (at Debug level when it
// only says the connection is gone).
func (g *Gateway) defaultFilter(c *Context, err error) {
	e, ok := asError(err)
	if !ok {
		attrs := []any{
			slog.String("event", c.Event()),
			slog.String("conn", c.connID()),
			slog.Any("error", err),
		}
		var p *PanicError
		if errors.As(err, &p) {
			attrs = append(attrs, slog.String("stack", string(p.Stack)))
		}
		level := slog.LevelError
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrSlowConsumer) {
			// The peer left or fell behind while the handler ran: an
			// ordinary end of a connection, not a fault of the server.
			level = slog.LevelDebug
		}
		g.log.Log(c.Context(), level, "wsgate: handler failed", attrs...)
		e = errInternal
	}
	if c.replied() {
		return
	}
	_ = c.ReplyError(e)
}
