package wsgate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// serve runs an upgraded connection's session on the goroutine that
// accepted it, until the connection ends and everything it started is done.
func (g *Gateway) serve(c *Conn) {
	defer c.ticket.release()
	g.track(c)
	if g.admission.closing() {
		// Shutdown began between admission and tracking, and its
		// snapshot missed this connection.
		c.drain()
	}
	c.startTimers()
	if g.opts.OnConnect != nil {
		if err := protect(func() error { g.opts.OnConnect(c); return nil }); err != nil {
			g.log.Error("wsgate: OnConnect panicked", slog.String("conn", c.id), slog.Any("error", err))
			c.closeWith(websocket.StatusInternalError, "internal error")
		}
	}

	readErr := c.readLoop()

	// The connection has ended, or the gateway is closing it: cancel the
	// handlers and wait for them.
	c.cancel()
	c.handlers.Wait()
	c.mu.Lock()
	if !c.closing {
		c.closing, c.outClosed = true, true
		c.status = peerStatus(readErr)
	}
	c.mu.Unlock()
	if errors.Is(readErr, errStopped) {
		// The gateway started a close handshake: let it finish (the
		// library bounds it) before tearing the socket down.
		c.bg.Wait()
	}
	c.mu.Lock()
	c.ended = true
	c.dropQueueLocked()
	c.stopTimersLocked()
	c.mu.Unlock()
	_ = c.ws.CloseNow()
	c.bg.Wait()

	g.untrack(c)
	if g.opts.OnDisconnect != nil {
		status := c.status
		if err := protect(func() error { g.opts.OnDisconnect(c, status); return nil }); err != nil {
			g.log.Error("wsgate: OnDisconnect panicked", slog.String("conn", c.id), slog.Any("error", err))
		}
	}
}

// peerStatus is the close status of a connection the gateway did not close.
func peerStatus(err error) CloseStatus {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return CloseStatus{Code: ce.Code, Reason: ce.Reason}
	}
	return CloseStatus{Code: websocket.StatusAbnormalClosure, Reason: "connection lost"}
}

// readLoop reads messages until the connection ends and returns why.
// A frame the protocol does not accept closes the connection with the code
// for it; the loop goes on reading until the close handshake is done.
func (c *Conn) readLoop() error {
	limit := c.gw.opts.ReadLimit
	for {
		typ, r, err := c.ws.Reader(c.readContext())
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			c.closeWith(websocket.StatusUnsupportedData, "binary frames are not accepted")
			return errStopped
		}
		f := c.gw.frames.get()
		f.b, err = readMessage(f.b, r, limit+1)
		switch {
		case err != nil:
			c.gw.frames.put(f)
			return err
		case int64(len(f.b)) > limit:
			c.gw.frames.put(f)
			c.closeWith(websocket.StatusMessageTooBig, "message too big")
			return errStopped
		case !utf8.Valid(f.b):
			c.gw.frames.put(f)
			c.closeWith(websocket.StatusInvalidFramePayloadData, "invalid UTF-8")
			return errStopped
		}
		if !c.dispatch(f) {
			return errStopped
		}
	}
}

// errStopped ends the read loop when the gateway itself closed the
// connection; the close status is already recorded.
var errStopped = errors.New("wsgate: read loop stopped")

// readContext is the context of each read. It has no Done channel: the
// library then sets no per-read timer, and the read ends when the
// connection is closed.
func (c *Conn) readContext() context.Context { return context.Background() }

