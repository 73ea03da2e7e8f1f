package wsgate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// Hooks report what a gateway does, for metrics and traces: connections
// opened and closed, handshakes refused, events handled, guard denials,
// rate-limited events and the Broker's traffic, errors and lag. Set them in
// Options.Hooks.
// Every field is optional; a nil field costs nothing, and a gateway with no
// hook at all pays one pointer comparison at each point below.
//
// The modules beside the core implement Hooks for Prometheus
// (github.com/wsgate/wsgate/wsgateprom) and OpenTelemetry
// (github.com/wsgate/wsgate/wsgateotel); JoinHooks runs several sets.
//
// Hooks is a struct of functions, as net/http/httptrace.ClientTrace is,
// rather than an interface, so that a hook added in a later version breaks
// no implementation, and an implementation sets only what it needs.
//
// Hooks are called synchronously, on the goroutine doing the work they
// report (a connection's reader, a handler's goroutine, the caller of an
// emit, the Broker's delivery goroutine), never with a lock of the gateway
// held; the work waits for them, so they must be quick and must not block
// (count, end a span). They must not keep the *Conn past their return, nor
// call its Close.
//
// A hook that panics is recovered and logged at Error level, with the
// hook's name; what it reports goes on as if it had returned (an EventStart
// that panics keeps the event's context). A faulty metrics exporter costs
// its own report, never an event, a connection or the process.
//
// Labels. What a hook is given is bounded by design, so that it may be used
// as a metric label as it is: Event is a registered event name, RefreshEvent,
// or UnknownEvent, never a name a client made up; Code is an error code the
// gateway or the application's *Error chose. Nothing a hook is handed as a
// label carries a subject, a room, a token or an origin; the *Conn and
// *http.Request are there for traces and logs, not for labels. An
// application whose *Error codes are built from input (a code per user id)
// makes its own labels unbounded: keep codes a fixed set.
type Hooks struct {
	// ConnOpened is called when a connection has been upgraded, before
	// OnConnect.
	ConnOpened func(c *Conn)
	// ConnClosed is called once for every connection ConnOpened saw, when
	// it has ended and its handlers have returned, before OnDisconnect.
	ConnClosed func(c *Conn, info CloseInfo)
	// HandshakeRefused is called when the gateway answers an upgrade
	// request (or a CORS preflight from an origin it refuses) with an
	// error status instead of upgrading it. r is the refused request.
	HandshakeRefused func(r *http.Request, info Refusal)

	// EventStart is called when an event's turn comes, before its guards.
	// The context it returns becomes the event's Context.Context (for its
	// guards, handler and filters); it must be ctx or derived from it. A
	// nil return keeps ctx.
	EventStart func(ctx context.Context, c *Conn, event string) context.Context
	// EventHandled is called once the event has been guarded, handled and
	// answered, with the context EventStart returned (ctx if none).
	EventHandled func(ctx context.Context, c *Conn, info EventInfo)
	// GuardDenied is called when a guard (the gateway's or the handler's)
	// denies an event with an *Error, ErrForbidden or ErrUnauthorized. A
	// guard that fails with another error is an internal error, reported
	// by EventHandled only. Connect guards deny a handshake, reported by
	// HandshakeRefused.
	GuardDenied func(c *Conn, info GuardDenial)
	// RateLimited is called for every event refused by the connection's
	// rate limit (answered RATE_LIMITED and not handled).
	RateLimited func(c *Conn)

	// BrokerPublished is called after every call of Broker.Publish, with
	// its error.
	BrokerPublished func(info BrokerPublish)
	// BrokerDelivered is called for every message the Broker delivers
	// from another process, after it has been applied to the local
	// connections, or with an error when it was dropped as one this
	// gateway cannot apply; with the message's lag either way.
	BrokerDelivered func(info BrokerDelivery)
}

// UnknownEvent is the event name hooks are given for an event that no
// handler is registered for (a reserved "$" name other than RefreshEvent
// included), so that a client cannot create labels by making names up.
const UnknownEvent = "(unknown)"

// Outcome is how an event ended, as its answer told the client.
type Outcome string

