package ae

import (
	"context"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
)

func TestBlockTransformsInvert(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := Plane{W: 11, H: 9, Pix: make([]float32, 99)}
	for i := range p.Pix {
		p.Pix[i] = float32(rng.IntN(256))
	}
	var sum, energy float64
	for r := range 8 {
		for x := range 8 {
			v := float64(p.Pix[(1+r)*11+2+x])
			sum += v
			energy += v * v
		}
	}
	for name, tr := range map[string]*blockTransform{"dct": &dctBlock, "bior1.5": &biorBlock} {
		var c, back [64]float32
		tr.forward(c[:], p, 2, 1)
		// Both have a unit-norm constant first row: DC is 8 times the mean.
		if math.Abs(float64(c[0])-sum/8) > 1e-2 {
			t.Errorf("%s: DC %v, want %v", name, c[0], sum/8)
		}
		var e float64
		for _, v := range c {
			e += float64(v) * float64(v)
		}
		// The DCT keeps energy; the wavelet, not orthogonal, only nearly.
		if tol := map[string]float64{"dct": 1e-5, "bior1.5": 0.2}[name]; math.Abs(e-energy)/energy > tol {
			t.Errorf("%s: energy %v, want %v within %v", name, e, energy, tol)
		}
		tr.inverse(back[:], c[:])
		for r := range 8 {
			for x := range 8 {
				if d := back[r*8+x] - p.Pix[(1+r)*11+2+x]; math.Abs(float64(d)) > 1e-3 {
					t.Fatalf("%s (%d,%d): %v after the round trip, want %v", name, x, r,
						back[r*8+x], p.Pix[(1+r)*11+2+x])
				}
			}
		}
	}
}

func TestBiorBlockIsTheWavelet(t *testing.T) {
	// Every row has unit norm, so white noise keeps its deviation in every
	// coefficient; the finest details are Haar differences of neighbours;
	// and a step edge between columns 3 and 4 excites only the DC and the
	// coarsest detail, where the DCT spreads it over four frequencies.
	m := &biorBlock.fwd
	for u := range 8 {
		var n float64
		for x := range 8 {
			n += float64(m[u*8+x]) * float64(m[u*8+x])
		}
		if math.Abs(n-1) > 1e-6 {
			t.Errorf("row %d: squared norm %v, want 1", u, n)
		}
	}
	for u := 4; u < 8; u++ {
		for x := range 8 {
			want := 0.0
			if x/2 == u-4 {
				want = 1 / math.Sqrt2
			}
			if math.Abs(math.Abs(float64(m[u*8+x]))-want) > 1e-6 {
				t.Fatalf("row %d: %v, want ±Haar of the pair %d", u, m[u*8:u*8+8], u-4)
			}
		}
	}
	p := Plane{W: 8, H: 8, Pix: make([]float32, 64)}
	for i := range p.Pix {
		if i%8 >= 4 {
			p.Pix[i] = 100
		}
	}
	count := func(tr *blockTransform) int {
		var c [64]float32
		tr.forward(c[:], p, 0, 0)
		n := 0
		for _, v := range c {
			if math.Abs(float64(v)) > 1e-3 {
				n++
			}
		}
		return n
	}
	if w, d := count(&biorBlock), count(&dctBlock); w != 2 || d != 5 {
		t.Fatalf("non-zero coefficients of a step: wavelet %d (want 2), DCT %d (want 5)", w, d)
	}
}

func TestFirstStepFollowsTheImageNoise(t *testing.T) {
	c := opponentNoise
	for _, tc := range []struct {
		sigmas []float32
		high   bool
	}{
		{[]float32{30}, false},
		{[]float32{45}, true},
		// Colour at sigma 50: the luminance's 28.9 must not pick the low profile.
		{[]float32{50 * c[0], 50 * c[1], 50 * c[2]}, true},
		{[]float32{35 * c[0], 35 * c[1], 35 * c[2]}, false},
	} {
		p := firstStep(tc.sigmas)
		if high := p.Hard == 2.8 && p.Group == 32; high != tc.high || p.Hard == 0 {
			t.Errorf("sigmas %v: %+v, want the high-noise profile %v", tc.sigmas, p, tc.high)
		}
	}
}