// readMessage reads r into b, at most max bytes.
func readMessage(b []byte, r io.Reader, max int64) ([]byte, error) {
	for int64(len(b)) < max {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if rest := max - int64(len(b)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// dispatch decodes one message and runs it. It takes ownership of f and
// reports whether the read loop should go on.
func (c *Conn) dispatch(f *frame) bool {
	g := c.gw
	if c.limiter != nil && !c.limiter.Allow() {
		c.violations++
		env, _ := decodeEnvelope(f.b)
		c.answerError(env.ID, env.HasID, errRateLimited)
		g.frames.put(f)
		if g.opts.MaxRateViolations >= 0 && c.violations >= g.opts.MaxRateViolations {
			c.closeWith(websocket.StatusPolicyViolation, "rate limit exceeded")
			return false
		}
		return true
	}
	c.violations = 0

	env, err := decodeEnvelope(f.b)
	if err != nil {
		c.malformed++
		var ee *envelopeError
		errors.As(err, &ee)
		c.answerError(ee.ID, ee.HasID, &Error{Code: CodeBadRequest, Message: ee.Reason})
		g.frames.put(f)
		if g.opts.MaxMalformedFrames >= 0 && c.malformed >= g.opts.MaxMalformedFrames {
			c.closeWith(websocket.StatusPolicyViolation, "too many malformed frames")
			return false
		}
		return true
	}

	if env.Event[0] == '$' {
		c.notReading(func() { c.protocolEvent(env) })
		g.frames.put(f)
		return true
	}
	// Count the event as active before looking at draining: drain sets
	// draining before it looks at active, so either it sees this event
	// and leaves the close to handled, or this sees draining. Checked the
	// other way round, a handler could start after the 1001 close was
	// decided and its answer be dropped.
	c.active.Add(1)
	if c.draining.Load() {
		c.answerError(env.ID, env.HasID, errShuttingDown)
		g.frames.put(f)
		c.handled()
		return true
	}
	rt := g.lookup(env.Event)
	if rt == nil {
		c.answerError(env.ID, env.HasID, errUnknownEvent)
		g.frames.put(f)
		c.handled()
		return true
	}

	ctx := &Context{
		ctx: c.ctx, gw: g, conn: c, req: c.req, principal: c.Principal(),
		route: rt, event: rt.name, data: env.Data, id: env.ID, hasID: env.HasID,
	}
	if c.slots == nil {
		c.notReading(func() { c.handle(ctx) })
		g.frames.put(f)
		c.handled()
		return true
	}
	if !c.takeSlot() {
		g.frames.put(f)
		c.handled()
		return false
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		c.handle(ctx)
		g.frames.put(f)
		<-c.slots
		c.handled()
	}()
	return true
}

// takeSlot waits for one of the HandlerConcurrency slots; it reports false
// when the connection ended first.
func (c *Conn) takeSlot() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	ok := false
	c.notReading(func() {
		select {
		case c.slots <- struct{}{}:
			ok = true
		case <-c.ctx.Done():
		}
	})
	return ok
}

// notReading runs f on the read loop, which reads nothing meanwhile: no
// pong can arrive, so keepalive does not hold a missing one against the
// peer for any round that overlaps f.
func (c *Conn) notReading(f func()) {
	c.readStalls.Add(1)
	c.readBlocked.Store(true)
	defer c.readBlocked.Store(false)
	f()
}

// handled is called after each handler; the last one out of a draining
// connection closes it.
func (c *Conn) handled() {
	if c.active.Add(-1) == 0 && c.draining.Load() {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
}

// handle runs the guards and the handler, answers a request with the
// result, and sends any error through the filters.
func (c *Conn) handle(ctx *Context) {
	rt := ctx.route
	var result any
	err := runGuards(ctx, rt.guards)
	if err == nil {
		err = protect(func() (err error) {
			result, err = rt.handler(ctx)
			return err
		})
	}
	if err != nil {
		c.gw.runFilters(ctx, err, rt.filters)
		return
	}
	if ctx.hasID && !ctx.answered {
		if rerr := ctx.Reply(result); rerr != nil && !errors.Is(rerr, ErrClosed) && !errors.Is(rerr, ErrSlowConsumer) {
			// The result did not marshal: that is the handler's bug.
			c.gw.runFilters(ctx, rerr, rt.filters)
		}
	}
}

// answerError answers a message that never reached a handler.
func (c *Conn) answerError(id int64, hasID bool, e *Error) {
	ctx := Context{ctx: c.ctx, gw: c.gw, conn: c, id: id, hasID: hasID}
	_ = ctx.ReplyError(e)
}

var (
	errUnknownEvent = &Error{Code: CodeUnknownEvent, Message: "unknown event"}
	errRateLimited  = &Error{Code: CodeRateLimited, Message: "rate limit exceeded"}
)
