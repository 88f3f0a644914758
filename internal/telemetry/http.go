package telemetry

import (
	"io"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// UploadHandler instruments ingest's HTTP API h: a server span per request
// (continuing a traceparent the client sent; POST /v1/images is named by
// its route), OpenTelemetry's HTTP server metrics, and each upload counted
// with its body bytes in cleanframe.images.in for topic, where the images
// go.
func (t *Telemetry) UploadHandler(h http.Handler, topic string) http.Handler {
	ins := t.Instruments()
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		body := &countingReader{r: r.Body}
		r.Body = body
		h.ServeHTTP(w, r)
		ins.Received(r.Context(), topic, int(body.n))
	})
	return otelhttp.NewHandler(count, "ingest",
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithMeterProvider(t.MeterProvider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.URL.Path == "/v1/images" {
				return r.Method + " /v1/images"
			}
			return r.Method
		}))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
