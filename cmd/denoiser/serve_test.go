package main

import (
	"context"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

func TestServeArgs(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("CF_LISTEN", "127.0.0.1:0")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--log-level", "loud"}, "log level"},
		{nil, "no Kafka brokers"},
		{[]string{"--brokers", "127.0.0.1:1", "--model", "/nonexistent"}, "load model"},
		{[]string{"--brokers", "127.0.0.1:1", "--ensemble", "3"}, "ensemble 3"},
	}
	for _, tt := range tests {
		err := runServe(context.Background(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("runServe(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestServe runs the serve command on the embedded broker with the shipped
// model, sends one image and checks that its output comes back.
func TestServe(t *testing.T) {
	t.Setenv("CF_LISTEN", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "s"}

	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- runServe(sctx, []string{"--brokers", strings.Join(e.Brokers(), ","),
			"--topic-prefix", "s", "--log-level", "warn"})
	}()

	img := image.NewGray(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	b, _ := imageio.EncodePNG(img)
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Produce(ctx, &pipeline.Record{Topic: cfg.Topics().Noisy,
		Key: []byte("one"), Value: b}); err != nil {
		t.Fatal(err)
	}

	c, err := pipeline.NewGroupConsumer(cfg, "serve-test-reader", cfg.Topics().Denoised)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := imageio.Decode(out.Value, 0)
	if string(out.Key) != "one" || err != nil || got.Bounds() != img.Bounds() ||
		out.HeaderString(pipeline.HeaderModelVersion) != m.Version() {
		t.Errorf("output %s (%v, %v) version %q, want one, 24x16, %s", out.Key, got, err,
			out.HeaderString(pipeline.HeaderModelVersion), m.Version())
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("runServe after cancel = %v, want nil", err)
	}
}
