package evaluate

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
)

func TestPSNR(t *testing.T) {
	a := []ae.Plane{{W: 2, H: 2, Pix: []float32{0, 0, 0, 0}}}
	b := []ae.Plane{{W: 2, H: 2, Pix: []float32{10, 10, 10, 10}}}
	want := 10 * math.Log10(255*255/100.0)
	if got := PSNR(a, b); math.Abs(got-want) > 1e-9 {
		t.Fatalf("PSNR = %v, want %v", got, want)
	}
	if got := PSNR(a, a); got != MaxPSNR {
		t.Fatalf("PSNR of identical planes = %v, want the cap %v", got, float64(MaxPSNR))
	}
}

// The noisy PSNR of sigma 25 noise on a mid-grey image is 20.17 dB, the same
// whichever run computes it.
func TestRunIsDeterministicAndCalibrated(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 128, 128))
	for i := range g.Pix {
		g.Pix[i] = 128
	}
	imgs := []dataset.Image{{Name: "grey", Image: g}}
	m, err := ae.NewModel("zero", ae.Arch{PatchIn: 5, PatchOut: 3, Stride: 2,
		Hidden: []int{4}}, 51)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Sigma: 25, Seed: 7}
	r1, err := Run(context.Background(), m, imgs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Run(context.Background(), m, imgs, cfg)
	if r1.PSNR != r2.PSNR || r1.NoisyPSNR != r2.NoisyPSNR {
		t.Fatalf("two runs differ: %v vs %v", r1, r2)
	}
	want := 20 * math.Log10(255/25.0)
	if math.Abs(r1.NoisyPSNR-want) > 0.1 {
		t.Fatalf("noisy PSNR %.3f, want %.3f", r1.NoisyPSNR, want)
	}
	// A zero network returns the noisy input, rounded: about the same PSNR.
	if math.Abs(r1.PSNR-r1.NoisyPSNR) > 0.1 {
		t.Fatalf("identity model PSNR %.3f vs noisy %.3f", r1.PSNR, r1.NoisyPSNR)
	}
	r3, _ := Run(context.Background(), m, imgs, Config{Sigma: 25, Seed: 8})
	if r3.NoisyPSNR == r1.NoisyPSNR {
		t.Fatal("another seed gave the same noise")
	}
}

// With EightBit the denoiser gets whole values in 0..255, the same noise
// rounded and clipped: on a dark image at sigma 50 clipping removes the
// negative tail, so the noisy PSNR rises.
func TestEightBit(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range g.Pix {
		g.Pix[i] = 10
	}
	imgs := []dataset.Image{{Name: "dark", Image: g}}
	var seen []float32
	keep := func(out, noisy []ae.Plane, _ float32) error {
		seen = append(seen[:0], noisy[0].Pix...)
		copy(out[0].Pix, noisy[0].Pix)
		return nil
	}
	cfg := Config{Sigma: 50, Seed: 3}
	float, err := RunFunc(context.Background(), "copy", imgs, cfg, keep)
	if err != nil {
		t.Fatal(err)
	}
	var negative bool
	for _, v := range seen {
		negative = negative || v < 0
	}
	cfg.EightBit = true
	eight, err := RunFunc(context.Background(), "copy", imgs, cfg, keep)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range seen {
		if v != float32(math.Round(float64(v))) || v < 0 || v > 255 {
			t.Fatalf("pixel %d given as %v, want a whole value in 0..255", i, v)
		}
	}
	if !negative || !(eight.NoisyPSNR > float.NoisyPSNR+1) {
		t.Fatalf("noisy PSNR %.2f dB in 8 bits, %.2f as floats (negatives %v); want 8 bits "+
			"above by more than 1 dB", eight.NoisyPSNR, float.NoisyPSNR, negative)
	}
}
