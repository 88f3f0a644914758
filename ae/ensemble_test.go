package ae

import (
	"math"
	"math/rand/v2"
	"testing"
)

// viewOf returns view v of a square plane: pixel (y, x) of the view is the
// plane's pixel at the view's map of (y, x), as in viewPerms.
func viewOf(p Plane, v int) Plane {
	n := p.W
	perm := viewPerms(n, 8)[v*n*n : (v+1)*n*n]
	out := Plane{W: n, H: n, Pix: make([]float32, n*n)}
	for i, j := range perm {
		out.Pix[i] = p.Pix[j]
	}
	return out
}

// Averaging views inside the batcher must equal denoising each view of the
// image and mapping the results back, when the patch grid is the same in
// every view: 41 = 9 + 8·4, so at stride 4 it is.
func TestEnsembleAveragesViews(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 13, PatchOut: 9, Stride: 4, Hidden: []int{24},
		SigmaInput: true})
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range m.Net.Params {
		m.Net.Params[i] = float32(rng.NormFloat64() * 0.2)
	}
	src := Plane{W: 41, H: 41, Pix: make([]float32, 41*41)}
	for i := range src.Pix {
		src.Pix[i] = float32(rng.IntN(256))
	}
	for _, views := range []int{2, 4, 8} {
		want := make([]float64, len(src.Pix))
		for v := range views {
			in := viewOf(src, v)
			out := Plane{W: 41, H: 41, Pix: make([]float32, len(src.Pix))}
			if err := m.DenoisePlane(out, in, 20, 0); err != nil {
				t.Fatal(err)
			}
			perm := viewPerms(41, 8)[v*41*41 : (v+1)*41*41]
			for i, j := range perm {
				want[j] += float64(out.Pix[i]) / float64(views)
			}
		}
		e := m.Clone()
		if err := e.SetEnsemble(views); err != nil {
			t.Fatal(err)
		}
		got := Plane{W: 41, H: 41, Pix: make([]float32, len(src.Pix))}
		if err := e.DenoisePlane(got, src, 20, 0); err != nil {
			t.Fatal(err)
		}
		var worst, spread float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got.Pix[i])-want[i]))
			spread = math.Max(spread, math.Abs(want[i]-float64(src.Pix[i])))
		}
		if worst > 1e-3 || spread < 1 {
			t.Errorf("%d views: differs from the mapped-back views by %g (denoising moved "+
				"pixels by up to %g)", views, worst, spread)
		}
	}
}

// A new guided net outputs its guides' mean; every view must map the
// guides back to where they came from, so the ensemble changes nothing.
func TestEnsembleMapsGuidesBack(t *testing.T) {
	pilot := testModel(t, Arch{PatchIn: 13, PatchOut: 9, Stride: 4, Hidden: []int{16},
		SigmaInput: true})
	g, err := NewGuided("g", pilot)
	if err != nil {
		t.Fatal(err)
	}
	noisy := noisyCopy(cameraCrop(t, 100, 100, 47, 38), 20, rand.New(rand.NewPCG(1, 2)))
	one := Plane{W: 47, H: 38, Pix: make([]float32, 47*38)}
	if err := g.DenoisePlane(one, noisy, 20, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.SetEnsemble(8); err != nil {
		t.Fatal(err)
	}
	eight := Plane{W: 47, H: 38, Pix: make([]float32, 47*38)}
	if err := g.DenoisePlane(eight, noisy, 20, 0); err != nil {
		t.Fatal(err)
	}
	for i := range one.Pix {
		if d := math.Abs(float64(one.Pix[i] - eight.Pix[i])); d > 1e-3 {
			t.Fatalf("pixel %d: %v with one view, %v with eight", i, one.Pix[i], eight.Pix[i])
		}
	}
}

func TestSetEnsembleRefusesOddCounts(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4}})
	for _, n := range []int{-1, 3, 5, 16} {
		if err := m.SetEnsemble(n); err == nil {
			t.Errorf("ensemble %d accepted", n)
		}
	}
	if err := m.SetEnsemble(0); err != nil || m.Header.Arch.views() != 1 {
		t.Fatalf("ensemble 0: %v, %d views", err, m.Header.Arch.views())
	}
}
