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
// Filters run in order: the handler's, then the gateway's, then
// DefaultFilter, which sends the NestJS shape
// {"status":"error","message":…,"code":…}.
//
// A filter that returns nil for a request (a message with an id) without
// answering it has chosen to treat the failure as handled: the gateway then
// acknowledges the request with null data, so the client's request is still
// answered exactly once.
//
// Who logs a failure: DefaultFilter logs every error that is not an *Error
// (an *Error is an answer to the client, not a fault) and nothing else. A
// filter that handles an error, returning nil, owns its logging: nothing
// else logs it. A filter that logs an error and passes it on returns
// Logged(err), and DefaultFilter then answers it without logging it again.
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

// CatchIs returns a filter for a sentinel error: an error for which
// errors.Is(err, target) holds is translated into an *Error with code and
// message (its cause kept in Err, for logs and later filters), which goes
// on to the next filter; every other error passes untouched.
//
//	var ErrNotFound = errors.New("not found")
//	wsgate.CatchIs(ErrNotFound, "NOT_FOUND", "item not found")
//
// It panics if target is nil or code is empty: these are programming errors.
func CatchIs(target error, code, message string) Filter {
	if target == nil {
		panic("wsgate: CatchIs with a nil target")
	}
	if code == "" {
		panic(fmt.Sprintf("wsgate: CatchIs(%v) needs a code", target))
	}
	return func(c *Context, err error) error {
		if errors.Is(err, target) {
			return &Error{Code: code, Message: message, Err: err}
		}
		return err
	}
}

// Logged marks err as logged already: a filter that logs an error and passes
// it on returns Logged(err), so that DefaultFilter answers it without
// logging it a second time. The mark is a wrapper: errors.Is and errors.As
// (and so Catch and CatchIs in later filters) see through it. Logged(nil) is
// nil.
func Logged(err error) error {
	if err == nil {
		return nil
	}
	return &loggedError{err: err}
}

// loggedError is the mark Logged puts on an error.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// DefaultFilter is the filter that ends every chain. It answers an *Error
// (and ErrForbidden or ErrUnauthorized) with its message, code and data, and
// any other error with "Internal server error" after logging it through the
// gateway's Logger: at Error level, or Debug when it only says the
// connection is gone (ErrClosed, ErrSlowConsumer), and not at all when it
// was marked with Logged. It answers nothing when the request has been
// answered already, and always returns nil.
//
// The gateway runs it after the handler's and the gateway's filters; put it
// in a chain yourself to end the chain there (later filters do not run).
func DefaultFilter(c *Context, err error) error {
	e, ok := asError(err)
	if !ok {
		var logged *loggedError
		if !errors.As(err, &logged) {
			logFailure(c, err)
		}
		e = errInternal
	}
	if !c.replied() {
		_ = c.ReplyError(e)
	}
	return nil
}

// logFailure logs an error that reaches the client as an internal error.
func logFailure(c *Context, err error) {
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
	c.logger().Log(c.Context(), level, "wsgate: handler failed", attrs...)
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

// runFilters passes err through filters and then to DefaultFilter. A
// sentinel such as ErrForbidden is handed to the filters as a fresh *Error,
// so a filter that edits the error it is given changes that answer only.
// A filter that panics is treated as having passed on the panic as a new
// error.
func (g *Gateway) runFilters(c *Context, err error, filters []Filter) {
	err = fromSentinel(err)
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
		err = fromSentinel(next)
	}
	_ = DefaultFilter(c, err)
}

// fromSentinel returns err, or a fresh *Error in place of a sentinel that
// err is or wraps and that no *Error in its chain already stands for.
func fromSentinel(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var s *sentinel
	if !errors.As(err, &s) {
		return err
	}
	fresh, _ := asError(err)
	return fresh
}
