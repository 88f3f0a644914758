package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestOTLPExport points OTEL_EXPORTER_OTLP_ENDPOINT at a loopback HTTP
// server and checks that a span and the metrics arrive there by OTLP
// (http/protobuf) when telemetry shuts down.
func TestOTLPExport(t *testing.T) {
	clearEnv(t)
	var mu sync.Mutex
	got := map[string]int{} // path to bytes received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "otlp-test")

	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ins := tel.Instruments()
	_, span := ins.Tracer.Start(context.Background(), "work")
	span.End()
	ins.Received(context.Background(), "images.noisy", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["/v1/traces"] == 0 || got["/v1/metrics"] == 0 {
		t.Errorf("OTLP requests by path (bytes): %v, want /v1/traces and /v1/metrics", got)
	}
}