// The outcomes of an event.
const (
	// OutcomeOK: the event was handled without an error answer (a
	// filter that handled an error, returning nil, counts as OK).
	OutcomeOK Outcome = "ok"
	// OutcomeClientError: the client was answered an *Error (a guard's
	// denial, invalid data, an unknown event, the handler's *Error).
	OutcomeClientError Outcome = "client_error"
	// OutcomeInternal: the client was answered "Internal server error"
	// (code INTERNAL): the handler, a guard or a filter failed or panicked.
	OutcomeInternal Outcome = "internal"
)

// EventInfo describes one handled event.
type EventInfo struct {
	// Event is the registered event name, RefreshEvent, or UnknownEvent.
	Event   string
	Outcome Outcome
	// Code is the error code the client was answered ("" with OutcomeOK).
	Code string
	// Duration runs from the event's turn (EventStart) to the end of its
	// answer: guards, handler, filters, and the write of an ack the
	// handler's goroutine wrote itself.
	Duration time.Duration
}

// CloseInfo describes the end of a connection.
type CloseInfo struct {
	// Status is the close status, as OnDisconnect sees it.
	Status CloseStatus
	// QueueDepth is how many frames waited in the outbound queue when the
	// close was decided (by the gateway, or by the peer's close or
	// disappearance). A close for a full queue (1013) reports
	// OutboundQueue; one for a write over WriteTimeout (1013 too), what
	// waited behind that write.
	QueueDepth int
	// Duration is how long the connection was open.
	Duration time.Duration
}

// Refusal describes a handshake answered with an error status.
type Refusal struct {
	// Status is the HTTP status answered (401, 403, 429, 503, …).
	Status int
	// Code is the error code of the JSON body (UNAUTHORIZED, …).
	Code string
}

// GuardDenial describes an event a guard denied.
type GuardDenial struct {
	// Event is the registered event name.
	Event string
	// Code is the denial's error code (FORBIDDEN, UNAUTHORIZED, or the
	// guard's *Error's).
	Code string
}

// BrokerPublish describes one call of Broker.Publish.
type BrokerPublish struct {
	Op  BrokerOp
	Err error // the Broker's error; nil when the message was accepted
}

// BrokerDelivery describes one message delivered by the Broker.
type BrokerDelivery struct {
	Op  BrokerOp
	Err error // why the message was dropped; nil when it was applied
	// Sent is the message's BrokerMessage.Sent: when the publishing
	// gateway published it, by the publisher's clock. It is the zero Time
	// for a message whose publisher stamped none (a gateway of an older
	// version).
	Sent time.Time
	// Lag is the time from Sent to this gateway's receipt of the message
	// (before applying it): the Broker's transit and backlog. It is 0
	// when Sent is zero.
	//
	// Sent is read on the publisher's clock and the receipt on this
	// host's, so between hosts the lag is off by their clock skew; it may
	// even be negative when this host's clock is behind the publisher's.
	// Keep the hosts' clocks synchronised (NTP) and read a lag below the
	// skew as noise. Within one process the two readings share the
	// monotonic clock and the lag is exact.
	Lag time.Duration
}

// String returns "emit", "disconnect", or "unknown" for an operation this
// version does not know: a bounded label.
func (op BrokerOp) String() string {
	switch op {
	case OpEmit:
		return "emit"
	case OpDisconnect:
		return "disconnect"
	}
	return "unknown"
}

// Errors BrokerDelivered reports for a message dropped on delivery; a
// close it cannot carry is reported with checkClose's error.
var (
	errDeliveryBadData = errors.New("wsgate: broker message dropped: its data is not valid JSON")
	errDeliveryBadOp   = errors.New("wsgate: broker message dropped: unknown operation")
)

