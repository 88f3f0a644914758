package ae

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

func TestParseCorruption(t *testing.T) {
	tests := []struct {
		spec, want string // want "" means refused
	}{
		{"gaussian:5-50", "gaussian:5-50"},
		{"gaussian:25", "gaussian:25"},
		{"poisson:0.5-4", "poisson:0.5-4"},
		{"poisson:0.5-4:0-5", "poisson:0.5-4:0-5"},
		{"jpeg:30-90", "jpeg:30-90"},
		{"gaussian:5-50*2, jpeg:30-90,poisson:1-2:3",
			"gaussian:5-50*2,jpeg:30-90,poisson:1-2:3"},
		{"gaussian:50-5", ""},
		{"gaussian:-1-5", ""},
		{"gaussian:5-300", ""},
		{"jpeg:0-90", ""},
		{"jpeg:30.5-90", ""},
		{"jpeg:30-101", ""},
		{"poisson:0-4", ""},
		{"poisson:1-2:3-4:5", ""},
		{"speckle:1-2", ""},
		{"gaussian:5-50*0", ""},
		{"gaussian:5-50*x", ""},
		{"", ""},
		{"gaussian", ""},
	}
	for _, tt := range tests {
		c, err := ParseCorruption(tt.spec)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseCorruption(%q) = %v, want an error", tt.spec, c)
		case tt.want != "" && err != nil:
			t.Errorf("ParseCorruption(%q): %v", tt.spec, err)
		case tt.want != "" && c.String() != tt.want:
			t.Errorf("ParseCorruption(%q).String() = %q, want %q", tt.spec, c.String(), tt.want)
		}
	}
}

// TestCorruptionStatistics checks each corruption against what it should
// do to a flat grey window, within a tolerance.
func TestCorruptionStatistics(t *testing.T) {
	const w, level = 25, 100.0
	clean := make([]float32, w*w)
	for i := range clean {
		clean[i] = level
	}
	noisy := make([]float32, w*w)
	rng := rand.New(rand.NewPCG(1, 2))
	stats := func(c Corruption) (mean, sd, told float64) {
		var s, ss float64
		n := 0
		for range 200 {
			told += c.Corrupt(clean, noisy, w, w, rng)
			for _, v := range noisy {
				d := float64(v) - level
				s += d
				ss += d * d
				n++
			}
		}
		mean = s / float64(n)
		return mean, math.Sqrt(ss/float64(n) - mean*mean), told / 200
	}
	tests := []struct {
		c      Corruption
		wantSD float64
		tol    float64
	}{
		{Gaussian{20, 20}, 20, 0.5},
		{PoissonGaussian{2, 2, 3, 3}, math.Sqrt(2*level + 9), 0.5},
		{PoissonGaussian{0.5, 0.5, 0, 0}, math.Sqrt(0.5 * level), 0.3},
	}
	for _, tt := range tests {
		mean, sd, told := stats(tt.c)
		if math.Abs(mean) > 0.5 || math.Abs(sd-tt.wantSD) > tt.tol ||
			math.Abs(told-tt.wantSD) > tt.tol {
			t.Errorf("%s: noise mean %.2f sd %.2f, told %.2f; want 0 and %.2f", tt.c, mean,
				sd, told, tt.wantSD)
		}
	}

	// JPEG: a ramp with an edge; lower quality, larger artefacts.
	for i := range clean {
		x, y := i%w, i/w
		clean[i] = float32(40 + 6*x + 3*y)
		if x > 12 {
			clean[i] += 60
		}
	}
	rms := func(q int) float64 {
		return (&JPEG{QualityMin: q, QualityMax: q}).Corrupt(clean, noisy, w, w, rng)
	}
	hi, lo := rms(95), rms(10)
	if !(hi > 0 && hi < lo && lo > 2) {
		t.Errorf("jpeg artefact RMS %.2f at quality 95 and %.2f at 10: want 0 < q95 < q10", hi,
			lo)
	}
}

