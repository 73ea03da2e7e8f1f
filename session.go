package wsgate

import (
	"errors"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/wsgate/wsgate/internal/wsio"
	"golang.org/x/time/rate"
)

// serve runs a tracked connection's session, its transport attached, until
// the connection ends and everything it started is done. Its teardown runs
// whatever happens, a panic included.
func (g *Gateway) serve(c *Conn) {
	defer g.teardown(c)
	g.connOpened(c)
	if g.admission.closing() {
		// Shutdown began between admission and tracking, and its
		// snapshot missed this connection.
		c.drain()
	}
	c.startTimers()
	if g.opts.OnConnect != nil {
		if err := protect(func() error { g.opts.OnConnect(c); return nil }); err != nil {
			g.log.Error("wsgate: OnConnect panicked", slog.String("conn", c.id), slog.Any("error", err))
			c.closeWith(StatusInternalError, "internal error")
		}
	}
	c.opened()
	c.in.readers.Add(1)
	c.read()
	c.in.readers.Wait() // the reading may have moved to another goroutine
}

// read runs the read loop on the calling goroutine while it is the
// connection's reader, counted in readers. The reader whose loop ends the
// connection finishes it; one that handed the reading over just returns.
func (c *Conn) read() {
	defer c.in.readers.Done()
	err := errStopped
	defer func() {
		if v := recover(); v != nil {
			c.gw.log.Error("wsgate: read loop panicked", slog.String("conn", c.id), slog.Any("panic", v))
			c.fail(StatusInternalError, "internal error")
			err = errStopped
		}
		if err != errHandedOff {
			c.finish(err)
		}
	}()
	err = c.readLoop()
}

// teardown ends the session: the socket is dropped, the handlers (whose
// context is cancelled) are waited for, then the background work, and only
// then is the connection forgotten, its place given back and OnDisconnect
// told.
func (g *Gateway) teardown(c *Conn) {
	defer c.ticket.release()
	if v := recover(); v != nil {
		g.log.Error("wsgate: session panicked", slog.String("conn", c.id), slog.Any("panic", v))
		c.fail(StatusInternalError, "internal error")
	}
	c.in.wg.Wait()
	c.bg.Wait()
	g.untrack(c)
	g.connClosed(c)
	if g.opts.OnDisconnect != nil {
		c.mu.Lock()
		status := c.status
		c.mu.Unlock()
		if err := protect(func() error { g.opts.OnDisconnect(c, status); return nil }); err != nil {
			g.log.Error("wsgate: OnDisconnect panicked", slog.String("conn", c.id), slog.Any("error", err))
		}
	}
}

