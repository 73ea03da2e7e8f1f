package wsgateprom

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the gateway's metrics (registered
// as New registers them, with opts) and the Go runtime's and the process's
// collectors, and the Metrics whose hooks update it: what a program that
// exposes only its gateway needs. A program with a registry of its own
// calls New with it instead.
func NewRegistry(opts Options) (*prometheus.Registry, *Metrics, error) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, opts)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, err
		}
	}
	return reg, m, nil
}

// Handler serves reg in the Prometheus exposition format, for a scraper.
// Serve it on an internal listener, or behind authentication: metrics say
// much about a service.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
