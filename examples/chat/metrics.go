package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsgate/wsgate/wsgateprom"
)

// newMetrics makes the registry /metrics serves when METRICS=1: the
// gateway's metrics (wsgateprom), which the hooks of the Metrics it
// returns update, and the Go runtime's and the process's.
func newMetrics() (*prometheus.Registry, *wsgateprom.Metrics, error) {
	reg := prometheus.NewRegistry()
	m, err := wsgateprom.New(reg, wsgateprom.Options{})
	if err != nil {
		return nil, nil, err
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, err
	}
	return reg, m, nil
}

// mountMetrics serves reg at /metrics, when metrics are on (reg not nil):
// on the chat's one listener, beside the page, which suits a demo; a
// production server exposes its metrics on an internal listener of their
// own instead, or behind authentication.
func mountMetrics(mux *http.ServeMux, reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}
