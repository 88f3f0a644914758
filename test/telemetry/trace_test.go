// Package telemetry_test follows one image from an HTTP upload through
// ingest, the embedded broker and a denoiser to its output record, with
// in-memory exporters, and checks the trace, the metrics, /metrics, the
// trace ids in the logs and the readiness checks.
package telemetry_test

import (
	"bytes"
	"context"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/health"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/internal/testlog"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// The client's own trace context, which the whole pipeline must continue.
const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
)

func TestOneTraceFromUploadToOutput(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME",
		"OTEL_TRACES_SAMPLER"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var logs testlog.Buffer
	log, err := telemetry.NewLogger(&logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "tt", Partitions: 1,
		ClientID: "cf-telemetry-test-1"}
	topics := cfg.Topics()
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "cleanframe-test",
		SpanProcessor: spans, Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())

	// Ingest: the HTTP API as cmd/ingest serves it.
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pub := &ingest.Publisher{Producer: tel.Instruments().Producer(prod), Topics: topics,
		MaxBytes: cfg.MaxValueBytes()}
	mux := health.Handler(tel.MetricsHandler(), health.Brokers(cfg))
	mux.Handle("/", tel.UploadHandler(ingest.Handler(pub, log), topics.Noisy))
	api := httptest.NewServer(mux)
	defer api.Close()

	// The denoiser: worker.Serve as cmd/denoiser runs it.
	m, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- worker.Serve(dctx, cfg, "tt-group", worker.Config{Workers: 1, Logger: log,
			Telemetry: tel}, m, nil)
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("denoiser: %v", err)
		}
	}()

	// Upload one image with the client's trace context.
	img := image.NewGray(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	body, _ := imageio.EncodePNG(img)
	req, _ := http.NewRequestWithContext(ctx, "POST", api.URL+"/v1/images", bytes.NewReader(body))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("X-Image-Id", "img-1")
	req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %s", resp.Status)
	}

	out := readOne(t, ctx, cfg, topics.Denoised)
	byName := waitSpans(t, ctx, spans, "process "+topics.Noisy)
	for _, s := range spans.Ended() {
		t.Logf("span %-24q trace %s span %s parent %s", s.Name(), s.SpanContext().TraceID(),
			s.SpanContext().SpanID(), s.Parent().SpanID())
	}

	// One trace, from the client's span to the output record.
	httpSpan := byName["POST /v1/images"]
	sendIn := byName["send "+topics.Noisy]
	process := byName["process "+topics.Noisy]
	denoise := byName["denoise"]
	sendOut := byName["send "+topics.Denoised]
	for name, s := range map[string]sdktrace.ReadOnlySpan{"http": httpSpan, "send in": sendIn,
		"process": process, "denoise": denoise, "send out": sendOut} {
		if s == nil {
			t.Fatalf("no %s span; got %v", name, names(byName))
		}
		if got := s.SpanContext().TraceID().String(); got != clientTrace {
			t.Errorf("%s span in trace %s, want the client's %s", name, got, clientTrace)
		}
	}
	chain := []struct {
		child, parent sdktrace.ReadOnlySpan
		what          string
	}{
		{sendIn, httpSpan, "send to noisy under the HTTP span"},
		{process, sendIn, "process under the ingest send"},
		{denoise, process, "denoise under process"},
		{sendOut, process, "send to denoised under process"},
	}
	for _, c := range chain {
		if c.child.Parent().SpanID() != c.parent.SpanContext().SpanID() {
			t.Errorf("%s: parent %s, want %s", c.what, c.child.Parent().SpanID(),
				c.parent.SpanContext().SpanID())
		}
	}
	if got := httpSpan.Parent().SpanID().String(); got != clientSpan {
		t.Errorf("HTTP span parent %s, want the client's span %s", got, clientSpan)
	}
	if l := process.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != sendIn.SpanContext().SpanID() {
		t.Errorf("process span links %v, want the ingest send span", l)
	}
	wantOut := "00-" + clientTrace + "-" + sendOut.SpanContext().SpanID().String() + "-01"
	if got := out.HeaderString(pipeline.HeaderTraceparent); got != wantOut {
		t.Errorf("output traceparent %q, want %q", got, wantOut)
	}

	// Messaging attributes.
	if httpSpan.SpanKind() != trace.SpanKindServer || sendIn.SpanKind() != trace.SpanKindProducer ||
		process.SpanKind() != trace.SpanKindConsumer || sendOut.SpanKind() != trace.SpanKindProducer {
		t.Error("span kinds are not server, producer, consumer, producer")
	}
	checkAttrs(t, "process", process, map[string]string{
		"messaging.system": "kafka", "messaging.operation.type": "process",
		"messaging.destination.name": topics.Noisy, "messaging.destination.partition.id": "0",
		"messaging.kafka.offset": "0", "messaging.consumer.group.name": "tt-group",
		"messaging.kafka.message.key": "img-1"})
	checkAttrs(t, "send out", sendOut, map[string]string{
		"messaging.system": "kafka", "messaging.operation.type": "send",
		"messaging.destination.name":         topics.Denoised,
		"messaging.destination.partition.id": "0", "messaging.kafka.offset": "0"})
	checkAttrs(t, "denoise", denoise, map[string]string{"cleanframe.model.version": m.Version()})

	// Logs of the record carry its trace.
	if !strings.Contains(logs.String(), "trace_id="+clientTrace) {
		t.Errorf("no log line with trace_id=%s:\n%s", clientTrace, logs.String())
	}

	// Metrics, in memory and scraped.
	checkMetrics(t, ctx, reader, topics, m.Version())
	scrape := get(t, api.URL+"/metrics")
	for _, want := range []string{
		`cleanframe_images_in_total{messaging_destination_name="` + topics.Noisy + `"} 2`,
		`cleanframe_images_out_total{messaging_destination_name="` + topics.Denoised + `"} 1`,
		`cleanframe_end_to_end_duration_seconds_count 1`,
		`cleanframe_stage_duration_seconds_count{cleanframe_stage="denoise"} 1`,
		`cleanframe_model_info{cleanframe_model_version="` + m.Version() + `"} 1`,
		`http_server_request_duration_seconds_count{`,
		`service_name="cleanframe-test"`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Readiness: brokers reachable for ingest; the group has given this
	// denoiser its partition.
	if code := status(t, api.URL+"/readyz"); code != 200 {
		t.Errorf("ingest /readyz = %d, want 200", code)
	}
	if err := health.Assigned(cfg, "tt-group", topics.Noisy).Fn(ctx); err != nil {
		t.Errorf("partitions check: %v", err)
	}
	other := *cfg
	other.ClientID = "someone-else"
	if err := health.Assigned(&other, "tt-group", topics.Noisy).Fn(ctx); err != nil {
		t.Logf("a non-member with every partition held elsewhere: %v", err)
		t.Error("a standby beside a group that holds every partition is not ready")
	}
}

