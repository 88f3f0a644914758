package ae

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Corruption turns clean training patches into noisy ones, so that
// training can match the noise a deployment sees. The sampler hands it a
// square window of side w (the input patch, plus Margin pixels when the
// image is large enough), takes a random input patch out of the corrupted
// window and trains the net to predict noisy minus clean at its centre.
// A validation set is corrupted the same way, a whole plane at a time.
//
// Values are on the 0–255 scale. Implementations are used from one
// goroutine per training run; they keep scratch buffers and are not safe
// for concurrent use.
//
// ParseCorruption builds one from a spec such as
// "gaussian:5-50,jpeg:30-90,poisson:0.5-4:0-5".
type Corruption interface {
	// Margin is how many pixels wider than the patch the window should be:
	// JPEG uses it so that its 8×8 block grid falls anywhere in a patch.
	Margin() int
	// Corrupt writes a corrupted copy of clean (w×h, row-major) into noisy
	// and returns the noise deviation to tell a model that takes one.
	Corrupt(clean, noisy []float32, w, h int, rng *rand.Rand) float64
	// String is the spec the corruption was parsed from.
	String() string
}

// Gaussian adds white Gaussian noise with a deviation drawn uniformly from
// [SigmaMin, SigmaMax] per patch. Spec: "gaussian:MIN-MAX" or
// "gaussian:SIGMA".
type Gaussian struct{ SigmaMin, SigmaMax float64 }

func (g Gaussian) Margin() int { return 0 }

func (g Gaussian) Corrupt(clean, noisy []float32, _, _ int, rng *rand.Rand) float64 {
	sigma := g.SigmaMin + (g.SigmaMax-g.SigmaMin)*rng.Float64()
	for i, c := range clean {
		noisy[i] = c + float32(rng.NormFloat64()*sigma)
	}
	return sigma
}

func (g Gaussian) String() string { return "gaussian:" + rangeSpec(g.SigmaMin, g.SigmaMax) }

// PoissonGaussian is signal-dependent sensor noise: photon (shot) noise of
// gain a, y = a·Poisson(x/a), plus Gaussian read noise of deviation b; a is
// drawn per patch from [GainMin, GainMax] and b from [ReadMin, ReadMax].
// The noise variance at level x is a·x + b². It costs about 50 µs per
// 25×25 window (5 ms per batch of 256, a sixth of a default step). Spec:
// "poisson:GAINMIN-GAINMAX" or "poisson:GAINMIN-GAINMAX:READMIN-READMAX".
type PoissonGaussian struct{ GainMin, GainMax, ReadMin, ReadMax float64 }

func (p PoissonGaussian) Margin() int { return 0 }

func (p PoissonGaussian) Corrupt(clean, noisy []float32, _, _ int,
	rng *rand.Rand) float64 {
	a := p.GainMin + (p.GainMax-p.GainMin)*rng.Float64()
	b := p.ReadMin + (p.ReadMax-p.ReadMin)*rng.Float64()
	var mean float64
	for i, c := range clean {
		x := max(0, float64(c))
		mean += x
		noisy[i] = float32(a*poisson(x/a, rng) + b*rng.NormFloat64())
	}
	mean /= float64(len(clean))
	return math.Sqrt(a*mean + b*b)
}

func (p PoissonGaussian) String() string {
	s := "poisson:" + rangeSpec(p.GainMin, p.GainMax)
	if p.ReadMax > 0 {
		s += ":" + rangeSpec(p.ReadMin, p.ReadMax)
	}
	return s
}

// poisson draws from a Poisson distribution of mean lambda: by counting
// for small means, by a rounded normal approximation above 30.
func poisson(lambda float64, rng *rand.Rand) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// JPEG compresses the window with image/jpeg at a quality drawn per patch
// from [QualityMin, QualityMax] and decodes it: block and ringing
// artefacts, which no additive noise known in advance describes, so each
// patch is encoded and decoded as it is drawn. Measured on 2 shared cores
// (BenchmarkCorruption, BenchmarkSampler, BenchmarkTrainSteps): about
// 36 µs per 25×25 window, 12 ms per batch of 256 against 0.7 ms for
// Gaussian, which makes a training step of the default model about 40%
// slower. The returned deviation is the RMS of the artefacts. Spec:
// "jpeg:QMIN-QMAX" or "jpeg:Q".
type JPEG struct {
	QualityMin, QualityMax int

	img *image.Gray
	buf bytes.Buffer
}

func (j *JPEG) Margin() int { return 8 }

func (j *JPEG) Corrupt(clean, noisy []float32, w, h int, rng *rand.Rand) float64 {
	q := j.QualityMin + rng.IntN(j.QualityMax-j.QualityMin+1)
	if j.img == nil || j.img.Rect.Dx() != w || j.img.Rect.Dy() != h {
		j.img = image.NewGray(image.Rect(0, 0, w, h))
	}
	for i, c := range clean {
		j.img.Pix[i] = uint8(max(0, min(255, math.Round(float64(c)))))
	}
	j.buf.Reset()
	err := jpeg.Encode(&j.buf, j.img, &jpeg.Options{Quality: q})
	var dec image.Image
	if err == nil {
		dec, err = jpeg.Decode(&j.buf)
	}
	g, ok := dec.(*image.Gray)
	if err != nil || !ok {
		// Cannot happen with image/jpeg on a grey image; keep training sane.
		copy(noisy, clean)
		return 0
	}
	var ss float64
	for y := range h {
		for x := range w {
			v := float32(g.Pix[y*g.Stride+x])
			d := float64(v - clean[y*w+x])
			ss += d * d
			noisy[y*w+x] = v
		}
	}
	return math.Sqrt(ss / float64(w*h))
}

