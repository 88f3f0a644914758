package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
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
