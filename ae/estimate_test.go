package ae

import (
	"math"
	"math/rand/v2"
	"testing"
)

// texThreshold must be what pure noise stays under 99 % of the time.
func TestTextureThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := Plane{W: estBlock, H: estBlock, Pix: make([]float32, estBlock*estBlock)}
	const n = 200000
	below := 0
	for range n {
		for i := range p.Pix {
			p.Pix[i] = 100 + float32(rng.NormFloat64())
		}
		if patchTexture(p, 0, 0) <= texThreshold {
			below++
		}
	}
	// The binomial standard error is 0.02 %.
	if f := float64(below) / n; math.Abs(f-0.99) > 0.002 {
		t.Fatalf("%.4f of noise patches under the threshold, want 0.99", f)
	}
}

// On a photograph the covariance of all patches reads low noise high; the
// weakly textured patches must bring it close.
func TestEstimateSigmaOnPhotograph(t *testing.T) {
	clean := cameraCrop(t, 0, 0, 512, 512)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sigma := range []float64{5, 10, 25} {
		noisy := noisyCopy(clean, sigma, rng)
		got := float64(EstimateSigma(noisy))
		var s estScratch
		estimateSigma(noisy, &s)
		const d = estBlock * estBlock
		n := len(s.pos)
		all := minEigenSigma(s.f[:n*d], s.f[n*d:n*d+d*d], n)
		t.Logf("sigma %v: estimated %.3f, all patches %.3f", sigma, got, all)
		if math.Abs(got-sigma) > 0.05*sigma {
			t.Errorf("sigma %v: estimated %.2f", sigma, got)
		}
		if sigma <= 10 && all-sigma < 2*math.Abs(got-sigma) {
			t.Errorf("sigma %v: all patches read %.2f, no worse than the selection's %.2f",
				sigma, all, got)
		}
	}
}

// Clipped areas are flat, so they look like the smoothest patches there
// are; they must not drag the estimate down.
func TestEstimateSigmaIgnoresClippedAreas(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := Plane{W: 200, H: 200, Pix: make([]float32, 200*200)}
	for i := range p.Pix {
		v := 128.0
		if i%200 < 100 {
			v = 250
		}
		p.Pix[i] = float32(to8(float32(v + rng.NormFloat64()*10)))
	}
	if got := EstimateSigma(p); math.Abs(float64(got)-10) > 0.5 {
		t.Fatalf("estimated %.2f with half the plane clipped, want 10", got)
	}
}
