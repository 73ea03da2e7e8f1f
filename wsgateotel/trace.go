// Package wsgateotel traces a wsgate gateway's events with OpenTelemetry,
// through wsgate.Hooks. It is a module of its own so that the core keeps
// its few dependencies, and it uses the OpenTelemetry API only: the
// application chooses the SDK and the exporter (or none), as usual.
//
//	gw, err := wsgate.New(wsgate.Options{ …, Hooks: wsgateotel.Hooks(wsgateotel.Options{}) })
//
// Every handled event gets a span of kind server, named after the event
// (its registered name, "$refresh" or "(unknown)": never a name a client
// made up), with the attributes
//
//	wsgate.event      the event name, as the span's name
//	wsgate.conn.id    the connection's id (random, safe to record)
//	wsgate.outcome    ok, client_error or internal
//	wsgate.error.code the error code answered (client_error and internal)
//
// Its parent is the trace context of the WebSocket upgrade request, taken
// from that request's headers (W3C traceparent, or whatever the propagator
// reads), so that the events of a connection join the trace of the page or
// client that opened it. The span is in the event's Context.Context for
// the guards, the handler and the filters: their own spans are its
// children. An internal outcome sets the span's status to Error; a client
// error (a denial, invalid data) leaves it unset, as OpenTelemetry's
// conventions do for a server's 4xx answers.
package wsgateotel

import (
	"context"
	"net/http"

	"github.com/wsgate/wsgate"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer the spans come from.
const ScopeName = "github.com/wsgate/wsgate/wsgateotel"

// Attribute keys set on every event span.
const (
	EventKey     = attribute.Key("wsgate.event")
	ConnIDKey    = attribute.Key("wsgate.conn.id")
	OutcomeKey   = attribute.Key("wsgate.outcome")
	ErrorCodeKey = attribute.Key("wsgate.error.code")
)

// Options configure the tracing. The zero value uses the global tracer
// provider and propagator (otel.SetTracerProvider,
// otel.SetTextMapPropagator), which do nothing until the application sets
// them.
type Options struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context from the upgrade request's
	// headers. Default otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
}

// Hooks returns the hooks that trace events, for wsgate.Options.Hooks
// (join them with others, such as wsgateprom's, with wsgate.JoinHooks).
func Hooks(opts Options) wsgate.Hooks {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := opts.Propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	tracer := tp.Tracer(ScopeName)
	return wsgate.Hooks{
		EventStart: func(ctx context.Context, c *wsgate.Conn, event string) context.Context {
			parent := trace.SpanContextFromContext(prop.Extract(context.Background(), headerCarrier(c.Request())))
			// The span's context is the event's own (cancelled when the
			// connection ends), carrying the span with the upgrade
			// request's span as its remote parent.
			ctx, _ = tracer.Start(trace.ContextWithRemoteSpanContext(ctx, parent), event,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(EventKey.String(event), ConnIDKey.String(c.ID())))
			return ctx
		},
		EventHandled: func(ctx context.Context, _ *wsgate.Conn, info wsgate.EventInfo) {
			span := trace.SpanFromContext(ctx)
			span.SetAttributes(OutcomeKey.String(string(info.Outcome)))
			if info.Code != "" {
				span.SetAttributes(ErrorCodeKey.String(info.Code))
			}
			if info.Outcome == wsgate.OutcomeInternal {
				span.SetStatus(codes.Error, info.Code)
			}
			span.End()
		},
	}
}

// headerCarrier reads r's headers; a connection always has its request,
// but a nil one reads as no header at all.
func headerCarrier(r *http.Request) propagation.HeaderCarrier {
	if r == nil {
		return propagation.HeaderCarrier{}
	}
	return propagation.HeaderCarrier(r.Header)
}
