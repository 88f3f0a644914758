package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanframe/cleanframe/pipeline"
)

// clearEnv unsets the OTEL_* variables Setup reads.
func clearEnv(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER",
		"OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(k, "")
	}
}

// TestSetupQuiet checks that with nothing configured tracing is a no-op
// and Setup starts no goroutine.
func TestSetupQuiet(t *testing.T) {
	clearEnv(t)
	before := runtime.NumGoroutine()
	tel, err := Setup(context.Background(), Config{ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if _, ok := tel.TracerProvider.(*sdktrace.TracerProvider); ok {
		t.Error("tracer provider is the SDK's with no exporter configured, want a no-op")
	}
	ins := tel.Instruments()
	ins.Received(context.Background(), "images.noisy", 10)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines: %d before Setup, %d after", before, n)
	}
}

// TestSetupOTLPFromEnv checks that an endpoint variable turns on the SDK
// tracer and that OTEL_TRACES_EXPORTER=none turns it off again. Nothing is
// sent: the exporters connect lazily and Shutdown comes first.
func TestSetupOTLPFromEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_SERVICE_NAME", "svc-from-env")
	for _, tt := range []struct {
		exporter string
		want     bool
	}{{"", true}, {"none", false}} {
		t.Setenv("OTEL_TRACES_EXPORTER", tt.exporter)
		tel, err := Setup(context.Background(), Config{ServiceName: "test"})
		if err != nil {
			t.Fatal(err)
		}
		_, got := tel.TracerProvider.(*sdktrace.TracerProvider)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		tel.Shutdown(ctx)
		cancel()
		if got != tt.want {
			t.Errorf("OTEL_TRACES_EXPORTER=%q: SDK tracer %v, want %v", tt.exporter, got, tt.want)
		}
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	if _, err := Setup(context.Background(), Config{}); err == nil {
		t.Error("Setup with a bad OTLP protocol: no error")
	}
}

// TestResourceFromEnv checks service.name and OTEL_RESOURCE_ATTRIBUTES on
// exported metrics.
func TestResourceFromEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "cleanframe-x")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=p-1,deployment.environment=test")
	r := sdkmetric.NewManualReader()
	tel, err := Setup(context.Background(), Config{ServiceName: "default-name", Reader: r})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	tel.Instruments().Received(context.Background(), "t", 1)
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range rm.Resource.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{"service.name": "cleanframe-x",
		"k8s.pod.name": "p-1", "deployment.environment": "test"} {
		if got[k] != want {
			t.Errorf("resource %s = %q, want %q", k, got[k], want)
		}
	}
}

// fakeProducer acknowledges every record at partition 2, offsets from 40.
type fakeProducer struct {
	next int64
	err  error
}

func (p *fakeProducer) Produce(_ context.Context, recs ...*pipeline.Record) error {
	if p.err != nil {
		return p.err
	}
	for _, r := range recs {
		r.Partition, r.Offset = 2, 40+p.next
		p.next++
	}
	return nil
}

func (p *fakeProducer) Close() error { return nil }

func TestProducerSpanAndHeaders(t *testing.T) {
	clearEnv(t)
	sr := tracetest.NewSpanRecorder()
	tel, err := Setup(context.Background(), Config{SpanProcessor: sr})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins := tel.Instruments()
	prod := ins.Producer(&fakeProducer{})

	ctx, parent := ins.Tracer.Start(context.Background(), "parent")
	rec := &pipeline.Record{Topic: "images.noisy", Key: []byte("id-1"), Value: []byte("png")}
	rec.SetHeader("traceparent", "stale")
	if err := prod.Produce(ctx, rec); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	send := spans[0]
	if send.Name() != "send images.noisy" || send.SpanKind() != trace.SpanKindProducer {
		t.Errorf("span %q kind %v, want send images.noisy, producer", send.Name(), send.SpanKind())
	}
	if send.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("send span is not a child of the context passed to Produce")
	}
	want := "00-" + send.SpanContext().TraceID().String() + "-" +
		send.SpanContext().SpanID().String() + "-01"
	if got := rec.HeaderString(pipeline.HeaderTraceparent); got != want {
		t.Errorf("traceparent header %q, want %q", got, want)
	}
	if n := strings.Count(headerKeys(rec), "traceparent"); n != 1 {
		t.Errorf("%d traceparent headers, want 1", n)
	}
	attrs := spanAttrs(send)
	for k, v := range map[string]string{"messaging.system": "kafka",
		"messaging.destination.name": "images.noisy", "messaging.operation.type": "send",
		"messaging.destination.partition.id": "2", "messaging.kafka.offset": "40",
		"messaging.kafka.message.key": "id-1"} {
		if attrs[k] != v {
			t.Errorf("send span %s = %q, want %q", k, attrs[k], v)
		}
	}

	// The consumer side continues the trace and links to the producer.
	pctx, proc := ins.StartProcess(context.Background(), rec, "group-a")
	EndSpan(proc, nil)
	got := sr.Ended()[2]
	if got.Parent().SpanID() != send.SpanContext().SpanID() ||
		len(got.Links()) != 1 || got.Links()[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
		t.Error("process span is not the child of, and linked to, the send span")
	}
	if a := spanAttrs(got); a["messaging.consumer.group.name"] != "group-a" ||
		a["messaging.operation.type"] != "process" {
		t.Errorf("process span attributes %v", a)
	}
	if !trace.SpanContextFromContext(pctx).IsValid() {
		t.Error("StartProcess returned a context without a span")
	}
}

