package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsPort serves the real program (serve) with env over an in-memory
// listener, and returns its configuration and an HTTP client that reaches
// it. The server is shut
// down at the end of the test.
func metricsPort(t *testing.T, vars map[string]string) (config, *http.Client) {
	t.Helper()
	vars["FRONTEND_HOST"] = frontend
	vars["JWT_SECRET"] = strings.Repeat("k", 32)
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	logw := &syncWriter{w: new(bytes.Buffer)}
	gw, err := newGateway(cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln := newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, gw, logw) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	transport := &http.Transport{DialContext: ln.dial}
	t.Cleanup(transport.CloseIdleConnections)
	return cfg, &http.Client{Transport: transport, Timeout: 10 * time.Second}
}

// scrape GETs /metrics and parses it as Prometheus's text format.
func scrape(t *testing.T, client *http.Client) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get("http://nestport.invalid/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// sample returns the value of the sample of family name whose labels are
// exactly labels (a histogram's count), or -1 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// metricsClient is a raw WebSocket client of the port.
type metricsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialPort(t *testing.T, client *http.Client, origin, token string) (*metricsClient, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{"Origin": {origin}}
	if token != "" {
		h.Set("Cookie", "access_token="+token)
	}
	ws, resp, err := websocket.Dial(ctx, "ws://nestport.invalid/ws", &websocket.DialOptions{HTTPClient: client, HTTPHeader: h})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	return &metricsClient{t: t, ws: ws}, http.StatusSwitchingProtocols
}

// request sends event with an id and returns the ack's error code ("" for
// a success), skipping the events emitted meanwhile.
func (c *metricsClient) request(id int, event string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, _ := json.Marshal(map[string]any{"event": event, "data": map[string]string{"a": "b"}, "id": id})
	if err := c.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		c.t.Fatal(err)
	}
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for ack %d: %v", id, err)
		}
		var ack struct {
			ID    *int `json:"id"`
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &ack) != nil || ack.ID == nil || *ack.ID != id {
			continue
		}
		if ack.Error != nil {
			return ack.Error.Code
		}
		return ""
	}
}

// TestMetricsEndpoint runs a scripted session against the port with
// METRICS=1 (connections, refused handshakes, events that succeed, are
// denied, fail and crash, closes) and checks what /metrics then says.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	cfg, client := metricsPort(t, map[string]string{"METRICS": "1"})
	user, _ := mintToken(cfg, "alice", "user", time.Hour)
	admin, _ := mintToken(cfg, "carol", "admin", time.Hour)

	if _, status := dialPort(t, client, frontend, ""); status != http.StatusUnauthorized {
		t.Fatalf("dial without a token: %d, want 401", status)
	}
	if _, status := dialPort(t, client, frontend, "not-a-token"); status != http.StatusUnauthorized {
		t.Fatalf("dial with a bad token: %d, want 401", status)
	}
	if _, status := dialPort(t, client, "https://evil.example", user); status != http.StatusForbidden {
		t.Fatalf("dial from another origin: %d, want 403", status)
	}
	a, _ := dialPort(t, client, frontend, user)
	c, _ := dialPort(t, client, frontend, admin)
	for i, step := range []struct {
		c     *metricsClient
		event string
		code  string
	}{
		{a, "xyz", ""},
		{a, "xyz", ""},
		{a, "health", ""},
		{a, "admin", "FORBIDDEN"},
		{c, "admin", ""},
		{a, "fail", "XYZ_FAILED"},
		{a, "crash", "INTERNAL"},
		{a, "no-such-event", "UNKNOWN_EVENT"},
	} {
		if code := step.c.request(i, step.event); code != step.code {
			t.Fatalf("%s = %q, want %q", step.event, code, step.code)
		}
	}
	// One connection closed by its client, one left open.
	if err := a.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ws.CloseNow() })

	// The close is reported once the server has torn the session down:
	// poll until it has.
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		families = scrape(t, client)
		if sample(families, "wsgate_connections_open", nil) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A registry collects its metrics concurrently, so one scrape is no
	// snapshot: the one that saw the gauge drop may have read the close's
	// counter before the hook updated it. A scrape begun after it sees both.
	families = scrape(t, client)
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wsgate_connections_opened_total", nil, 2},
		{"wsgate_connections_open", nil, 1},
		{"wsgate_connections_closed_total", map[string]string{"code": "1000"}, 1},
		{"wsgate_connection_duration_seconds", nil, 1},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "401", "code": "UNAUTHORIZED"}, 2},
		{"wsgate_handshakes_refused_total", map[string]string{"status": "403", "code": "ORIGIN_NOT_ALLOWED"}, 1},
		{"wsgate_events_total", map[string]string{"event": "xyz", "outcome": "ok", "code": ""}, 2},
		{"wsgate_events_total", map[string]string{"event": "health", "outcome": "ok", "code": ""}, 1},
		{"wsgate_events_total", map[string]string{"event": "admin", "outcome": "ok", "code": ""}, 1},
		{"wsgate_events_total", map[string]string{"event": "admin", "outcome": "client_error", "code": "FORBIDDEN"}, 1},
		{"wsgate_events_total", map[string]string{"event": "fail", "outcome": "client_error", "code": "XYZ_FAILED"}, 1},
		{"wsgate_events_total", map[string]string{"event": "crash", "outcome": "internal", "code": "INTERNAL"}, 1},
		{"wsgate_events_total", map[string]string{"event": "(unknown)", "outcome": "client_error", "code": "UNKNOWN_EVENT"}, 1},
		{"wsgate_event_duration_seconds", map[string]string{"event": "xyz", "outcome": "ok"}, 2},
		{"wsgate_guard_denials_total", map[string]string{"event": "admin", "code": "FORBIDDEN"}, 1},
		{"wsgate_rate_limited_events_total", nil, 0},
	} {
		if got := sample(families, w.name, w.labels); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if families["go_goroutines"] == nil {
		t.Error("/metrics lacks the Go runtime's metrics")
	}
	// No label carries a subject, a token or an origin.
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "alice") || strings.Contains(v, "evil") || strings.Contains(v, "no-such-event") {
					t.Errorf("%s has label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsOffByDefault: without METRICS=1 there is no /metrics.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	_, client := metricsPort(t, map[string]string{})
	resp, err := client.Get("http://nestport.invalid/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics without METRICS = %d, want 404", resp.StatusCode)
	}
	if _, err := loadConfig(env(map[string]string{"METRICS": "perhaps"})); err == nil {
		t.Fatal("METRICS=perhaps was accepted")
	}
}
