// Package wsgateprom reports a wsgate gateway's connections, handshakes,
// events and Broker traffic as Prometheus metrics, through wsgate.Hooks.
// It is a module of its own so that the core keeps its few dependencies.
//
//	reg := prometheus.NewRegistry()
//	metrics, err := wsgateprom.New(reg, wsgateprom.Options{})
//	if err != nil { … }
//	gw, err := wsgate.New(wsgate.Options{ …, Hooks: metrics.Hooks() })
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named wsgate_…; counters end in _total, durations are
// histograms in seconds. Labels take only bounded values (see wsgate.Hooks):
// registered event names, error codes, close codes, HTTP statuses and
// Broker operations; never a subject, a room, a token or an origin. The
// README lists every metric.
package wsgateprom

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsgate/wsgate"
)

// Options configure the metrics. The zero value is ready to use.
type Options struct {
	// ConstLabels are added to every metric, for example
	// {"gateway": "chat"} to tell apart two gateways of one process that
	// register on the same registry.
	ConstLabels prometheus.Labels
	// DurationBuckets are the buckets, in seconds, of the event duration
	// histogram. Default DefaultDurationBuckets.
	DurationBuckets []float64
	// ConnectionBuckets are the buckets, in seconds, of the connection
	// lifetime histogram. Default DefaultConnectionBuckets.
	ConnectionBuckets []float64
	// LagBuckets are the buckets, in seconds, of the Broker delivery lag
	// histogram. Default DefaultLagBuckets.
	LagBuckets []float64
}

// Default buckets. Events are expected to take from a fraction of a
// millisecond (an echo) to seconds (a handler that calls a slow service);
// connections from seconds (a page view) to a day; a Broker's delivery
// from a millisecond (Redis on the local network) to minutes (a process
// catching up after its link to Redis came back).
var (
	DefaultDurationBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	DefaultConnectionBuckets = []float64{1, 10, 60, 300, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600}
	DefaultLagBuckets        = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	// QueueDepthBuckets are the buckets of the outbound queue depth at
	// close: a healthy connection closes with 0 or 1 frame waiting; one
	// closed as a slow consumer has DefaultOutboundQueue (256) by default.
	QueueDepthBuckets = []float64{0, 1, 4, 16, 64, 256, 1024}
)

// Metrics holds the gateway's collectors, registered by New.
type Metrics struct {
	connsOpened     prometheus.Counter
	connsOpen       prometheus.Gauge
	connsClosed     *prometheus.CounterVec
	connDuration    prometheus.Histogram
	queueAtClose    prometheus.Histogram
	refused         *prometheus.CounterVec
	events          *prometheus.CounterVec
	eventDuration   *prometheus.HistogramVec
	guardDenials    *prometheus.CounterVec
	rateLimited     prometheus.Counter
	published       *prometheus.CounterVec
	publishErrors   *prometheus.CounterVec
	delivered       *prometheus.CounterVec
	deliveryDropped *prometheus.CounterVec
	deliveryLag     *prometheus.HistogramVec
}