func TestProducerError(t *testing.T) {
	clearEnv(t)
	sr := tracetest.NewSpanRecorder()
	tel, _ := Setup(context.Background(), Config{SpanProcessor: sr})
	defer tel.Shutdown(context.Background())
	boom := errors.New("boom")
	err := tel.Instruments().Producer(&fakeProducer{err: boom}).Produce(context.Background(),
		&pipeline.Record{Topic: "t"})
	if !errors.Is(err, boom) {
		t.Fatalf("Produce = %v, want boom", err)
	}
	if s := sr.Ended(); len(s) != 1 || s[0].Status().Description != "boom" {
		t.Errorf("spans %v, want one with status boom", s)
	}
}

// TestNopPassesContextOn checks that with telemetry off an incoming trace
// context still reaches the output record.
func TestNopPassesContextOn(t *testing.T) {
	var tel *Telemetry
	ins := tel.Instruments()
	in := &pipeline.Record{Topic: "a"}
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	in.SetHeader("traceparent", tp)
	ctx, span := ins.StartProcess(context.Background(), in, "g")
	out := &pipeline.Record{Topic: "b"}
	if err := ins.Producer(&fakeProducer{}).Produce(ctx, out); err != nil {
		t.Fatal(err)
	}
	EndSpan(span, nil)
	if got := out.HeaderString("traceparent"); got != tp {
		t.Errorf("output traceparent %q, want %q", got, tp)
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil))).With("k", "v")
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	log.InfoContext(ctx, "in span")
	log.Info("no span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], "trace_id=0af7651916cd43dd8448eb211c80319c") ||
		!strings.Contains(lines[0], "span_id=b7ad6b7169203331") {
		t.Errorf("record in a span: %q, want trace_id and span_id", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("record outside a span: %q, want no trace_id", lines[1])
	}
}

// TestMetricsScrape records each kind of metric and scrapes the Prometheus
// handler, checking the names docs/telemetry.md lists.
func TestMetricsScrape(t *testing.T) {
	clearEnv(t)
	tel, err := Setup(context.Background(), Config{ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ctx := context.Background()
	ins := tel.Instruments()
	ins.Received(ctx, "images.noisy", 100)
	if err := ins.Producer(&fakeProducer{}).Produce(ctx,
		&pipeline.Record{Topic: "images.denoised", Value: make([]byte, 70)}); err != nil {
		t.Fatal(err)
	}
	ins.Stage(ctx, "decode", time.Now())
	out := &pipeline.Record{}
	out.SetHeader(pipeline.HeaderIngestedAt, pipeline.FormatTime(time.Now().Add(-time.Second)))
	ins.Delivered(ctx, out)
	ins.DeadLettered(ctx, "decode", errors.New("bad"))
	ins.TrainProgress(ctx, 12.5)
	ins.Validated(ctx, "candidate", 31.2)
	defer ins.ObserveModel(func() string { return "v7" })()
	defer ins.ObserveEngine(func() EngineStats { return EngineStats{Flops: 1e9, Rows: 512, Batches: 2} })()

	rw := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rw, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rw.Body)
	text := string(body)
	for _, want := range []string{
		`cleanframe_images_in_total{messaging_destination_name="images.noisy"} 1`,
		`cleanframe_images_in_bytes_total{messaging_destination_name="images.noisy"} 100`,
		`cleanframe_images_out_total{messaging_destination_name="images.denoised"} 1`,
		`cleanframe_images_out_bytes_total{messaging_destination_name="images.denoised"} 70`,
		`cleanframe_end_to_end_duration_seconds_count 1`,
		`cleanframe_stage_duration_seconds_count{cleanframe_stage="decode"} 1`,
		`cleanframe_stage_duration_seconds_count{cleanframe_stage="produce"} 1`,
		`cleanframe_deadletter_records_total{cleanframe_stage="decode",error_type="invalid"} 1`,
		`cleanframe_train_loss_ratio 12.5`,
		`cleanframe_validation_psnr_dB{cleanframe_model_role="candidate"} 31.2`,
		`cleanframe_model_info{cleanframe_model_version="v7"} 1`,
		`cleanframe_gemm_operations_total 1e+09`,
		`cleanframe_denoise_batch_rows_total 512`,
		`cleanframe_denoise_batches_total 2`,
		`target_info{`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grep(text, "cleanframe_"))
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func headerKeys(r *pipeline.Record) string {
	return strings.Join(Carrier{r}.Keys(), ",")
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// TestSetGlobalLogsToSlog checks that OpenTelemetry's errors reach slog.
func TestSetGlobalLogsToSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	Nop().SetGlobal(log)
	defer Nop().SetGlobal(nil)
	otel.Handle(errors.New("exporter unreachable"))
	if !strings.Contains(buf.String(), "level=WARN") ||
		!strings.Contains(buf.String(), "exporter unreachable") {
		t.Errorf("log %q, want a warning with the error", buf.String())
	}
}
