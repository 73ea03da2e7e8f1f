package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsgate/wsgate/wsgateprom"
)

// mountMetrics serves reg at /metrics, when metrics are on (reg not nil):
// on the chat's one listener, beside the page, which suits a demo; a
// production server exposes its metrics on an internal listener of their
// own instead, or behind authentication.
func mountMetrics(mux *http.ServeMux, reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	mux.Handle("GET /metrics", wsgateprom.Handler(reg))
}