// readOne reads the first record of partition 0 of topic.
func readOne(t *testing.T, ctx context.Context, cfg *pipeline.Config,
	topic string) pipeline.Record {
	t.Helper()
	r, err := pipeline.NewPartitionReader(cfg, topic, 0, pipeline.FirstOffset)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// waitSpans waits until a span named last has ended and returns the ended
// spans by name.
func waitSpans(t *testing.T, ctx context.Context, sr *tracetest.SpanRecorder,
	last string) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	for {
		byName := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range sr.Ended() {
			byName[s.Name()] = s
		}
		if byName[last] != nil {
			return byName
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %q span; got %v", last, names(byName))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func names(m map[string]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func checkAttrs(t *testing.T, name string, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, kv := range s.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s span: %s = %q, want %q", name, k, got[k], v)
		}
	}
}

// checkMetrics collects the in-memory reader and checks one of each kind.
func checkMetrics(t *testing.T, ctx context.Context, r sdkmetric.Reader, topics pipeline.Topics,
	version string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = m
		}
	}
	units := map[string]string{
		telemetry.MetricImagesIn: "{image}", telemetry.MetricImagesOut: "{image}",
		telemetry.MetricBytesIn: "By", telemetry.MetricBytesOut: "By",
		telemetry.MetricEndToEnd: "s", telemetry.MetricStage: "s",
		telemetry.MetricModel: "{model}", telemetry.MetricConsumerLag: "{record}",
	}
	for name, unit := range units {
		m, ok := found[name]
		if !ok {
			t.Errorf("metric %s not recorded", name)
			continue
		}
		if m.Unit != unit {
			t.Errorf("metric %s unit %q, want %q", name, m.Unit, unit)
		}
	}
	if h, ok := found[telemetry.MetricEndToEnd].Data.(metricdata.Histogram[float64]); !ok ||
		len(h.DataPoints) != 1 || h.DataPoints[0].Count != 1 || h.DataPoints[0].Sum <= 0 {
		t.Errorf("end-to-end latency %+v, want one positive observation", found[telemetry.MetricEndToEnd].Data)
	}
	if g, ok := found[telemetry.MetricConsumerLag].Data.(metricdata.Gauge[int64]); !ok ||
		len(g.DataPoints) != 1 || g.DataPoints[0].Value != 0 {
		t.Errorf("consumer lag %+v, want one partition at 0", found[telemetry.MetricConsumerLag].Data)
	}
	stages := map[string]bool{}
	if h, ok := found[telemetry.MetricStage].Data.(metricdata.Histogram[float64]); ok {
		for _, dp := range h.DataPoints {
			v, _ := dp.Attributes.Value("cleanframe.stage")
			stages[v.AsString()] = true
		}
	}
	for _, s := range []string{"decode", "denoise", "encode", "produce"} {
		if !stages[s] {
			t.Errorf("no duration recorded for stage %s (have %v)", s, stages)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