// JoinHooks returns hooks that call each of hs in order. EventStart
// threads the context through them: the second is given what the first
// returned.
func JoinHooks(hs ...Hooks) Hooks {
	var j Hooks
	for _, h := range hs {
		j.ConnOpened = join1(j.ConnOpened, h.ConnOpened)
		j.ConnClosed = join2(j.ConnClosed, h.ConnClosed)
		j.HandshakeRefused = join2(j.HandshakeRefused, h.HandshakeRefused)
		j.EventHandled = join3(j.EventHandled, h.EventHandled)
		j.GuardDenied = join2(j.GuardDenied, h.GuardDenied)
		j.RateLimited = join1(j.RateLimited, h.RateLimited)
		j.BrokerPublished = join1(j.BrokerPublished, h.BrokerPublished)
		j.BrokerDelivered = join1(j.BrokerDelivered, h.BrokerDelivered)
		if a, b := j.EventStart, h.EventStart; a == nil {
			j.EventStart = b
		} else if b != nil {
			j.EventStart = func(ctx context.Context, c *Conn, event string) context.Context {
				if next := a(ctx, c, event); next != nil {
					ctx = next
				}
				if next := b(ctx, c, event); next != nil {
					ctx = next
				}
				return ctx
			}
		}
	}
	return j
}

func join1[A any](a, b func(A)) func(A) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(x A) { a(x); b(x) }
}

func join2[A, B any](a, b func(A, B)) func(A, B) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(x A, y B) { a(x, y); b(x, y) }
}

func join3[A, B, C any](a, b func(A, B, C)) func(A, B, C) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(x A, y B, z C) { a(x, y, z); b(x, y, z) }
}

// isZero reports whether no hook is set.
func (h *Hooks) isZero() bool {
	return h.ConnOpened == nil && h.ConnClosed == nil && h.HandshakeRefused == nil &&
		h.EventStart == nil && h.EventHandled == nil && h.GuardDenied == nil &&
		h.RateLimited == nil && h.BrokerPublished == nil && h.BrokerDelivered == nil
}

// hooksOf returns the hooks a gateway calls: nil when none is set, so that
// every call point costs one comparison.
func hooksOf(o Options) *Hooks {
	if o.Hooks.isZero() {
		return nil
	}
	h := o.Hooks
	return &h
}

// connHooks is a connection's state for its hooks.
type connHooks struct {
	opened     time.Time
	seen       bool // ConnOpened was called
	closeNoted bool // queued holds the depth at the close's decision
	queued     int
}

// connOpened reports a new connection.
func (g *Gateway) connOpened(c *Conn) {
	h := g.hooks
	if h == nil {
		return
	}
	c.hooks.opened, c.hooks.seen = time.Now(), true
	if h.ConnOpened != nil {
		defer g.recoverHook("ConnOpened")
		h.ConnOpened(c)
	}
}

// connClosed reports the end of a connection connOpened reported.
func (g *Gateway) connClosed(c *Conn) {
	h := g.hooks
	if h == nil || h.ConnClosed == nil || !c.hooks.seen {
		return
	}
	c.mu.Lock()
	info := CloseInfo{Status: c.status, QueueDepth: c.hooks.queued, Duration: time.Since(c.hooks.opened)}
	c.mu.Unlock()
	defer g.recoverHook("ConnClosed")
	h.ConnClosed(c, info)
}

// noteCloseLocked records the outbound queue's depth when the connection's
// close is first decided. c.mu held.
func (c *Conn) noteCloseLocked() {
	if c.gw.hooks == nil || c.hooks.closeNoted {
		return
	}
	c.hooks.closeNoted, c.hooks.queued = true, c.queued
}

// refuse answers a refused handshake, and reports it.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if h := g.hooks; h != nil && h.HandshakeRefused != nil {
		g.handshakeRefused(r, err)
	}
	writeRefusal(w, err)
}

func (g *Gateway) handshakeRefused(r *http.Request, err error) {
	defer g.recoverHook("HandshakeRefused")
	e, status := refusalOf(err)
	g.hooks.HandshakeRefused(r, Refusal{Status: status, Code: e.Code})
}

// refusalOf returns the *Error and the status writeRefusal answers err with.
func refusalOf(err error) (*Error, int) {
	e, ok := asError(err)
	if !ok {
		e = errInternal
	}
	if e.Status == 0 {
		return e, http.StatusForbidden
	}
	return e, e.Status
}

// eventTrace is an event's report in progress; the zero value reports
// nothing.
type eventTrace struct {
	ctx   *Context
	name  string
	start time.Time
}

// beginEvent starts the report of ev, when the gateway has hooks.
func (c *Conn) beginEvent(ev event) eventTrace {
	if c.gw.hooks == nil {
		return eventTrace{}
	}
	return c.beginEventHooked(ev)
}