// TestTrainWithCorruption trains a tiny model a few steps on a mixture and
// checks that it runs, stays finite and records the corruption.
func TestTrainWithCorruption(t *testing.T) {
	m, err := NewModel("t", Arch{PatchIn: 7, PatchOut: 3, Stride: 1, Hidden: []int{16},
		SigmaInput: true}, 51)
	if err != nil {
		t.Fatal(err)
	}
	m.Net.InitHe(rand.New(rand.NewPCG(3, 3)), 0.1)
	plane := Plane{W: 30, H: 30, Pix: make([]float32, 900)}
	for i := range plane.Pix {
		plane.Pix[i] = float32(128 + 80*math.Sin(float64(i%30)/4))
	}
	small := Plane{W: 8, H: 8, Pix: make([]float32, 64)} // narrower than patch+margin
	c, err := ParseCorruption("gaussian:5-30,poisson:1-3:0-4,jpeg:20-80")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Train(context.Background(), m, []Plane{plane, small},
		TrainConfig{Steps: 30, Batch: 32, Corruption: c})
	if err != nil {
		t.Fatal(err)
	}
	if out.Header.TrainNoise.Kind != c.String() || !finite(out.Net.Params) ||
		out.Header.TrainNoise.SigmaMax != 0 {
		t.Errorf("trained model noise %+v, want kind %q, no sigma range and finite weights",
			out.Header.TrainNoise, c.String())
	}

	// A mixture of Gaussians records the range it spans, so that retraining
	// without a corruption keeps to it.
	g, err := ParseCorruption("gaussian:2-55,gaussian:2-10*0.5")
	if err != nil {
		t.Fatal(err)
	}
	out, err = Train(context.Background(), m, []Plane{plane}, TrainConfig{Steps: 5, Batch: 8,
		Corruption: g})
	if err != nil {
		t.Fatal(err)
	}
	want := Noise{Kind: "gaussian:2-55,gaussian:2-10*0.5", SigmaMin: 2, SigmaMax: 55}
	if out.Header.TrainNoise != want {
		t.Errorf("trained model noise %+v, want %+v", out.Header.TrainNoise, want)
	}
}

// BenchmarkCorruption measures one 25×25 window (a 17×17 patch plus the
// JPEG margin) per operation.
func BenchmarkCorruption(b *testing.B) {
	const w = 25
	clean, noisy := make([]float32, w*w), make([]float32, w*w)
	for i := range clean {
		clean[i] = float32(i % 251)
	}
	for _, spec := range []string{"gaussian:5-50", "poisson:0.5-4:0-5", "jpeg:30-90"} {
		c, err := ParseCorruption(spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			for b.Loop() {
				c.Corrupt(clean, noisy, w, w, rng)
			}
		})
	}
}

// BenchmarkSampler measures a batch of 256 training patches for the
// default architecture, by corruption; compare with a training step.
func BenchmarkSampler(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	plane := Plane{W: 128, H: 128, Pix: make([]float32, 128*128)}
	for i := range plane.Pix {
		plane.Pix[i] = float32(i % 241)
	}
	nin, no := m.Header.Arch.Inputs(), m.Header.Arch.Outputs()
	x, target := make([]float32, 256*nin), make([]float32, 256*no)
	for _, spec := range []string{"", "gaussian:5-50", "poisson:0.5-4:0-5", "jpeg:30-90"} {
		cfg := TrainConfig{Steps: 1, SigmaMin: 5, SigmaMax: 50}
		if spec != "" {
			if cfg.Corruption, err = ParseCorruption(spec); err != nil {
				b.Fatal(err)
			}
		}
		name := spec
		if name == "" {
			name = "default"
		}
		b.Run(name, func(b *testing.B) {
			s := newSampler(m, []Plane{plane}, cfg)
			for b.Loop() {
				s.fill(x, target)
			}
		})
	}
}

// BenchmarkTrainSteps is ten Adam steps of 256 patches on the default
// architecture by corruption, to set the sampler's cost against.
func BenchmarkTrainSteps(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	plane := Plane{W: 128, H: 128, Pix: make([]float32, 128*128)}
	for i := range plane.Pix {
		plane.Pix[i] = float32(i % 241)
	}
	for _, spec := range []string{"gaussian:5-50", "jpeg:30-90"} {
		c, err := ParseCorruption(spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec, func(b *testing.B) {
			for b.Loop() {
				if _, err := Train(context.Background(), m, []Plane{plane},
					TrainConfig{Steps: 10, Batch: 256, Corruption: c}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