func (j *JPEG) String() string {
	return "jpeg:" + rangeSpec(float64(j.QualityMin), float64(j.QualityMax))
}

// Mixture draws one of its parts per patch, with probability proportional
// to its weight. Spec: parts separated by commas, each optionally
// followed by "*WEIGHT" (default 1): "gaussian:5-50*2,jpeg:30-90".
type Mixture struct {
	Parts   []Corruption
	Weights []float64
}

func (m *Mixture) Margin() int {
	n := 0
	for _, p := range m.Parts {
		n = max(n, p.Margin())
	}
	return n
}

func (m *Mixture) Corrupt(clean, noisy []float32, w, h int, rng *rand.Rand) float64 {
	var total float64
	for _, x := range m.Weights {
		total += x
	}
	u := rng.Float64() * total
	for i, x := range m.Weights {
		if u < x || i == len(m.Weights)-1 {
			return m.Parts[i].Corrupt(clean, noisy, w, h, rng)
		}
		u -= x
	}
	return 0
}

func (m *Mixture) String() string {
	var parts []string
	for i, p := range m.Parts {
		s := p.String()
		if m.Weights[i] != 1 {
			s += "*" + strconv.FormatFloat(m.Weights[i], 'g', -1, 64)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// ParseCorruption parses a corruption spec: one or more of
// "gaussian:MIN-MAX", "poisson:GAINMIN-GAINMAX[:READMIN-READMAX]" and
// "jpeg:QMIN-QMAX", separated by commas, each optionally weighted with
// "*WEIGHT". Sigmas and gains are on the 0–255 scale; qualities are 1–100.
// One part gives that corruption, several a Mixture.
func ParseCorruption(spec string) (Corruption, error) {
	var mix Mixture
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		weight := 1.0
		if body, ws, ok := strings.Cut(part, "*"); ok {
			w, err := strconv.ParseFloat(ws, 64)
			if err != nil || !(w > 0) || math.IsInf(w, 0) {
				return nil, fmt.Errorf("corruption %q: weight %q", part, ws)
			}
			part, weight = body, w
		}
		c, err := parsePart(part)
		if err != nil {
			return nil, fmt.Errorf("corruption %q: %w", part, err)
		}
		mix.Parts = append(mix.Parts, c)
		mix.Weights = append(mix.Weights, weight)
	}
	if len(mix.Parts) == 1 {
		return mix.Parts[0], nil
	}
	return &mix, nil
}

func parsePart(part string) (Corruption, error) {
	kind, args, _ := strings.Cut(part, ":")
	ranges := strings.Split(args, ":")
	lo, hi, err := parseRange(ranges[0])
	if err != nil {
		return nil, err
	}
	switch kind {
	case "gaussian":
		if len(ranges) != 1 || lo < 0 || hi > 255 {
			return nil, errors.New("want gaussian:MIN-MAX with 0 <= MIN <= MAX <= 255")
		}
		return Gaussian{lo, hi}, nil
	case "poisson":
		p := PoissonGaussian{GainMin: lo, GainMax: hi}
		if len(ranges) == 2 {
			if p.ReadMin, p.ReadMax, err = parseRange(ranges[1]); err != nil {
				return nil, err
			}
		}
		if len(ranges) > 2 || !(lo > 0) || hi > 255 || p.ReadMin < 0 || p.ReadMax > 255 {
			return nil, errors.New("want poisson:GAINMIN-GAINMAX[:READMIN-READMAX] with " +
				"0 < gains <= 255 and 0 <= read noise <= 255")
		}
		return p, nil
	case "jpeg":
		if len(ranges) != 1 || lo < 1 || hi > 100 || lo != math.Trunc(lo) ||
			hi != math.Trunc(hi) {
			return nil, errors.New("want jpeg:QMIN-QMAX with whole qualities 1 to 100")
		}
		return &JPEG{QualityMin: int(lo), QualityMax: int(hi)}, nil
	}
	return nil, fmt.Errorf("unknown kind %q: want gaussian, poisson or jpeg", kind)
}

// parseRange parses "LO-HI" or "V" (LO = HI = V).
func parseRange(s string) (lo, hi float64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = strconv.ParseFloat(a, 64); err != nil {
		return 0, 0, fmt.Errorf("range %q: want LO-HI", s)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.ParseFloat(b, 64); err != nil {
			return 0, 0, fmt.Errorf("range %q: want LO-HI", s)
		}
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || hi < lo || math.IsInf(hi, 0) {
		return 0, 0, fmt.Errorf("range %q: want LO <= HI", s)
	}
	return lo, hi, nil
}

func rangeSpec(lo, hi float64) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	if lo == hi {
		return f(lo)
	}
	return f(lo) + "-" + f(hi)
}
