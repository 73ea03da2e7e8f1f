package wsgateprom_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/internal/leakcheck"
	"github.com/wsgate/wsgate/wsgateprom"
	"github.com/wsgate/wsgate/wsgatetest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const origin = "https://app.example.com"

var key = []byte("wsgateprom-test-key-0123456789abcdef")

// setup serves a gateway with the metrics' hooks in memory.
func setup(t testing.TB, opts wsgate.Options) (*prometheus.Registry, *wsgate.Gateway, *wsgatetest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := wsgateprom.New(reg, wsgateprom.Options{ConstLabels: prometheus.Labels{"gateway": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	opts.Hooks = metrics.Hooks()
	gw, srv := serveGateway(t, opts)
	return reg, gw, srv
}

// serveGateway serves a gateway with events that succeed, fail, crash
// and are denied.
func serveGateway(t testing.TB, opts wsgate.Options) (*wsgate.Gateway, *wsgatetest.Server) {
	t.Helper()
	v, err := wsgate.NewJWT[jwt.RegisteredClaims](wsgate.JWTOptions{Methods: []string{"HS256"}, Key: key, AllowAnyIssuer: true, AllowAnyAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	opts.Origins = []string{origin}
	opts.Authenticator = v
	opts.Logger = slog.New(slog.DiscardHandler)
	gw, err := wsgate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	gw.Handle("echo", func(c *wsgate.Context) (any, error) { return c.Data(), nil }, wsgate.HandlerOptions{})
	gw.Handle("fail", func(*wsgate.Context) (any, error) {
		return nil, &wsgate.Error{Code: "NOPE", Message: "no"}
	}, wsgate.HandlerOptions{})
	gw.Handle("crash", func(*wsgate.Context) (any, error) { return nil, errors.New("database down") }, wsgate.HandlerOptions{})
	gw.Handle("admin", func(*wsgate.Context) (any, error) { return "ok", nil },
		wsgate.HandlerOptions{Guards: []wsgate.Guard{wsgate.RequireClaim("role", "admin")}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw, wsgatetest.NewServer(t, gw)
}

func dialOptions(t testing.TB, sub string) wsgatetest.DialOptions {
	o := wsgatetest.DialOptions{Origin: origin, Timeout: 10 * time.Second}
	if sub != "" {
		token := wsgatetest.Signer{Key: key}.Token(t, sub, nil)
		o.Cookies = []*http.Cookie{{Name: wsgate.DefaultTokenCookie, Value: token}}
	}
	return o
}

// value returns the value of the sample of name whose labels include
// labels: a counter's or gauge's value, a histogram's count. It returns
// -1 when there is no such sample.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// eventually polls until name{labels} has value want: hooks run after the
// answer has gone out.
func eventually(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := value(t, reg, name, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsAfterASession(t *testing.T) {
	t.Parallel()
	reg, _, srv := setup(t, wsgate.Options{EventsPerSecond: 0.001, EventBurst: 7})

	srv.Refused(dialOptions(t, "")) // no token: 401
	bad := dialOptions(t, "alice")
	bad.Origin = "https://evil.example"
	srv.Refused(bad) // 403
	c := srv.Dial(dialOptions(t, "alice"))
	eventually(t, reg, "wsgate_connections_open", nil, 1)

	c.Request("echo", 1)
	c.Request("echo", 2)
	c.Request("fail", nil)
	c.Request("crash", nil)
	c.Request("admin", nil)
	c.Request("made-up-name", nil)
	c.Request(wsgate.RefreshEvent, map[string]string{"token": wsgatetest.Signer{Key: key}.Token(t, "alice", nil)})
	if ack := c.Request("echo", 3); ack.OK() || ack.Error.Code != wsgate.CodeRateLimited { // the burst of 7 is spent
		t.Fatalf("eighth event = %+v, want RATE_LIMITED", ack)
	}
	c.Close()
	eventually(t, reg, "wsgate_connections_open", nil, 0)

	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wsgate_connections_opened_total", map[string]string{"gateway": "test"}, 1},
		{"wsgate_connections_closed_total", map[string]string{"code": "1000"}, 1},
		{"wsgate_connection_duration_seconds", nil, 1},
		{"wsgate_outbound_queue_depth_at_close", nil, 1},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "401", "code": "UNAUTHORIZED"}, 1},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "403", "code": "ORIGIN_NOT_ALLOWED"}, 1},
		{"wsgate_events_total", map[string]string{"event": "echo", "outcome": "ok", "code": ""}, 2},
		{"wsgate_events_total", map[string]string{"event": "fail", "outcome": "client_error", "code": "NOPE"}, 1},
		{"wsgate_events_total", map[string]string{"event": "crash", "outcome": "internal", "code": "INTERNAL"}, 1},
		{"wsgate_events_total", map[string]string{"event": "admin", "outcome": "client_error", "code": "FORBIDDEN"}, 1},
		{"wsgate_events_total", map[string]string{"event": "(unknown)", "outcome": "client_error", "code": "UNKNOWN_EVENT"}, 1},
		{"wsgate_events_total", map[string]string{"event": "$refresh", "outcome": "ok"}, 1},
		{"wsgate_events_total", map[string]string{"event": "made-up-name"}, -1},
		{"wsgate_event_duration_seconds", map[string]string{"event": "echo", "outcome": "ok"}, 2},
		{"wsgate_guard_denials_total", map[string]string{"event": "admin", "code": "FORBIDDEN"}, 1},
		{"wsgate_rate_limited_events_total", nil, 1},
	} {
		if got := value(t, reg, w.name, w.labels); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
}

// TestMetricsHandler: the registry serves the metrics in the text format.
func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	reg, _, srv := setup(t, wsgate.Options{})
	c := srv.Dial(dialOptions(t, "alice"))
	c.Request("echo", 1)
	eventually(t, reg, "wsgate_events_total", map[string]string{"event": "echo"}, 1)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{
		`wsgate_events_total{code="",event="echo",gateway="test",outcome="ok"} 1`,
		`wsgate_connections_open{gateway="test"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q:\n%s", want, body)
		}
	}
}

// TestBrokerMetrics: publications and deliveries, with their errors.
func TestBrokerMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics, err := wsgateprom.New(reg, wsgateprom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.Hooks()
	h.BrokerPublished(wsgate.BrokerPublish{Op: wsgate.OpEmit})
	h.BrokerPublished(wsgate.BrokerPublish{Op: wsgate.OpEmit, Err: errors.New("full")})
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpDisconnect})
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: 9, Err: errors.New("unknown op")})
	for _, w := range []struct {
		name string
		op   string
		want float64
	}{
		{"wsgate_broker_published_total", "emit", 2},
		{"wsgate_broker_publish_errors_total", "emit", 1},
		{"wsgate_broker_delivered_total", "disconnect", 1},
		{"wsgate_broker_delivery_errors_total", "unknown", 1},
	} {
		if got := value(t, reg, w.name, map[string]string{"op": w.op}); got != w.want {
			t.Errorf("%s{op=%q} = %v, want %v", w.name, w.op, got, w.want)
		}
	}
}

// TestBrokerLagMetrics: each delivery that carries its publication time
// is observed in the lag histogram, in seconds, by operation; one with a
// negative lag (clock skew) counts as 0, one without a time not at all.
func TestBrokerLagMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics, err := wsgateprom.New(reg, wsgateprom.Options{LagBuckets: []float64{.01, .1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.Hooks()
	sent := time.Now()
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpEmit, Sent: sent, Lag: 50 * time.Millisecond})
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpEmit, Sent: sent, Lag: 2 * time.Second})
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpEmit, Sent: sent, Lag: -time.Second})
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpEmit}) // from an older publisher: no time
	h.BrokerDelivered(wsgate.BrokerDelivery{Op: wsgate.OpDisconnect, Sent: sent, Lag: 5 * time.Millisecond, Err: errors.New("bad code")})

	if got := value(t, reg, "wsgate_broker_delivered_total", map[string]string{"op": "emit"}); got != 4 {
		t.Errorf("emits delivered %v, want 4", got)
	}
	hist := func(op string) *dto.Histogram {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "wsgate_broker_delivery_lag_seconds" {
				continue
			}
			if f.GetType() != dto.MetricType_HISTOGRAM {
				t.Fatalf("%s is a %v", f.GetName(), f.GetType())
			}
			for _, m := range f.GetMetric() {
				if hasLabels(m, map[string]string{"op": op}) {
					return m.GetHistogram()
				}
			}
		}
		t.Fatalf("no wsgate_broker_delivery_lag_seconds{op=%q}", op)
		return nil
	}
	emits := hist("emit")
	if emits.GetSampleCount() != 3 || emits.GetSampleSum() < 2.049 || emits.GetSampleSum() > 2.051 {
		t.Errorf("emit lag: %d samples summing to %vs, want 3 summing to 2.05s", emits.GetSampleCount(), emits.GetSampleSum())
	}
	// Cumulative buckets: 0 (the skewed one) ≤ .01; .05 ≤ .1; 2 above 1.
	for i, want := range []uint64{1, 2, 2} {
		if b := emits.GetBucket()[i]; b.GetCumulativeCount() != want {
			t.Errorf("emit lag bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if d := hist("disconnect"); d.GetSampleCount() != 1 {
		t.Errorf("disconnect lag: %d samples, want the dropped delivery's 1", d.GetSampleCount())
	}
}

// TestNewRegistersOnce: a second set of the same metrics on one registry
// is refused, and leaves the registry as it was.
func TestNewRegistersOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	gateway := func(name string) wsgateprom.Options {
		return wsgateprom.Options{ConstLabels: prometheus.Labels{"gateway": name}}
	}
	if _, err := wsgateprom.New(reg, gateway("a")); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if _, err := wsgateprom.New(reg, gateway("a")); !errors.As(err, &are) {
		t.Fatalf("second New = %v, want AlreadyRegisteredError", err)
	}
	// Another gateway label makes them distinct metrics; the failed New
	// left nothing registered that would clash.
	m, err := wsgateprom.New(reg, gateway("b"))
	if err != nil {
		t.Fatalf("New with another gateway label: %v", err)
	}
	m.Hooks().RateLimited(nil)
	if got := value(t, reg, "wsgate_rate_limited_events_total", map[string]string{"gateway": "b"}); got != 1 {
		t.Fatalf("gateway b's counter = %v, want 1", got)
	}
}

// BenchmarkRoundTripMetrics is one request and its ack on a gateway whose
// hooks update the Prometheus metrics, over the in-memory transport with a
// bare client: compare with the core's BenchmarkRoundTripHooks.
func BenchmarkRoundTripMetrics(b *testing.B) {
	for _, metrics := range []bool{false, true} {
		b.Run(map[bool]string{false: "none", true: "prometheus"}[metrics], func(b *testing.B) {
			opts := wsgate.Options{EventsPerSecond: -1}
			var srv *wsgatetest.Server
			if metrics {
				_, _, srv = setup(b, opts)
			} else {
				_, srv = serveGateway(b, opts)
			}
			ctx := context.Background()
			token := wsgatetest.Signer{Key: key}.Token(b, "alice", nil)
			ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{
				HTTPClient: srv.HTTPClient(),
				HTTPHeader: http.Header{"Origin": {origin}, "Cookie": {wsgate.DefaultTokenCookie + "=" + token}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer ws.CloseNow()
			msg := []byte(`{"event":"echo","data":{"n":42},"id":1}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := ws.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOptionsBuckets: DurationBuckets and ConnectionBuckets replace the
// default buckets of the event duration and connection lifetime
// histograms.
func TestOptionsBuckets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics, err := wsgateprom.New(reg, wsgateprom.Options{
		DurationBuckets:   []float64{.2, 2},
		ConnectionBuckets: []float64{30, 300},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.Hooks()
	h.EventHandled(context.Background(), nil, wsgate.EventInfo{Event: "echo", Outcome: wsgate.OutcomeOK, Duration: time.Second})
	h.ConnOpened(nil)
	h.ConnClosed(nil, wsgate.CloseInfo{Status: wsgate.CloseStatus{Code: wsgate.StatusNormalClosure}, Duration: time.Minute})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		bounds []float64
		counts []uint64 // cumulative
	}{
		{"wsgate_event_duration_seconds", []float64{.2, 2}, []uint64{0, 1}},
		{"wsgate_connection_duration_seconds", []float64{30, 300}, []uint64{0, 1}},
	} {
		var hist *dto.Histogram
		for _, f := range families {
			if f.GetName() == tt.name && len(f.GetMetric()) == 1 {
				hist = f.GetMetric()[0].GetHistogram()
			}
		}
		if hist == nil {
			t.Errorf("no single %s", tt.name)
			continue
		}
		var bounds []float64
		var counts []uint64
		for _, b := range hist.GetBucket() {
			bounds, counts = append(bounds, b.GetUpperBound()), append(counts, b.GetCumulativeCount())
		}
		if !slices.Equal(bounds, tt.bounds) || !slices.Equal(counts, tt.counts) {
			t.Errorf("%s: buckets %v holding %v, want %v holding %v", tt.name, bounds, counts, tt.bounds, tt.counts)
		}
	}
}