// readLoop reads messages until the connection ends and returns why. A
// frame the protocol does not accept closes the connection with the code
// for it. The loop never runs user code (see inbox.go), so it is always
// reading, and sees the peer leave as soon as it does.
func (c *Conn) readLoop() error {
	limit := c.gw.opts.ReadLimit
	native, _ := c.tr.(*wsTransport)
	for {
		var f *frame
		var err error
		if native != nil {
			// Wait for the message before taking a buffer for it.
			var r io.Reader
			if r, err = native.next(); err == nil {
				f = c.gw.frames.get()
				f.b, err = wsio.ReadAtMost(f.b, r, limit+1)
			}
		} else {
			f = c.gw.frames.get()
			f.b, err = c.tr.ReadMessage(f.b, limit+1)
		}
		switch {
		case errors.Is(err, ErrUnsupportedMessage):
			c.gw.frames.putMaybe(f)
			c.closeAfterEvents(StatusUnsupportedData, "binary frames are not accepted")
			return errStopped
		case err != nil:
			c.gw.frames.putMaybe(f)
			return err
		case int64(len(f.b)) > limit:
			c.gw.frames.put(f)
			c.closeAfterEvents(StatusMessageTooBig, "message too big")
			return errStopped
		case !utf8.Valid(f.b):
			c.gw.frames.put(f)
			c.closeAfterEvents(StatusInvalidUTF8, "invalid UTF-8")
			return errStopped
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
	}
}

// closeAfterEvents closes the connection for a fault of the peer's found by
// the read loop (a limit, a frame it may not send), once the events it sent
// before the fault have been handled and answered: a request accepted is
// answered, as it would be had the fault come a moment later. The loop reads
// nothing more meanwhile.
func (c *Conn) closeAfterEvents(code StatusCode, reason string) {
	c.notReading(c.in.wg.Wait)
	c.closeWith(code, reason)
}

var (
	// errStopped ends the read loop when the gateway itself closed the
	// connection; the close status is already recorded.
	errStopped = errors.New("wsgate: read loop stopped")
	// errHandedOff ends a read loop whose goroutine is no longer the
	// reader: another goroutine reads on (see runInline).
	errHandedOff = errors.New("wsgate: reading handed off")
	// errNotAccepted: the connection takes no new event (see
	// acceptEventLocked).
	errNotAccepted = errors.New("wsgate: event not accepted")
)

// dispatch applies the rate limit, decodes one message and hands it to be
// handled. It takes ownership of f, and returns nil for the read loop to go
// on, errStopped when the connection is closing, or errHandedOff. Answers it
// gives itself are queued, never written by the reader.
func (c *Conn) dispatch(f *frame) error {
	g := c.gw
	if c.limiter == nil && g.opts.EventsPerSecond > 0 {
		// Made with the first event, full: the same bucket as one made
		// at connect time (it holds no more than its burst), and none at
		// all for a connection that stays idle.
		c.limiter = rate.NewLimiter(rate.Limit(g.opts.EventsPerSecond), g.opts.EventBurst)
	}
	if c.limiter != nil && !c.limiter.Allow() {
		c.violations++
		c.rateLimited()
		env, _ := c.decode(f.b)
		c.answerError(env.ID, env.HasID, errRateLimited)
		g.frames.put(f)
		if g.opts.MaxRateViolations >= 0 && c.violations >= g.opts.MaxRateViolations {
			c.closeAfterEvents(StatusPolicyViolation, "rate limit exceeded")
			return errStopped
		}
		return nil
	}
	c.violations = 0

	env, err := c.decode(f.b)
	if err != nil {
		c.malformed++
		var de *DecodeError
		if !errors.As(err, &de) {
			de = &DecodeError{Reason: "malformed message"}
		}
		c.answerError(de.ID, de.HasID, &Error{Code: CodeBadRequest, Message: de.Reason})
		g.frames.put(f)
		if g.opts.MaxMalformedFrames >= 0 && c.malformed >= g.opts.MaxMalformedFrames {
			c.closeAfterEvents(StatusPolicyViolation, "too many malformed frames")
			return errStopped
		}
		return nil
	}

	ctx := &Context{ctx: c.ctx, gw: g, conn: c, req: c.req, data: env.Data, id: env.ID, hasID: env.HasID}
	ev := event{ctx: ctx, f: f}
	if env.Event[0] == '$' {
		ev.protocol, ctx.event = true, string(env.Event)
	} else if rt := g.lookup(env.Event); rt != nil {
		ctx.route, ctx.event = rt, rt.name
	} // else unknown: answered in turn, without echoing the name
	switch err = c.enqueue(ev); err {
	case errNotAccepted:
		c.answerError(env.ID, env.HasID, errShuttingDown) // draining; ErrClosed when closing
		g.frames.put(f)
		return nil
	case errStopped:
		g.frames.put(f)
		c.eventDone()
	}
	return err
}

// handle runs the guards and the handler, answers a request with the
// result, and sends any error through the filters. A result that cannot be
// encoded is the handler's error like any other.
func (c *Conn) handle(ctx *Context) {
	rt := ctx.route
	var result any
	err := runGuards(ctx, rt.guards)
	c.guardDenied(ctx, err)
	if err == nil {
		err = protect(func() (err error) {
			result, err = rt.handler(ctx)
			return err
		})
	}
	if err == nil && ctx.hasID && !ctx.answered {
		if rerr := ctx.Reply(result); rerr != nil && !errors.Is(rerr, ErrClosed) && !errors.Is(rerr, ErrSlowConsumer) {
			err = rerr
		}
	}
	if err != nil {
		c.gw.runFilters(ctx, err, rt.filters)
	}
}

// answerError answers, from the read loop, a message that reached no
// handler. The answer is queued for a background writer, so the read loop
// never waits on the peer.
func (c *Conn) answerError(id int64, hasID bool, e *Error) {
	c.sendError(id, hasID, e, nil, false)
}

var (
	errUnknownEvent = &Error{Code: CodeUnknownEvent, Message: "unknown event"}
	errRateLimited  = &Error{Code: CodeRateLimited, Message: "rate limit exceeded"}
)
