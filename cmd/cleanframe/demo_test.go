package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
)

func TestRunArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "no command"},
		{[]string{"nope"}, "unknown command"},
		{[]string{"demo", "extra"}, "unexpected arguments"},
		{[]string{"demo", "--images", "/nonexistent"}, "list images"},
		{[]string{"demo", "--timeout", "0s"}, "positive duration"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestDemo runs the demo on two small images, one grey and one colour, and
// checks its files and table.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "demo")
	grey := image.NewGray(image.Rect(0, 0, 40, 32))
	rgb := image.NewNRGBA(image.Rect(0, 0, 36, 28))
	for y := range 32 {
		for x := range 40 {
			grey.SetGray(x, y, color.Gray{Y: uint8(4*x + 2*y)})
			rgb.SetNRGBA(x%36, y%28, color.NRGBA{uint8(6 * x), uint8(8 * y), 90, 255})
		}
	}
	for name, img := range map[string]image.Image{"g.png": grey, "c.png": rgb} {
		b, err := imageio.EncodePNG(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var w bytes.Buffer
	err := runDemo(ctx, &w, []string{"--images", in, "--out", out, "--train-steps", "3",
		"--log-level", "error"})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, w.String())
	}
	for _, f := range []string{"g.noisy.png", "g.denoised.png", "c.noisy.png", "c.denoised.png"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Error(err)
			continue
		}
		if _, _, err := imageio.Decode(b, 0); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	row := regexp.MustCompile(`(?m)^g\.png +40x32 +\d+\.\d\d +\d+\.\d\d +[+-]\d+\.\d\d +\S+$`)
	if !row.MatchString(w.String()) || !strings.Contains(w.String(), "mean (sigma 25, seed 1)") ||
		!strings.Contains(w.String(), "trainer round: 3 steps") {
		t.Errorf("demo output lacks the table rows or the trainer line:\n%s", w.String())
	}
}

// signalWriter closes seen when a write contains want.
type signalWriter struct {
	want string
	seen chan struct{}
	once bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if !w.once && bytes.Contains(p, []byte(w.want)) {
		w.once = true
		close(w.seen)
	}
	return len(p), nil
}

// Two images that share a stem are refused before anything starts, since
// their outputs and record keys would collide; and a demo stopped (Ctrl-C)
// while images are in flight returns, the broker closing after the
// denoiser, which used to wait for it forever.
func TestDemoStemsAndStop(t *testing.T) {
	in := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 64, 64))
	b, err := imageio.EncodePNG(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.png", "b.png", "c.png"} {
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dupe := t.TempDir()
	os.WriteFile(filepath.Join(dupe, "a.png"), b, 0o644)
	os.WriteFile(filepath.Join(dupe, "a.bmp"), b, 0o644) // a PNG named .bmp: read by content
	err = runDemo(context.Background(), io.Discard, []string{"--images", dupe,
		"--out", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `share the name "a"`) {
		t.Fatalf("demo on a.png and a.bmp: %v, want them refused", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &signalWriter{want: "published", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, w, []string{"--images", in, "--out", t.TempDir(),
			"--log-level", "error", "--model", "quality"})
	}()
	select {
	case <-w.seen:
		cancel()
	case err := <-done:
		t.Fatalf("demo ended before publishing: %v", err)
	}
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("stopped demo: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		// With the broker closing first it took 30 s or forever; now 1 s.
		t.Fatal("the stopped demo did not return within 20 s")
	}
}
