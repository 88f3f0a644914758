package telemetry

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/cleanframe/cleanframe/pipeline"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkPerRecord times the telemetry calls the denoiser makes for one
// record (process span, denoise span, four stage timings, the output's
// producer span and header, counters, end-to-end latency) and nothing
// else: off is a nil *Telemetry (no-op providers), on samples every span
// into a batch processor and keeps metrics for /metrics. on minus off is
// telemetry's cost per record.
func BenchmarkPerRecord(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			var tel *Telemetry
			if on {
				b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
				var err error
				tel, err = Setup(context.Background(), Config{
					SpanProcessor: sdktrace.NewBatchSpanProcessor(discardSpans{})})
				if err != nil {
					b.Fatal(err)
				}
				defer tel.Shutdown(context.Background())
			}
			ins := tel.Instruments()
			prod := ins.Producer(&fakeProducer{})
			in := &pipeline.Record{Topic: "images.noisy", Key: []byte("id-1"),
				Value: make([]byte, 1000)}
			in.SetHeader(pipeline.HeaderTraceparent,
				"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			in.SetHeader(pipeline.HeaderIngestedAt, pipeline.FormatTime(time.Now()))
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := ins.StartProcess(context.Background(), in, "g")
				start := time.Now()
				ins.Stage(ctx, "decode", start)
				_, ds := ins.Tracer.Start(ctx, "denoise")
				ins.Stage(ctx, "denoise", start)
				EndSpan(ds, nil)
				ins.Stage(ctx, "encode", start)
				out := &pipeline.Record{Topic: "images.denoised", Key: in.Key,
					Value: in.Value, Headers: append([]pipeline.Header(nil), in.Headers...)}
				if err := prod.Produce(ctx, out); err != nil {
					b.Fatal(err)
				}
				ins.Delivered(ctx, out)
				EndSpan(span, nil)
			}
		})
	}
}
