package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgatetest"
)

// metricsChat serves in memory a chat configured from vars, as the
// environment configures the program (loadConfig, newChat, handler);
// broker is nil for a single process.
func metricsChat(t *testing.T, vars map[string]string, broker wsgate.Broker) *testChat {
	t.Helper()
	vars["FRONTEND_HOST"] = testOrigin
	vars["JWT_SECRET"] = string(testSecret)
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	return serveTestChat(t, cfg, broker)
}

// getMetrics GETs /metrics over HTTP and returns the answer with its body.
func (c *testChat) getMetrics(t *testing.T) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://chat.example.test/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := c.do(t, req)
	return resp, string(body)
}

// scrape GETs /metrics and parses it as Prometheus's text format.
func (c *testChat) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := c.getMetrics(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// scrapeUntil scrapes until ready holds of the metrics (hooks run after
// the answers the client sees), and returns a scrape begun after the one
// that saw it hold.
func (c *testChat) scrapeUntil(t *testing.T, what string, ready func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ready(c.scrape(t)) {
			// A registry collects its metrics concurrently, so one
			// scrape is no snapshot: the one that saw ready may have
			// read other metrics before the hook that made it ready
			// updated them. A scrape begun after it sees all of them.
			return c.scrape(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, /metrics still lacks %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sample returns the sample of family name whose labels are exactly labels
// (a histogram's count and sum), or nil when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, m := range families[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// value is sample's counter or gauge value, or histogram count; -1 when
// there is no such sample.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := sample(families, name, labels)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

type metricWant struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, who string, families map[string]*dto.MetricFamily, wants []metricWant) {
	t.Helper()
	for _, w := range wants {
		if got := value(families, w.name, w.labels); got != w.want {
			t.Errorf("%s: %s%v = %v, want %v", who, w.name, w.labels, got, w.want)
		}
	}
	if families["go_goroutines"] == nil {
		t.Errorf("%s: /metrics lacks the Go runtime's metrics", who)
	}
	// No label carries a subject, a room, a token or an origin.
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "alice") || strings.Contains(v, "bob") ||
					strings.Contains(v, "lobby") || strings.Contains(v, "example") {
					t.Errorf("%s: %s has label %s=%q", who, name, l.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsEndpoint runs a scripted session on two chat processes with
// METRICS=1, joined by an in-memory Broker (a refused handshake, a
// connection on each, joins, a say that crosses to the other process, a
// validation error, a close), and checks what each one's /metrics says.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	var b bus
	one := metricsChat(t, map[string]string{"METRICS": "1"}, b.member())
	two := metricsChat(t, map[string]string{"METRICS": "true"}, b.member())

	if he := one.srv.Refused(wsgatetest.DialOptions{Origin: testOrigin}); he.Status != http.StatusUnauthorized {
		t.Fatalf("a handshake without a session: %d, want 401", he.Status)
	}
	alice, bob := one.user(t, "alice"), two.user(t, "bob")
	wantAck(t, "alice join", alice.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "bob join", bob.Request("join", map[string]string{"room": "lobby"}), `{"room":"lobby"}`)
	wantAck(t, "say", alice.Request("say", map[string]string{"room": "lobby", "text": "hi bob"}), `{"ok":true}`)
	wantEvent(t, bob, "message", `{"room":"lobby","from":"alice","text":"hi bob"}`)
	wantRefused(t, "join a bad room", alice.Request("join", map[string]string{"room": "no spaces"}), wsgate.CodeValidationFailed)
	alice.Close()

	// Alice's close is reported once her session has ended, after her
	// events; the delivery on two, once it has been applied.
	got := one.scrapeUntil(t, "alice's close", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "wsgate_connections_open", nil) == 0
	})
	checkMetrics(t, "one", got, []metricWant{
		{"wsgate_connections_opened_total", nil, 1},
		{"wsgate_connections_open", nil, 0},
		{"wsgate_connections_closed_total", map[string]string{"code": "1000"}, 1},
		{"wsgate_connection_duration_seconds", nil, 1},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "401", "code": "UNAUTHORIZED"}, 1},
		{"wsgate_events_total", map[string]string{"event": "join", "outcome": "ok", "code": ""}, 1},
		{"wsgate_events_total", map[string]string{"event": "join", "outcome": "client_error", "code": "VALIDATION_FAILED"}, 1},
		{"wsgate_events_total", map[string]string{"event": "say", "outcome": "ok", "code": ""}, 1},
		{"wsgate_event_duration_seconds", map[string]string{"event": "join", "outcome": "ok"}, 1},
		{"wsgate_event_duration_seconds", map[string]string{"event": "join", "outcome": "client_error"}, 1},
		{"wsgate_guard_denials_total", map[string]string{"event": "join", "code": "UNAUTHORIZED"}, -1},
		{"wsgate_rate_limited_events_total", nil, 0},
		{"wsgate_broker_published_total", map[string]string{"op": "emit"}, 1},
		{"wsgate_broker_publish_errors_total", map[string]string{"op": "emit"}, -1},
		{"wsgate_broker_delivered_total", map[string]string{"op": "emit"}, -1},
	})

	got = two.scrapeUntil(t, "the say's delivery", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "wsgate_broker_delivered_total", map[string]string{"op": "emit"}) == 1
	})
	checkMetrics(t, "two", got, []metricWant{
		{"wsgate_connections_opened_total", nil, 1},
		{"wsgate_connections_open", nil, 1},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "401", "code": "UNAUTHORIZED"}, -1},
		{"wsgate_events_total", map[string]string{"event": "join", "outcome": "ok", "code": ""}, 1},
		{"wsgate_broker_published_total", map[string]string{"op": "emit"}, -1},
		{"wsgate_broker_delivered_total", map[string]string{"op": "emit"}, 1},
		{"wsgate_broker_delivery_lag_seconds", map[string]string{"op": "emit"}, 1},
	})
	// The in-memory Broker delivers as it publishes: a lag of a few
	// milliseconds, well under a minute however loaded the machine.
	if lag := sample(got, "wsgate_broker_delivery_lag_seconds", map[string]string{"op": "emit"}); lag != nil {
		if s := lag.GetHistogram().GetSampleSum(); s < 0 || s > 60 {
			t.Errorf("two: the say's delivery lag %vs, want from 0 to a minute", s)
		}
	}
}

// TestMetricsOffByDefault: without METRICS=1 (unset, or 0) there is no
// /metrics, and the rest is served as usual.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	for _, vars := range []map[string]string{{}, {"METRICS": "0"}} {
		c := metricsChat(t, vars, nil)
		if resp, body := c.getMetrics(t); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics with %v = %d %s, want 404", vars, resp.StatusCode, body)
		}
		ws := c.user(t, "alice")
		wantAck(t, "join", ws.Request("join", map[string]string{"room": "r"}), `{"room":"r"}`)
	}
}