func TestHaarInverts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range []int{1, 2, 4, 8, 32} {
		v := make([]float32, g*64)
		tmp := make([]float32, g*64)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		orig := append([]float32(nil), v...)
		haar(v, tmp, g)
		// The first block becomes the scaled sum of all blocks; energy is kept.
		var s, e0, e1 float64
		for i := range g {
			s += float64(orig[i*64])
		}
		for i := range v {
			e0 += float64(orig[i]) * float64(orig[i])
			e1 += float64(v[i]) * float64(v[i])
		}
		if d := float64(v[0]) - s/math.Sqrt(float64(g)); math.Abs(d) > 1e-4 {
			t.Fatalf("g=%d: first coefficient off by %v", g, d)
		}
		if math.Abs(e0-e1)/e0 > 1e-5 {
			t.Fatalf("g=%d: energy %v, want %v", g, e1, e0)
		}
		if g == 4 {
			// The last coefficient is the difference of the last two blocks.
			if d := float64(v[3*64]) - float64(orig[2*64]-orig[3*64])/math.Sqrt2; math.Abs(d) > 1e-5 {
				t.Fatalf("g=4: finest detail off by %v", d)
			}
		}
		inverseHaar(v, tmp, g)
		for i := range v {
			if math.Abs(float64(v[i]-orig[i])) > 1e-4 {
				t.Fatalf("g=%d: %v after the round trip, want %v", g, v[i], orig[i])
			}
		}
	}
}

func TestInsertMatchKeepsTheNearest(t *testing.T) {
	var ms []match
	for i, d := range []float32{5, 1, 9, 3, 7, 0, 8} {
		ms = insertMatch(ms, match{d: d, x: int32(i)}, 4)
	}
	want := []float32{0, 1, 3, 5}
	for i, m := range ms {
		if m.d != want[i] {
			t.Fatalf("matches %v, want distances %v", ms, want)
		}
	}
}

