package wsgateotel_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/leakcheck"
	"github.com/wsgate/wsgate/wsgateotel"
	"github.com/wsgate/wsgate/wsgatetest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const origin = "https://app.example.com"

var key = []byte("wsgateotel-test-key-0123456789abcdef")

// The upgrade request's trace context, as a traced front end sends it.
const (
	traceID      = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID = "00f067aa0ba902b7"
	traceparent  = "00-" + traceID + "-" + parentSpanID + "-01"
)

func setup(t *testing.T) (*tracetest.SpanRecorder, *wsgatetest.Server) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: key, AllowAnyIssuer: true, AllowAnyAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins:       []string{origin},
		Authenticator: v,
		Logger:        slog.New(slog.DiscardHandler),
		Hooks: wsgateotel.Hooks(wsgateotel.Options{
			TracerProvider: tp,
			Propagator:     propagation.TraceContext{},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	// child makes a span of its own in the event's context.
	gw.Handle("child", func(c *wsgate.Context) (any, error) {
		_, span := tp.Tracer("app").Start(c.Context(), "db.query")
		span.End()
		return nil, nil
	}, wsgate.HandlerOptions{})
	gw.Handle("fail", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "NOPE", Message: "no"}
	}, wsgate.HandlerOptions{})
	gw.Handle("crash", func(*wsgate.Context) (any, error) { return nil, errors.New("database down") }, wsgate.HandlerOptions{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return rec, wsgatetest.NewServer(t, gw)
}

func dial(t *testing.T, srv *wsgatetest.Server, header http.Header) *wsgatetest.Client {
	token := wsgatetest.Signer{Key: key}.Token(t, "alice", nil)
	return srv.Dial(wsgatetest.DialOptions{
		Origin:  origin,
		Cookies: []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: token}},
		Header:  header,
		Timeout: 10 * time.Second,
	})
}

// ended waits for n ended spans.
func ended(t *testing.T, rec *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := rec.Ended()
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended, want %d", len(spans), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

// TestEventSpans: a span per event, child of the upgrade request's trace
// context, with the event, the connection, the outcome and the code; the
// handler's own spans are its children.
func TestEventSpans(t *testing.T) {
	t.Parallel()
	rec, srv := setup(t)
	c := dial(t, srv, http.Header{"Traceparent": {traceparent}})
	c.Request("child", nil)
	c.Request("fail", nil)
	c.Request("crash", nil)
	c.Request("made-up", nil)
	spans := ended(t, rec, 5)
	if len(spans) != 5 {
		t.Fatalf("%d spans, want 5", len(spans))
	}
	// The handler's span ends first, inside the event's.
	dbq, events := spans[0], spans[1:]
	if dbq.Name() != "db.query" || dbq.Parent().SpanID() != events[0].SpanContext().SpanID() {
		t.Fatalf("the handler's span %q has parent %v, want the child event's span %v",
			dbq.Name(), dbq.Parent().SpanID(), events[0].SpanContext().SpanID())
	}
	want := []struct {
		name, outcome, code string
		status              codes.Code
	}{
		{"child", "ok", "", codes.Unset},
		{"fail", "client_error", "NOPE", codes.Unset},
		{"crash", "internal", "INTERNAL", codes.Error},
		{wsgate.UnknownEvent, "client_error", "UNKNOWN_EVENT", codes.Unset},
	}
	connID := ""
	for i, s := range events {
		w := want[i]
		a := attrs(s)
		if s.Name() != w.name || a[wsgateotel.EventKey] != w.name || a[wsgateotel.OutcomeKey] != w.outcome ||
			a[wsgateotel.ErrorCodeKey] != w.code || s.Status().Code != w.status {
			t.Errorf("span %d: %q %v status %v, want %+v", i, s.Name(), a, s.Status(), w)
		}
		if s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %q kind %v, want server", s.Name(), s.SpanKind())
		}
		if p := s.Parent(); p.TraceID().String() != traceID || p.SpanID().String() != parentSpanID || !p.IsRemote() {
			t.Errorf("span %q parent %v, want the upgrade request's %s", s.Name(), p, traceparent)
		}
		if id := a[wsgateotel.ConnIDKey]; id == "" || (connID != "" && id != connID) {
			t.Errorf("span %q conn id %q, want the connection's, the same on every span", s.Name(), id)
		} else {
			connID = id
		}
		if !s.EndTime().After(s.StartTime()) {
			t.Errorf("span %q: no duration", s.Name())
		}
	}
}

// TestEventSpansWithoutTraceContext: an upgrade request without one gives
// root spans, one trace per event.
func TestEventSpansWithoutTraceContext(t *testing.T) {
	t.Parallel()
	rec, srv := setup(t)
	c := dial(t, srv, nil)
	c.Request("fail", nil)
	c.Request("fail", nil)
	spans := ended(t, rec, 2)
	for _, s := range spans {
		if s.Parent().IsValid() {
			t.Errorf("span %q has parent %v, want a root span", s.Name(), s.Parent())
		}
	}
	if spans[0].SpanContext().TraceID() == spans[1].SpanContext().TraceID() {
		t.Error("two root spans share a trace")
	}
}
