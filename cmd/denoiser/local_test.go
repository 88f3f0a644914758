package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func testImages(t *testing.T, dir string) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, 37, 21))
	c := image.NewNRGBA(image.Rect(0, 0, 19, 30))
	for y := range 30 {
		for x := range 37 {
			v := uint8(128 + 100*math.Sin(float64(x)/5+float64(y)/7))
			g.SetGray(x, y, color.Gray{Y: v})
			c.SetNRGBA(x, y, color.NRGBA{R: v, G: 255 - v, B: uint8(x * 10), A: 255})
		}
	}
	writePNG(t, filepath.Join(dir, "grey.png"), g)
	writePNG(t, filepath.Join(dir, "colour.png"), c)
}

func TestDenoiseWritesSameShape(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	testImages(t, in)
	err := run(context.Background(), []string{"denoise", "-o", out,
		filepath.Join(in, "grey.png"), filepath.Join(in, "colour.png")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		w, h int
		grey bool
	}{"grey.png": {37, 21, true}, "colour.png": {19, 30, false}} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, isGrey := img.(*image.Gray)
		if img.Bounds().Dx() != want.w || img.Bounds().Dy() != want.h || isGrey != want.grey {
			t.Errorf("%s: %v %T, want %dx%d grey=%v", name, img.Bounds(), img, want.w,
				want.h, want.grey)
		}
	}
}

func TestDenoiseReportsBadFiles(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	testImages(t, in)
	bad := filepath.Join(in, "bad.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"denoise", "-o", out, bad,
		filepath.Join(in, "grey.png")})
	if err == nil {
		t.Fatal("no error for an undecodable file")
	}
	if _, err := os.Stat(filepath.Join(out, "grey.png")); err != nil {
		t.Fatalf("the good file was not written after the bad one: %v", err)
	}
}

func TestEvalPrintsJSON(t *testing.T) {
	in := t.TempDir()
	testImages(t, in)
	stdout := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	err := run(context.Background(), []string{"eval", "--images", in, "--sigma", "25",
		"--seed", "3", "--json"})
	w.Close()
	os.Stdout = stdout
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	var got map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(data), &got); err != nil {
		t.Fatalf("output %q: %v", data, err)
	}
	for _, k := range []string{"images", "sigma", "noisy_psnr_db", "psnr_db", "seconds"} {
		if _, ok := got[k]; !ok {
			t.Errorf("key %q missing from %s", k, data)
		}
	}
	if got["images"].(float64) != 2 || got["sigma"].(float64) != 25 {
		t.Errorf("images/sigma in %s", data)
	}
	noisy, clean := got["noisy_psnr_db"].(float64), got["psnr_db"].(float64)
	if math.Abs(noisy-20.17) > 0.5 || clean < noisy+2 {
		t.Errorf("noisy %.2f dB, denoised %.2f dB: want ~20.2 and a 2 dB gain", noisy, clean)
	}
}

func TestDenoiseRefusesUnsafeOutputs(t *testing.T) {
	in := t.TempDir()
	testImages(t, in)
	other := t.TempDir()
	testImages(t, other)
	grey := filepath.Join(in, "grey.png")
	cases := map[string][]string{
		"output replaces the input": {"denoise", "-o", in, grey},
		"two inputs, one output": {"denoise", "-o", t.TempDir(), grey,
			filepath.Join(other, "grey.png")},
		"flag after the files":    {"denoise", "-o", t.TempDir(), grey, "-sigma", "25"},
		"sigma not a number":      {"denoise", "-sigma", "NaN", "-o", t.TempDir(), grey},
		"stride beyond the patch": {"denoise", "-stride", "12", "-o", t.TempDir(), grey},
		"eval negative sigma":     {"eval", "--images", in, "--sigma", "-5"},
		"three views":             {"denoise", "-ensemble", "3", "-o", t.TempDir(), grey},
		"eval three views":        {"eval", "--images", in, "--ensemble", "3"},
		"eval stride 0 of 9":      {"eval", "--images", in, "--stride", "-1"},
	}
	before, _ := os.ReadFile(grey)
	for name, args := range cases {
		if err := run(context.Background(), args); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	after, _ := os.ReadFile(grey)
	if !bytes.Equal(before, after) {
		t.Fatal("an input file was changed")
	}
	// A bad stride is refused once, before any file is read or written.
	out := filepath.Join(t.TempDir(), "out")
	err := run(context.Background(), []string{"denoise", "-stride", "12", "-o", out, grey,
		filepath.Join(in, "colour.png")})
	if err == nil || !strings.Contains(err.Error(), "stride 12") ||
		strings.Contains(err.Error(), "files failed") {
		t.Errorf("bad stride: %v, want one stride error", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("bad stride: output folder made (%v)", err)
	}
}
