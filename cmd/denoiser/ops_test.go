package main

import (
	"context"
	"image"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeOps runs the serve command with nothing of OpenTelemetry
// configured and checks its operations endpoints, its metrics after one
// image, and that the image's trace context reaches the output unchanged.
func TestServeOps(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED",
		"OTEL_SERVICE_NAME"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "ops", Partitions: 1}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- runServe(sctx, []string{"--brokers", strings.Join(e.Brokers(), ","),
			"--topic-prefix", "ops", "--log-level", "warn", "--listen", addr,
			"--group", "ops-group"})
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("runServe after cancel = %v, want nil", err)
		}
	}()

	img := image.NewGray(image.Rect(0, 0, 24, 16))
	b, _ := imageio.EncodePNG(img)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in := &pipeline.Record{Topic: cfg.Topics().Noisy, Key: []byte("one"), Value: b}
	in.SetHeader(pipeline.HeaderTraceparent, tp)
	in.SetHeader(pipeline.HeaderIngestedAt, pipeline.FormatTime(time.Now()))
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Produce(ctx, in); err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewPartitionReader(cfg, cfg.Topics().Denoised, 0, pipeline.FirstOffset)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.HeaderString(pipeline.HeaderTraceparent); got != tp {
		t.Errorf("output traceparent %q, want the input's %q", got, tp)
	}

	base := "http://" + addr
	if code, _ := fetch(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	// Ready once the group has settled with this member holding the partition.
	var code int
	var body string
	for code != 200 && ctx.Err() == nil {
		if code, body = fetch(t, base+"/readyz"); code != 200 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if code != 200 {
		t.Fatalf("/readyz = %d %q, want 200", code, body)
	}
	// The output can be read before the worker has counted it: scrape until
	// every series is there, or the test's deadline.
	wants := []string{
		`cleanframe_images_out_total{messaging_destination_name="ops.images.denoised"} 1`,
		`cleanframe_end_to_end_duration_seconds_count 1`,
		`cleanframe_model_info{cleanframe_model_version=`,
		`cleanframe_gemm_operations_total `,
		`cleanframe_consumer_lag{`,
		`service_name="cleanframe-denoiser"`,
		`go_goroutines `,
	}
	var missing []string
	for {
		_, metrics := fetch(t, base+"/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %q", m)
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