// New creates the metrics and registers them on reg (the application's
// registry, or prometheus.DefaultRegisterer). It returns the registry's
// error when a metric of the same name is registered already: two gateways
// sharing a registry need distinct Options.ConstLabels, or a registry
// wrapped with prometheus.WrapRegistererWith.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if opts.DurationBuckets == nil {
		opts.DurationBuckets = DefaultDurationBuckets
	}
	if opts.ConnectionBuckets == nil {
		opts.ConnectionBuckets = DefaultConnectionBuckets
	}
	if opts.LagBuckets == nil {
		opts.LagBuckets = DefaultLagBuckets
	}
	cl := opts.ConstLabels
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl}, labels)
	}
	m := &Metrics{
		connsOpened: counter("wsgate_connections_opened_total",
			"WebSocket connections upgraded."),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wsgate_connections_open",
			Help: "WebSocket connections open now.", ConstLabels: cl}),
		connsClosed: counterVec("wsgate_connections_closed_total",
			"WebSocket connections ended, by close code (1013: slow consumer, 4001: token expired, 1006: no close frame).", "code"),
		connDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wsgate_connection_duration_seconds",
			Help: "How long connections stayed open.", ConstLabels: cl, Buckets: opts.ConnectionBuckets}),
		queueAtClose: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wsgate_outbound_queue_depth_at_close",
			Help: "Frames waiting in a connection's outbound queue when its close was decided.", ConstLabels: cl, Buckets: QueueDepthBuckets}),
		refused: counterVec("wsgate_handshakes_refused_total",
			"Handshakes answered with an error status instead of an upgrade, by HTTP status and error code.", "status", "code"),
		events: counterVec("wsgate_events_total",
			"Events handled, by event name, outcome (ok, client_error, internal) and error code answered.", "event", "outcome", "code"),
		eventDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wsgate_event_duration_seconds",
			Help: "Time from an event's turn to the end of its answer, by event name and outcome.", ConstLabels: cl,
			Buckets: opts.DurationBuckets}, []string{"event", "outcome"}),
		guardDenials: counterVec("wsgate_guard_denials_total",
			"Events a guard denied, by event name and error code.", "event", "code"),
		rateLimited: counter("wsgate_rate_limited_events_total",
			"Events refused by a connection's rate limit (answered RATE_LIMITED, not handled)."),
		published: counterVec("wsgate_broker_published_total",
			"Operations handed to the Broker for the other processes, by operation.", "op"),
		publishErrors: counterVec("wsgate_broker_publish_errors_total",
			"Operations the Broker refused (they reached no other process), by operation.", "op"),
		delivered: counterVec("wsgate_broker_delivered_total",
			"Operations from other processes applied to this gateway's connections, by operation.", "op"),
		deliveryDropped: counterVec("wsgate_broker_delivery_errors_total",
			"Operations from other processes dropped as impossible to apply, by operation.", "op"),
		deliveryLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wsgate_broker_delivery_lag_seconds",
			Help: "Time from an operation's publication by another process to its receipt here, by operation " +
				"(across hosts, off by their clock skew; a negative lag counts as 0).",
			ConstLabels: cl, Buckets: opts.LagBuckets}, []string{"op"}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors() {
				if done == c {
					break
				}
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.connsOpened, m.connsOpen, m.connsClosed, m.connDuration, m.queueAtClose,
		m.refused, m.events, m.eventDuration, m.guardDenials, m.rateLimited,
		m.published, m.publishErrors, m.delivered, m.deliveryDropped, m.deliveryLag,
	}
}

// Hooks returns the hooks that update the metrics, for wsgate.Options.Hooks
// (join them with others, such as wsgateotel's, with wsgate.JoinHooks).
// One Metrics may serve several gateways, which then add up.
func (m *Metrics) Hooks() wsgate.Hooks {
	return wsgate.Hooks{
		ConnOpened: func(*wsgate.Conn) {
			m.connsOpened.Inc()
			m.connsOpen.Inc()
		},
		ConnClosed: func(_ *wsgate.Conn, info wsgate.CloseInfo) {
			// The close is counted before the gauge drops, so that a
			// scrape begun after one that saw a connection gone also
			// sees how it went. Not the same scrape: a registry
			// collects its metrics concurrently.
			m.connsClosed.WithLabelValues(strconv.Itoa(int(info.Status.Code))).Inc()
			m.connDuration.Observe(info.Duration.Seconds())
			m.queueAtClose.Observe(float64(info.QueueDepth))
			m.connsOpen.Dec()
		},
		HandshakeRefused: func(_ *http.Request, info wsgate.Refusal) {
			m.refused.WithLabelValues(strconv.Itoa(info.Status), info.Code).Inc()
		},
		EventHandled: func(_ context.Context, _ *wsgate.Conn, info wsgate.EventInfo) {
			outcome := string(info.Outcome)
			m.events.WithLabelValues(info.Event, outcome, info.Code).Inc()
			m.eventDuration.WithLabelValues(info.Event, outcome).Observe(info.Duration.Seconds())
		},
		GuardDenied: func(_ *wsgate.Conn, info wsgate.GuardDenial) {
			m.guardDenials.WithLabelValues(info.Event, info.Code).Inc()
		},
		RateLimited: func(*wsgate.Conn) { m.rateLimited.Inc() },
		BrokerPublished: func(info wsgate.BrokerPublish) {
			op := info.Op.String()
			m.published.WithLabelValues(op).Inc()
			if info.Err != nil {
				m.publishErrors.WithLabelValues(op).Inc()
			}
		},
		BrokerDelivered: func(info wsgate.BrokerDelivery) {
			op := info.Op.String()
			if !info.Sent.IsZero() {
				// A lag below zero is the hosts' clock skew, not a
				// delivery before its publication: count it as none.
				m.deliveryLag.WithLabelValues(op).Observe(max(info.Lag, 0).Seconds())
			}
			if info.Err != nil {
				m.deliveryDropped.WithLabelValues(op).Inc()
				return
			}
			m.delivered.WithLabelValues(op).Inc()
		},
	}
}
