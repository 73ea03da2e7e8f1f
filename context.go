package wsgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// ErrAlreadyReplied is returned by Context.Reply and Context.ReplyError when
// the request has been answered already: a request is answered exactly once.
var ErrAlreadyReplied = errors.New("wsgate: request already answered")

// Context is what guards, handlers and filters see of one request: the
// connection, its principal, and, for a message, the event, its payload and
// the handler's metadata. At connect time (connect guards) there is no
// connection yet and no event.
//
// A Context belongs to one request; do not keep it after the handler
// returns.
type Context struct {
	ctx       context.Context
	gw        *Gateway
	conn      *Conn
	req       *http.Request
	principal *Principal
	route     *route
	event     string
	data      []byte
	id        int64
	hasID     bool
	answered  bool
	failure   *Error // the error answered, for Hooks.EventHandled
}

// Context returns the context of the request. For an event it is cancelled
// when the connection ends (or at the Shutdown deadline); at connect time it
// carries the handshake deadline.
func (c *Context) Context() context.Context { return c.ctx }

// Conn returns the connection, or nil at connect time.
func (c *Context) Conn() *Conn { return c.conn }

// Request returns the HTTP upgrade request: the whole of it at connect time
// (connect guards), and for an event the request as the connection keeps
// it, without credentials (see Conn.Request).
func (c *Context) Request() *http.Request { return c.req }

// Principal returns who the connection is authenticated as, or nil for an
// anonymous connection.
func (c *Context) Principal() *Principal { return c.principal }

// Event returns the event name, or "" at connect time.
func (c *Context) Event() string { return c.event }

// Data returns the raw JSON of the message's "data" member (nil when it was
// absent). The bytes are valid only until the handler returns; copy them to
// keep them.
func (c *Context) Data() json.RawMessage { return c.data }

// ID returns the request id and whether the message carried one. A message
// with an id is answered exactly once, with an ack or an error.
func (c *Context) ID() (int64, bool) { return c.id, c.hasID }

// Public reports whether the handler is marked Public (see
// HandlerOptions.Public).
func (c *Context) Public() bool { return c.route != nil && c.route.opts.Public }

// Metadata returns the handler's metadata value for key, as set in
// HandlerOptions.Metadata: what a NestJS guard reads through the Reflector.
func (c *Context) Metadata(key string) (any, bool) {
	if c.route == nil {
		return nil, false
	}
	v, ok := c.route.opts.Metadata[key]
	return v, ok
}

// Emit sends an event to this connection, as Conn.Emit does: it never
// blocks on a slow client. In a connect guard there is no connection yet,
// and Emit returns an error that matches ErrClosed.
func (c *Context) Emit(event string, data any) error {
	if c.conn == nil {
		return errNoConn
	}
	return c.conn.Emit(event, data)
}

// Reply answers the request with data as a success ack. For a message
// without an id it does nothing. A handler's result is replied for it; call
// Reply from a filter that answers the client itself.
//
// The ack is written by the calling goroutine when no other write is in
// progress: no hand-off on the request path. A peer that has stopped
// reading holds that write, and its own connection's next events, for
// WriteTimeout and at most a quarter of it more; the connection is then
// closed with 1013.
func (c *Context) Reply(data any) error {
	if c.answered {
		return ErrAlreadyReplied
	}
	c.answered = true
	if !c.hasID || c.conn == nil {
		return nil
	}
	f := c.gw.frames.get()
	if err := c.conn.appendAck(f, c.id, data); err != nil {
		c.gw.frames.put(f)
		c.answered = false
		return err
	}
	return c.conn.send(f, true)
}

// ReplyError answers the request with err in the NestJS shape: an error ack
// for a message with an id, an "exception" event otherwise. An *Error is
// sent with its message, code and data; any other error as "Internal server
// error".
func (c *Context) ReplyError(err error) error {
	if c.answered {
		return ErrAlreadyReplied
	}
	c.answered = true
	if c.conn == nil {
		return nil
	}
	e, ok := asError(err)
	if !ok {
		e = errInternal
	}
	c.failure = e
	var cause *errorCause
	if c.gw.opts.IncludeCause && c.event != "" {
		cause = &errorCause{Pattern: c.event, Data: rawOrNull(c.data)}
	}
	// An error whose Data does not marshal is sent without it.
	return c.conn.sendError(c.id, c.hasID, e, cause, true)
}

func (c *Context) replied() bool { return c.answered }

func (c *Context) connID() string {
	if c.conn == nil {
		return ""
	}
	return c.conn.id
}

func (c *Context) now() time.Time { return time.Now() }

// logger is the gateway's Logger, or slog.Default for a Context that no
// gateway made.
func (c *Context) logger() *slog.Logger {
	if c.gw == nil || c.gw.log == nil {
		return slog.Default()
	}
	return c.gw.log
}

var errNoConn = fmt.Errorf("%w: no connection at connect time", ErrClosed)
