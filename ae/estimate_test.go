package ae

import (
	"math"
	"math/rand/v2"
	"slices"
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
		if patchTexture(p, nil, 0, 0) <= texThreshold {
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
		estimateSigma(noisy, []Plane{noisy}, &s)
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

// In colour, a pixel clipped in one channel is rarely exactly 0 or 255 in
// any opponent plane: the clipped patches must be found on R, G and B.
// Patches near the clipping that escaped it carry less noise, so clipped
// images still read low.
func TestEstimateSigmaColourClipped(t *testing.T) {
	rgb := examplePlanes(t, "astronaut.png")
	rng := rand.New(rand.NewPCG(9, 10))
	const sigma = 40
	for c := range rgb {
		for i, v := range rgb[c].Pix {
			rgb[c].Pix[i] = float32(to8(v + float32(rng.NormFloat64()*sigma)))
		}
	}
	opp := OpponentPlanes(rgb[0], rgb[1], rgb[2])
	var s estScratch
	var own, got [3]float32
	for c := range opp {
		own[c] = estimateSigma(opp[c], opp[c:c+1], &s) / opponentNoise[c]
		got[c] = estimateSigma(opp[c], rgb, &s) / opponentNoise[c]
	}
	t.Logf("with R, G and B's clipping %.2f, with each plane's own %.2f", got, own)
	slices.Sort(got[:])
	slices.Sort(own[:])
	if got[1] < own[1] || math.Abs(float64(got[1])-sigma) > 0.15*sigma {
		t.Errorf("median estimate %.2f (%.2f from each plane's own clipping), want %d",
			got[1], own[1], sigma)
	}
}

// Noise-free areas (a letterbox bar, a smooth synthetic canvas) are flatter
// than any noisy patch; they must not pull the estimate to zero.
func TestEstimateSigmaBesideNoiseFreeAreas(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	photo := noisyCopy(cameraCrop(t, 150, 100, 256, 256), 25, rng)
	bars, canvas := photo, Plane{W: 256, H: 256, Pix: append([]float32(nil), photo.Pix...)}
	bars.Pix = append([]float32(nil), photo.Pix...)
	for y := range 256 {
		for x := range 256 {
			if y < 64 || y >= 192 { // half the rows
				bars.Pix[y*256+x] = 16
			}
			if x < 160 { // 62 % of the plane
				canvas.Pix[y*256+x] = 40 + 0.3*float32(x+y)
			}
		}
	}
	for name, p := range map[string]Plane{"bars": bars, "canvas": canvas} {
		if got := EstimateSigma(p); math.Abs(float64(got)-25) > 0.08*25 {
			t.Errorf("%s: estimated %.2f, want 25", name, got)
		}
	}
	// At sigma 50 in 8 bits most photo patches are clipped, so those on the
	// bars' edges (half noise-free) were once most of what was left.
	clean := cameraCrop(t, 150, 100, 256, 256)
	for seed := range uint64(8) {
		noisy := noisyCopy(clean, 50, rand.New(rand.NewPCG(seed, 13)))
		for i, v := range noisy.Pix {
			noisy.Pix[i] = float32(to8(v))
			if y := i / 256; y < 32 || y >= 224 {
				noisy.Pix[i] = 16
			}
		}
		if got := EstimateSigma(noisy); got < 40 || got > 52 {
			t.Errorf("bars at sigma 50, seed %d: estimated %.2f, want 40 to 52", seed, got)
		}
	}
}

// An estimate is limited to the sigmas the model was trained on; a told
// sigma is not.
func TestEstimateLimitedToTrainedRange(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4},
		SigmaInput: true})
	m.Header.TrainNoise = Noise{Kind: "gaussian", SigmaMin: 2, SigmaMax: 55}
	for in, want := range map[float32]float32{0.3: 2, 20: 20, 130: 55} {
		if got := m.trainedRange(in); got != want {
			t.Errorf("estimate %v: limited to %v, want %v", in, got, want)
		}
	}
	m.Header.TrainNoise = Noise{Kind: "jpeg:30-90"}
	if got := m.trainedRange(130); got != 130 {
		t.Errorf("a model without a sigma range limited 130 to %v", got)
	}
}
