package wsgateprom_test

import (
	"log"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgateprom"
)

// Wiring the metrics into an existing server: register them on the
// application's registry, hand their hooks to the gateway, and serve the
// registry at /metrics.
func Example() {
	reg := prometheus.NewRegistry()
	metrics, err := wsgateprom.New(reg, wsgateprom.Options{})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://app.example.com"},
		Hooks:   metrics.Hooks(),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	_ = srv // srv.ListenAndServe()
}
