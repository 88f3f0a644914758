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
