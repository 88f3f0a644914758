package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/pipeline"
)

func TestRunArgs(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "no command"},
		{[]string{"nope"}, "unknown command"},
		{[]string{"files"}, "no PATH"},
		{[]string{"files", "--log-level", "loud", "x.png"}, "log level"},
		{[]string{"files", "x.png"}, "no Kafka brokers"},
		{[]string{"serve", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

func pngFile(t *testing.T, dir, name string) {
	t.Helper()
	b, err := imageio.EncodePNG(image.NewGray(image.Rect(0, 0, 4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFilesAndServe publishes files and one HTTP upload through the
// embedded broker and checks the noisy topic holds all three.
func TestFilesAndServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	brokers := strings.Join(e.Brokers(), ",")

	dir := t.TempDir()
	pngFile(t, dir, "a.png")
	pngFile(t, dir, "b.png")
	os.WriteFile(filepath.Join(dir, "c.png"), []byte("broken"), 0o644)
	err = run(ctx, []string{"files", "--brokers", brokers, "--topic-prefix", "f", dir})
	if err == nil || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("files = %v, want an error naming c.png", err)
	}

	// The HTTP server on a free port, stopped by cancelling its context.
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "f"}
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pub := &ingest.Publisher{Producer: prod, Topics: cfg.Topics(), MaxBytes: cfg.MaxValueBytes()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- serveHTTP(sctx, ln, ingest.Handler(pub, nil)) }()

	var body bytes.Buffer
	b, _ := imageio.EncodePNG(image.NewGray(image.Rect(0, 0, 9, 9)))
	body.Write(b)
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/images", "image/png", &body)
	if err != nil {
		t.Fatal(err)
	}
	var acc ingest.Accepted
	json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != 202 || acc.Topic != "f.images.noisy" || acc.ID == "" {
		t.Errorf("POST = %d %+v, want 202 on f.images.noisy", resp.StatusCode, acc)
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("serveHTTP after cancel = %v, want nil", err)
	}

	end, err := pipeline.EndOffsets(ctx, cfg, cfg.Topics().Noisy)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range end {
		n += o
	}
	if n != 3 {
		t.Errorf("noisy topic holds %d records, want 3 (2 files, 1 upload)", n)
	}
}