func (c *Conn) beginEventHooked(ev event) eventTrace {
	h := c.gw.hooks
	t := eventTrace{ctx: ev.ctx, name: UnknownEvent, start: time.Now()}
	switch {
	case ev.ctx.route != nil:
		t.name = ev.ctx.route.name
	case ev.protocol && ev.ctx.event == RefreshEvent:
		t.name = RefreshEvent
	}
	if h.EventStart != nil {
		if ctx := c.eventStart(ev.ctx.ctx, t.name); ctx != nil {
			ev.ctx.ctx = ctx
		}
	}
	return t
}

// eventStart calls the EventStart hook; nil if it panicked.
func (c *Conn) eventStart(ctx context.Context, event string) context.Context {
	defer c.gw.recoverHook("EventStart")
	return c.gw.hooks.EventStart(ctx, c, event)
}

// endEvent finishes the report begun by beginEvent.
func (c *Conn) endEvent(t eventTrace) {
	if t.ctx != nil {
		c.endEventHooked(t)
	}
}

func (c *Conn) endEventHooked(t eventTrace) {
	if c.gw.hooks.EventHandled == nil {
		return
	}
	info := EventInfo{Event: t.name, Outcome: OutcomeOK, Duration: time.Since(t.start)}
	if e := t.ctx.failure; e != nil {
		info.Outcome, info.Code = OutcomeClientError, e.Code
		if e.Code == CodeInternal {
			info.Outcome = OutcomeInternal
		}
	}
	defer c.gw.recoverHook("EventHandled")
	c.gw.hooks.EventHandled(t.ctx.ctx, c, info)
}

// guardDenied reports err, the result of an event's guard chain, when it is
// a denial.
func (c *Conn) guardDenied(ctx *Context, err error) {
	if err != nil && c.gw.hooks != nil {
		c.guardDeniedHooked(ctx, err)
	}
}

func (c *Conn) guardDeniedHooked(ctx *Context, err error) {
	h := c.gw.hooks
	if h.GuardDenied == nil {
		return
	}
	if e, ok := asError(err); ok {
		defer c.gw.recoverHook("GuardDenied")
		h.GuardDenied(c, GuardDenial{Event: ctx.route.name, Code: e.Code})
	}
}

// rateLimited reports an event refused by the rate limit.
func (c *Conn) rateLimited() {
	if h := c.gw.hooks; h != nil && h.RateLimited != nil {
		defer c.gw.recoverHook("RateLimited")
		h.RateLimited(c)
	}
}

// brokerPublished reports a call of Broker.Publish.
func (g *Gateway) brokerPublished(op BrokerOp, err error) {
	if h := g.hooks; h != nil && h.BrokerPublished != nil {
		defer g.recoverHook("BrokerPublished")
		h.BrokerPublished(BrokerPublish{Op: op, Err: err})
	}
}

// receiving begins the report of m's delivery: its lag is measured on
// receipt, so that it does not include the local fan-out.
func (g *Gateway) receiving(m *BrokerMessage) BrokerDelivery {
	d := BrokerDelivery{Op: m.Op}
	if h := g.hooks; h != nil && h.BrokerDelivered != nil && !m.Sent.IsZero() {
		d.Sent, d.Lag = m.Sent, time.Since(m.Sent)
	}
	return d
}

// brokerDelivered reports a message the Broker delivered, begun by
// receiving, with why it was dropped (nil when it was applied).
func (g *Gateway) brokerDelivered(d BrokerDelivery, err error) {
	if h := g.hooks; h != nil && h.BrokerDelivered != nil {
		d.Err = err
		defer g.recoverHook("BrokerDelivered")
		h.BrokerDelivered(d)
	}
}

// recoverHook, deferred around a hook's call, recovers a panic of the hook
// and logs it: the work the hook reports goes on (see Hooks).
func (g *Gateway) recoverHook(hook string) {
	if v := recover(); v != nil {
		g.log.Error("wsgate: hook panicked", slog.String("hook", hook), slog.Any("panic", v),
			slog.String("stack", string(debug.Stack())))
	}
}
