package ae

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BM3D on a grey plane is its two steps; on colour it groups on the
// luminance (CBM3D), which must beat BM3D on R, G and B separately.
func TestBM3DGreyAndColour(t *testing.T) {
	clean := cameraCrop(t, 100, 40, 120, 100)
	rng := rand.New(rand.NewPCG(17, 18))
	noisy := noisyCopy(clean, 25, rng)
	got := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	if err := BM3D([]Plane{got}, []Plane{noisy}, 25); err != nil {
		t.Fatal(err)
	}
	basic := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	want := Plane{W: clean.W, H: clean.H, Pix: make([]float32, len(clean.Pix))}
	RefinePlanes([]Plane{basic}, []Plane{noisy}, []Plane{noisy}, []float32{25},
		RefineParams{Hard: 2.7, MaxDist: 2500, Group: 16})
	RefinePlanes([]Plane{want}, []Plane{noisy}, []Plane{basic}, []float32{25}, RefineParams{})
	for i := range want.Pix {
		if got.Pix[i] != want.Pix[i] {
			t.Fatalf("grey pixel %d: %v, the two steps give %v", i, got.Pix[i], want.Pix[i])
		}
	}

	full := examplePlanes(t, "chelsea.png")
	if len(full) != 3 {
		t.Fatalf("chelsea.png has %d planes, want colour", len(full))
	}
	var cl, ns, joint, apart []Plane
	for _, p := range full {
		c := Plane{W: 96, H: 80, Pix: make([]float32, 96*80)}
		for y := range c.H {
			copy(c.Pix[y*c.W:(y+1)*c.W], p.Pix[(60+y)*p.W+120:])
		}
		cl, ns = append(cl, c), append(ns, noisyCopy(c, 25, rng))
		joint = append(joint, Plane{W: 96, H: 80, Pix: make([]float32, 96*80)})
		apart = append(apart, Plane{W: 96, H: 80, Pix: make([]float32, 96*80)})
	}
	if err := BM3D(joint, ns, 25); err != nil {
		t.Fatal(err)
	}
	for c := range ns {
		if err := BM3D(apart[c:c+1], ns[c:c+1], 25); err != nil {
			t.Fatal(err)
		}
	}
	var n, j, a float64
	for c := range cl {
		n += planePSNR(ns[c], cl[c]) / 3
		j += planePSNR(joint[c], cl[c]) / 3
		a += planePSNR(apart[c], cl[c]) / 3
	}
	t.Logf("noisy %.2f dB, CBM3D %.2f, BM3D per channel %.2f", n, j, a)
	if j < a+0.5 || a < n+5 {
		t.Fatalf("noisy %.2f dB, CBM3D %.2f, BM3D per channel %.2f: want per channel +5 "+
			"and CBM3D +0.5 more", n, j, a)
	}
}

func TestBM3DRefusesBadInput(t *testing.T) {
	p := Plane{W: 4, H: 4, Pix: make([]float32, 16)}
	q := Plane{W: 4, H: 3, Pix: make([]float32, 12)}
	cases := map[string]func() error{
		"two planes":     func() error { return BM3D([]Plane{p, p}, []Plane{p, p}, 10) },
		"sizes differ":   func() error { return BM3D([]Plane{p}, []Plane{q}, 10) },
		"negative sigma": func() error { return BM3D([]Plane{p}, []Plane{p}, -1) },
		"planes differ":  func() error { return BM3D([]Plane{p, q, p}, []Plane{p, q, p}, 10) },
		"a NaN pixel": func() error {
			n := Plane{W: 4, H: 4, Pix: make([]float32, 16)}
			n.Pix[5] = float32(math.NaN())
			return BM3D([]Plane{p}, []Plane{n}, 10)
		},
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
