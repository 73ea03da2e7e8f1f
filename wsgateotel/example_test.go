package wsgateotel_test

import (
	"log"

	"github.com/wsgate/wsgate"
	"github.com/wsgate/wsgate/wsgateotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Tracing a gateway's events with the application's OpenTelemetry setup:
// the global tracer provider (set by the application with its SDK and
// exporter) and the W3C trace context, which a traced front end sends in
// the upgrade request's traceparent header.
func Example() {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	gw, err := wsgate.New(wsgate.Options{
		Origins: []string{"https://app.example.com"},
		Hooks:   wsgateotel.Hooks(wsgateotel.Options{}),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = gw // mux.Handle("/ws", gw)
}