// examplePlanes loads a shipped example photograph (examples/images) as
// planes.
func examplePlanes(t *testing.T, name string) []Plane {
	t.Helper()
	f, err := os.Open("../examples/images/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return ImagePlanes(img)
}

// cameraCrop loads a grey crop of the shipped example photograph.
func cameraCrop(t *testing.T, x0, y0, w, h int) Plane {
	t.Helper()
	full := examplePlanes(t, "camera.png")[0]
	p := Plane{W: w, H: h, Pix: make([]float32, w*h)}
	for y := range h {
		copy(p.Pix[y*w:(y+1)*w], full.Pix[(y0+y)*full.W+x0:])
	}
	return p
}

func noisyCopy(p Plane, sigma float64, rng *rand.Rand) Plane {
	n := Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	for i, v := range p.Pix {
		n.Pix[i] = v + float32(rng.NormFloat64()*sigma)
	}
	return n
}

// With the clean image as the pilot, the Wiener step is an oracle filter: it
// must remove most of the noise. With the shipped network's estimate as the
// pilot it must improve on that estimate, which is the point of it.
func TestRefineImprovesOnThePilot(t *testing.T) {
	clean := cameraCrop(t, 100, 60, 203, 157) // odd sizes: edge references
	noisy := noisyCopy(clean, 25, rand.New(rand.NewPCG(5, 6)))
	out := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	RefinePlanes([]Plane{out}, []Plane{noisy}, []Plane{clean}, []float32{25}, RefineParams{})
	if got, noisyDB := planePSNR(out, clean), planePSNR(noisy, clean); got < noisyDB+13 {
		t.Fatalf("oracle pilot: %.2f dB from %.2f noisy, want 13 dB better", got, noisyDB)
	}

	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	pilot := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	if err := m.DenoisePlane(pilot, noisy, 25, 0); err != nil {
		t.Fatal(err)
	}
	RefinePlanes([]Plane{out}, []Plane{noisy}, []Plane{pilot}, []float32{25}, RefineParams{})
	p0, p1 := planePSNR(pilot, clean), planePSNR(out, clean)
	t.Logf("network %.2f dB, refined %.2f dB", p0, p1)
	if p1 < p0+0.05 {
		t.Fatalf("refined %.2f dB, network alone %.2f: want at least 0.05 dB better", p1, p0)
	}
}

// BM3D from its parts: the hard-thresholding step and the Wiener step on its
// result must each clean the noisy crop further.
func TestBM3DSteps(t *testing.T) {
	clean := cameraCrop(t, 100, 40, 200, 160)
	noisy := noisyCopy(clean, 25, rand.New(rand.NewPCG(15, 16)))
	basic := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	final := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	RefinePlanes([]Plane{basic}, []Plane{noisy}, []Plane{noisy}, []float32{25},
		RefineParams{Hard: 2.7, MaxDist: 2500, Group: 16})
	RefinePlanes([]Plane{final}, []Plane{noisy}, []Plane{basic}, []float32{25}, RefineParams{})
	n, b, f := planePSNR(noisy, clean), planePSNR(basic, clean), planePSNR(final, clean)
	t.Logf("noisy %.2f dB, hard thresholding %.2f, Wiener %.2f", n, b, f)
	if b < n+7 || f < b+0.3 {
		t.Fatalf("noisy %.2f dB, hard thresholding %.2f, Wiener %.2f: want +7 then +0.3",
			n, b, f)
	}
}

func TestRefineSmallAndFlatPlanes(t *testing.T) {
	small := Plane{W: 7, H: 30, Pix: make([]float32, 210)}
	for i := range small.Pix {
		small.Pix[i] = float32(i)
	}
	out := Plane{W: 7, H: 30, Pix: make([]float32, 210)}
	RefinePlanes([]Plane{out}, []Plane{small}, []Plane{small}, []float32{10}, RefineParams{})
	for i, v := range out.Pix {
		if v != small.Pix[i] {
			t.Fatalf("a plane narrower than a block: pixel %d is %v, want the pilot's %v",
				i, v, small.Pix[i])
		}
	}
	// A pilot with a non-finite pixel (a broken pilot net) matches nothing,
	// not even itself: that must not panic in a worker goroutine.
	bad := Plane{W: 40, H: 33, Pix: make([]float32, 40*33)}
	bad.Pix[500] = float32(math.Inf(1))
	out = Plane{W: 40, H: 33, Pix: make([]float32, len(bad.Pix))}
	RefinePlanes([]Plane{out}, []Plane{bad}, []Plane{bad}, []float32{10}, RefineParams{})
	flat := Plane{W: 40, H: 33, Pix: make([]float32, 40*33)}
	for i := range flat.Pix {
		flat.Pix[i] = 77
	}
	out = Plane{W: 40, H: 33, Pix: make([]float32, len(flat.Pix))}
	RefinePlanes([]Plane{out}, []Plane{flat}, []Plane{flat}, []float32{0.5}, RefineParams{})
	for i, v := range out.Pix {
		if math.Abs(float64(v-77)) > 1e-3 || math.IsNaN(float64(v)) {
			t.Fatalf("flat plane: pixel %d is %v, want 77", i, v)
		}
	}
}

func guidedTestModel(t *testing.T) *Model {
	t.Helper()
	pilot := testModel(t, Arch{PatchIn: 9, PatchOut: 5, Stride: 2, Hidden: []int{16},
		SigmaInput: true})
	pilot.Net.InitHe(rand.New(rand.NewPCG(7, 8)), 0.1)
	m, err := NewGuided("q", pilot)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Version = "q-1"
	return m
}

// A new guided model has a zero last layer, so it gives back the mean of
// its guides: the pilot's estimate and BM3D's first-step estimate, each
// refined by collaborative Wiener filtering. The file keeps the pilot and
// refuses to lose it.
func TestGuidedModelStartsAsItsGuides(t *testing.T) {
	m := guidedTestModel(t)
	if m.Net.In() != m.Pilot.Net.In()+2*81 {
		t.Fatalf("guided inputs %d, pilot %d: want 162 more", m.Net.In(), m.Pilot.Net.In())
	}
	src := noisyCopy(cameraCrop(t, 50, 70, 31, 23), 20, rand.New(rand.NewPCG(9, 9)))
	var ps [6]Plane // pilot, basic, guide 1, guide 2, result, mean of guides
	for i := range ps {
		ps[i] = Plane{W: 31, H: 23, Pix: make([]float32, len(src.Pix))}
	}
	if err := m.Pilot.DenoisePlane(ps[0], src, 20, 0); err != nil {
		t.Fatal(err)
	}
	MakeGuides(ps[2:3], ps[3:4], ps[1:2], []Plane{src}, ps[:1], []float32{20})
	if err := m.DenoisePlane(ps[4], src, 20, 1); err != nil {
		t.Fatal(err)
	}
	for i := range ps[4].Pix {
		want := 0.5 * (ps[2].Pix[i] + ps[3].Pix[i])
		if math.Abs(float64(ps[4].Pix[i]-want)) > 1e-3 {
			t.Fatalf("pixel %d: guided %v, mean of the guides %v", i, ps[4].Pix[i], want)
		}
	}
	var differ1, differ2 bool
	for i, v := range ps[0].Pix {
		differ1 = differ1 || math.Abs(float64(ps[2].Pix[i]-v)) > 0.5
		differ2 = differ2 || math.Abs(float64(ps[3].Pix[i]-ps[2].Pix[i])) > 0.5
	}
	if !differ1 || !differ2 {
		t.Fatalf("guide 1 differs from the pilot: %v; guide 2 from guide 1: %v", differ1,
			differ2)
	}

	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Pilot == nil || back.Pilot.Version() != "test-1" || !back.Header.Arch.Guided ||
		len(back.Pilot.Net.Params) != len(m.Pilot.Net.Params) {
		t.Fatalf("decoded guided model: %+v, pilot %v", back.Header, back.Pilot)
	}
	for i, v := range m.Pilot.Net.Params {
		if back.Pilot.Net.Params[i] != v {
			t.Fatalf("pilot param %d changed", i)
		}
	}
	for i, v := range m.Net.Params {
		if back.Net.Params[i] != v {
			t.Fatalf("param %d changed", i)
		}
	}

	lost := m.Clone()
	lost.Pilot = nil
	if _, err := lost.MarshalBinary(); err == nil {
		t.Fatal("a guided model without a pilot was encoded")
	}
	if _, err := NewGuided("again", m); err == nil {
		t.Fatal("a guided model became a pilot")
	}
}

// Training a guided model on its samples must lower the noise error, and the
// guided trainer must refuse what does not fit.
func TestGuidedTraining(t *testing.T) {
	m := guidedTestModel(t)
	clean := []Plane{cameraCrop(t, 0, 0, 64, 64), cameraCrop(t, 200, 200, 64, 64)}
	ctx := context.Background()
	samples, err := m.GuidedSamples(ctx, clean, 2, 20, 30, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 4 || samples[0].Sigma < 20 || samples[0].Sigma > 30 {
		t.Fatalf("%d samples, first sigma %v", len(samples), samples[0].Sigma)
	}
	again, _ := m.GuidedSamples(ctx, clean, 2, 20, 30, 1)
	if again[3].Noisy.Pix[100] != samples[3].Noisy.Pix[100] {
		t.Fatal("guided samples differ between runs with one seed")
	}
	var first, last Progress
	got, err := Train(ctx, m, nil, TrainConfig{Steps: 300, Batch: 64, LR: 1e-3,
		Guided: samples, LogEvery: 50, Progress: func(p Progress) {
			if p.Step == 50 {
				first = p
			}
			last = p
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !(last.MSE < first.MSE) || got.Pilot == nil {
		t.Fatalf("noise MSE %.1f at step 50, %.1f at 300: want lower", first.MSE, last.MSE)
	}
	if _, err := Train(ctx, m, clean, TrainConfig{Steps: 1}); err == nil {
		t.Fatal("a guided model trained without guided samples")
	}
	if _, err := Train(ctx, m.Pilot, clean, TrainConfig{Steps: 1, Guided: samples}); err == nil {
		t.Fatal("a plain model trained on guided samples")
	}
	if _, err := m.Pilot.GuidedSamples(ctx, clean, 1, 20, 30, 1); err == nil {
		t.Fatal("guided samples from a plain model")
	}
	bad := append([]GuidedSample(nil), samples...)
	bad[0].Guides[1] = Plane{W: 3, H: 3, Pix: make([]float32, 9)}
	if _, err := Train(ctx, m, nil, TrainConfig{Steps: 1, Guided: bad}); err == nil {
		t.Fatal("a mismatched guided sample was accepted")
	}
}

func TestMinEigenvalue(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n = 12
	// A = Qᵀ diag(ev) Q for a random orthogonal Q (Gram–Schmidt).
	var q [n][n]float64
	for i := range n {
		for j := range n {
			q[i][j] = rng.NormFloat64()
		}
		for k := range i {
			var dot float64
			for j := range n {
				dot += q[i][j] * q[k][j]
			}
			for j := range n {
				q[i][j] -= dot * q[k][j]
			}
		}
		var norm float64
		for j := range n {
			norm += q[i][j] * q[i][j]
		}
		for j := range n {
			q[i][j] /= math.Sqrt(norm)
		}
	}
	ev := []float64{9, 4, 3.5, 3.2, 3.1, 3.05, 3.01, 7, 100, 50, 2.99, 20}
	a := make([]float64, n*n)
	for i := range n {
		for j := range n {
			for k := range n {
				a[i*n+j] += q[k][i] * ev[k] * q[k][j]
			}
		}
	}
	if got := minEigenvalue(a, n); math.Abs(got-2.99) > 1e-9 {
		t.Fatalf("smallest eigenvalue %v, want 2.99", got)
	}
}

// Guided denoising must cope with every plane size, grey and colour: planes
// under a block, exactly a block, thin strips, odd sizes across tiles.
func TestGuidedOddSizes(t *testing.T) {
	m := guidedTestModel(t)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, sz := range [][2]int{{1, 1}, {7, 7}, {8, 8}, {9, 200}, {200, 9}, {8, 97},
		{3, 100}, {97, 101}, {130, 131}} {
		for _, planes := range []int{1, 3} {
			src := make([]Plane, planes)
			dst := make([]Plane, planes)
			for c := range planes {
				src[c] = Plane{W: sz[0], H: sz[1], Pix: make([]float32, sz[0]*sz[1])}
				dst[c] = Plane{W: sz[0], H: sz[1], Pix: make([]float32, sz[0]*sz[1])}
				for i := range src[c].Pix {
					src[c].Pix[i] = float32(rng.IntN(256))
					if sz[0] == 130 {
						src[c].Pix[i] = 100 // flat: all-zero transforms
					}
				}
			}
			for _, sigma := range []float32{-1, 0, 30, 60} {
				if err := m.DenoisePlanes(dst, src, sigma, 0); err != nil {
					t.Fatalf("%v, %d planes, sigma %v: %v", sz, planes, sigma, err)
				}
				for c := range dst {
					for i, v := range dst[c].Pix {
						if math.IsNaN(float64(v)) || v < -200 || v > 455 {
							t.Fatalf("%v, %d planes, sigma %v: plane %d pixel %d is %v", sz,
								planes, sigma, c, i, v)
						}
					}
				}
			}
		}
	}
}

// Replays must reproduce production: the refinement, like the GEMM, gives
// the same bits whatever the number of threads.
func TestRefineIsDeterministic(t *testing.T) {
	clean := cameraCrop(t, 20, 30, 300, 260) // several tiles
	noisy := noisyCopy(clean, 25, rand.New(rand.NewPCG(41, 42)))
	var first []float32
	for _, procs := range []int{1, 2, 3, 4} {
		old := runtime.GOMAXPROCS(procs)
		out := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
		RefinePlanes([]Plane{out}, []Plane{noisy}, []Plane{noisy}, []float32{25},
			RefineParams{Hard: 2.7, MaxDist: 2500, Group: 16})
		runtime.GOMAXPROCS(old)
		if first == nil {
			first = out.Pix
			continue
		}
		for i, v := range out.Pix {
			if v != first[i] {
				t.Fatalf("%d threads: pixel %d is %v, with one thread %v", procs, i, v,
					first[i])
			}
		}
	}
}

// On planes with fewer block positions than 14×14 has (49), narrower than a
// block among them, a guided model gives its pilot's result; from 14×14 on,
// its own.
func TestGuidedTinyPlanesUsePilot(t *testing.T) {
	m := guidedTestModel(t)
	rng := rand.New(rand.NewPCG(33, 34))
	for _, sz := range [][2]int{{17, 5}, {7, 40}, {3, 3}, {13, 13}, {9, 30}, {14, 14}} {
		src := Plane{W: sz[0], H: sz[1], Pix: make([]float32, sz[0]*sz[1])}
		for i := range src.Pix {
			src.Pix[i] = float32(rng.IntN(256))
		}
		got := Plane{W: sz[0], H: sz[1], Pix: make([]float32, len(src.Pix))}
		want := Plane{W: sz[0], H: sz[1], Pix: make([]float32, len(src.Pix))}
		if err := m.DenoisePlane(got, src, 25, 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Pilot.DenoisePlane(want, src, 25, 0); err != nil {
			t.Fatal(err)
		}
		same := slices.Equal(got.Pix, want.Pix)
		if pilot := sz != [2]int{14, 14}; same != pilot {
			t.Fatalf("%v: output equal to the pilot's %v, want %v", sz, same, pilot)
		}
	}
}

// matchBlockByBlock is the plain way of refineScratch.match, which it
// replaced, kept as its reference: for one reference block, every position
// of the search window inside the tile's extended area, in raster order, its
// distance summed block row by block row until it passes the limit.
func matchBlockByBlock(s *refineScratch, p Plane, prm RefineParams, rx, ry int) []match {
	const k = refineBlock
	limit := prm.MaxDist * k * k
	var ms []match
	for y := max(s.ey0, ry-prm.Search); y < min(s.ey1, ry+prm.Search+1); y++ {
		for x := max(s.ex0, rx-prm.Search); x < min(s.ex1, rx+prm.Search+1); x++ {
			var d float32
			for r := range k {
				a := p.Pix[(ry+r)*p.W+rx : (ry+r)*p.W+rx+k]
				b := p.Pix[(y+r)*p.W+x : (y+r)*p.W+x+k]
				e0, e1, e2, e3 := a[0]-b[0], a[1]-b[1], a[2]-b[2], a[3]-b[3]
				e4, e5, e6, e7 := a[4]-b[4], a[5]-b[5], a[6]-b[6], a[7]-b[7]
				d += e0*e0 + e1*e1 + e2*e2 + e3*e3 + e4*e4 + e5*e5 + e6*e6 + e7*e7
				if d > limit {
					break // as the plain way did: no later row brings it back
				}
			}
			if d <= limit {
				ms = insertMatch(ms, match{d, int32(x), int32(y)}, prm.Group)
			}
		}
	}
	return ms
}

// matchPlane is a test plane: the camera crop with noise, a flat square
// (whose blocks tie at distance 0) and, optionally, a NaN pixel.
func matchPlane(t *testing.T, w, h int, nan bool) Plane {
	p := noisyCopy(cameraCrop(t, 100, 60, w, h), 20, rand.New(rand.NewPCG(4, 5)))
	for y := 5; y < min(h, 40); y++ {
		for x := 10; x < min(w, 45); x++ {
			p.Pix[y*w+x] = 128
		}
	}
	if nan {
		p.Pix[(h/2)*w+w/3] = float32(math.NaN())
	}
	return p
}

// Matching by shift finds the very matches, ties and their order included,
// that comparing block by block finds: on tiles inside and at the edges,
// for the first step's and the second's settings, and around a NaN pilot.
func TestMatchByShiftIsBlockByBlock(t *testing.T) {
	for _, tt := range []struct {
		w, h int
		nan  bool
		prm  RefineParams
	}{
		{150, 121, false, RefineParams{}},
		{150, 121, false, RefineParams{Hard: 2.7, MaxDist: 2500, Group: 16}},
		{37, 29, true, RefineParams{Search: 5, Step: 2, MaxDist: 900, Group: 8}},
		{9, 140, false, RefineParams{Step: 1, Group: 4}},
	} {
		p := matchPlane(t, tt.w, tt.h, tt.nan)
		prm := tt.prm.withDefaults()
		var s refineScratch
		tiles, refs := 0, 0
		for y0 := 0; y0 <= p.H-refineBlock; y0 += refineTile {
			for x0 := 0; x0 <= p.W-refineBlock; x0 += refineTile {
				s.place(p.W, p.H, prm, x0, y0)
				s.match(p, prm)
				tiles++
				for i, ry := range s.ys {
					for j, rx := range s.xs {
						r := i*len(s.xs) + j
						got := s.cands[r*prm.Group : r*prm.Group+s.ncand[r]]
						want := matchBlockByBlock(&s, p, prm, rx, ry)
						refs++
						if len(got) != len(want) {
							t.Fatalf("%dx%d %+v, block (%d, %d): %d matches, want %d", p.W,
								p.H, prm, rx, ry, len(got), len(want))
						}
						for m := range got {
							if got[m] != want[m] {
								t.Fatalf("%dx%d %+v, block (%d, %d): match %d is %+v, "+
									"want %+v", p.W, p.H, prm, rx, ry, m, got[m], want[m])
							}
						}
					}
				}
			}
		}
		if tiles == 0 || refs < tiles {
			t.Fatalf("%dx%d: %d tiles, %d references", p.W, p.H, tiles, refs)
		}
	}
}

// BenchmarkBlockMatching times the matching of a 96×96 tile of reference
// blocks in a 256×256 photograph, by shift (what refinement runs) and block
// by block (what it ran before), for BM3D's two steps: on the noisy image
// (sigma 25) and on an estimate (standing in for it: the image with noise
// of sigma 3).
func BenchmarkBlockMatching(b *testing.B) {
	var t testing.T
	clean := cameraCrop(&t, 128, 128, 256, 256)
	for _, step := range []struct {
		name  string
		sigma float64
		prm   RefineParams
	}{
		{"first-step", 25, firstStep([]float32{25})},
		{"second-step", 3, RefineParams{}},
	} {
		p := noisyCopy(clean, step.sigma, rand.New(rand.NewPCG(1, 2)))
		prm := step.prm.withDefaults()
		var s refineScratch
		s.place(p.W, p.H, prm, 64, 64)
		b.Run(step.name+"/by-shift", func(b *testing.B) {
			for b.Loop() {
				s.match(p, prm)
			}
		})
		b.Run(step.name+"/block-by-block", func(b *testing.B) {
			for b.Loop() {
				for _, ry := range s.ys {
					for _, rx := range s.xs {
						matchBlockByBlock(&s, p, prm, rx, ry)
					}
				}
			}
		})
	}
}
