package worker

import (
	"context"
	"image"
	"math/rand/v2"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// discard acknowledges every record and keeps none.
type discard struct{}

func (discard) Produce(context.Context, ...*pipeline.Record) error { return nil }
func (discard) Close() error                                       { return nil }

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkHandleTelemetry measures the per-record path (decode, denoise,
// encode, produce, with its spans and metrics) with telemetry off (no-op
// providers: what a service runs with nothing configured) and on (every
// span sampled and batched to an exporter, metrics kept for /metrics),
// for a tiny model and for the shipped one. Compare on/off of one model:
//
//	go test -run '^$' -bench HandleTelemetry -count 6 ./internal/worker/
func BenchmarkHandleTelemetry(b *testing.B) {
	tiny, err := ae.NewModel("tiny", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 2,
		Hidden: []int{16}, SigmaInput: true}, 51)
	if err != nil {
		b.Fatal(err)
	}
	tiny.Header.Version = "tiny-1"
	tiny.Net.InitHe(rand.New(rand.NewPCG(1, 2)), 0.01)
	shipped, err := ae.Default()
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name  string
		model *ae.Model
	}{{"tiny", tiny}, {"shipped", shipped}} {
		for _, on := range []bool{false, true} {
			name := m.name + "/off"
			if on {
				name = m.name + "/on"
			}
			b.Run(name, func(b *testing.B) { benchHandle(b, m.model, on) })
		}
	}
}

// identity is a model that returns its input: with it the benchmark times
// the path around the model, where telemetry's cost is the largest share.
type identity struct{}

func (identity) Version() string                                   { return "identity" }
func (identity) DenoiseImage(img image.Image) (image.Image, error) { return img, nil }

// BenchmarkHandleTelemetryOverhead is BenchmarkHandleTelemetry with a model
// that does nothing: the difference between on and off is telemetry's cost
// per record in absolute terms.
func BenchmarkHandleTelemetryOverhead(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) { benchHandle(b, identity{}, on) })
	}
}

func benchHandle(b *testing.B, m Model, on bool) {
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	var tel *telemetry.Telemetry
	if on {
		bsp := sdktrace.NewBatchSpanProcessor(discardSpans{})
		var err error
		tel, err = telemetry.Setup(context.Background(), telemetry.Config{SpanProcessor: bsp})
		if err != nil {
			b.Fatal(err)
		}
		defer tel.Shutdown(context.Background())
	}
	d, err := New(Config{Topics: testTopics(), Telemetry: tel, Group: "bench"}, nil,
		discard{}, m)
	if err != nil {
		b.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 48, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*37 + i/48*11)
	}
	body, err := imageio.EncodePNG(img)
	if err != nil {
		b.Fatal(err)
	}
	rec := record(0, 0, "bench-1", body)
	rec.SetHeader(pipeline.HeaderIngestedAt, pipeline.FormatTime(time.Now()))
	rec.SetHeader(pipeline.HeaderTraceparent,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx := context.Background()

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.handle(ctx, rec, m); err != nil {
			b.Fatal(err)
		}
	}
}
