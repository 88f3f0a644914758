package replay

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
)

func constPlane(w, h int, v float32) ae.Plane {
	p := ae.Plane{W: w, H: h, Pix: make([]float32, w*h)}
	for i := range p.Pix {
		p.Pix[i] = v
	}
	return p
}

func randPlane(rng *rand.Rand, w, h int) ae.Plane {
	p := ae.Plane{W: w, H: h, Pix: make([]float32, w*h)}
	for i := range p.Pix {
		p.Pix[i] = float32(rng.IntN(256))
	}
	return p
}

// naiveSSIM evaluates the SSIM formula window by window with the 2-D
// Gaussian weights written out.
func naiveSSIM(x, y ae.Plane) float64 {
	n := min(11, x.W, x.H)
	if n%2 == 0 {
		n--
	}
	w := make([][]float64, n)
	var sum float64
	for i := range w {
		w[i] = make([]float64, n)
		for j := range w[i] {
			di, dj := float64(i-n/2), float64(j-n/2)
			w[i][j] = math.Exp(-(di*di + dj*dj) / (2 * 1.5 * 1.5))
			sum += w[i][j]
		}
	}
	c1, c2 := math.Pow(0.01*255, 2), math.Pow(0.03*255, 2)
	var total float64
	var count int
	for r := 0; r+n <= x.H; r++ {
		for c := 0; c+n <= x.W; c++ {
			var mx, my, sxx, syy, sxy float64
			for i := range n {
				for j := range n {
					wt := w[i][j] / sum
					a, b := float64(x.Pix[(r+i)*x.W+c+j]), float64(y.Pix[(r+i)*y.W+c+j])
					mx += wt * a
					my += wt * b
				}
			}
			for i := range n {
				for j := range n {
					wt := w[i][j] / sum
					a, b := float64(x.Pix[(r+i)*x.W+c+j])-mx, float64(y.Pix[(r+i)*y.W+c+j])-my
					sxx += wt * a * a
					syy += wt * b * b
					sxy += wt * a * b
				}
			}
			total += (2*mx*my + c1) * (2*sxy + c2) / ((mx*mx + my*my + c1) * (sxx + syy + c2))
			count++
		}
	}
	return total / float64(count)
}

func TestSSIMKnownValues(t *testing.T) {
	c1 := (0.01 * 255) * (0.01 * 255) // 6.5025
	// Constant images: no variance, so SSIM is the luminance term alone,
	// (2ab + C1) / (a² + b² + C1).
	lum := func(a, b float64) float64 { return (2*a*b + c1) / (a*a + b*b + c1) }
	rng := rand.New(rand.NewPCG(1, 2))
	img := randPlane(rng, 24, 17)
	tests := []struct {
		name string
		x, y ae.Plane
		want float64
	}{
		{"identical", img, img, 1},
		{"equal constants", constPlane(16, 16, 77), constPlane(16, 16, 77), 1},
		{"100 vs 120", constPlane(16, 16, 100), constPlane(16, 16, 120), lum(100, 120)},
		// (2·100·120 + 6.5025) / (100² + 120² + 6.5025) = 24006.5025 / 24406.5025
		{"100 vs 120 by hand", constPlane(12, 12, 100), constPlane(12, 12, 120),
			24006.5025 / 24406.5025},
		// Black against white: C1 / (255² + C1) = 6.5025 / 65031.5025.
		{"black vs white", constPlane(11, 11, 0), constPlane(11, 11, 255),
			6.5025 / 65031.5025},
		// A small plane takes the largest odd window that fits (5 here).
		{"small constants", constPlane(5, 7, 10), constPlane(5, 7, 30), lum(10, 30)},
	}
	for _, tt := range tests {
		got := SSIM([]ae.Plane{tt.x}, []ae.Plane{tt.y})
		if math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: SSIM = %.15f, want %.15f", tt.name, got, tt.want)
		}
	}
}

// With a single 11×11 window, y = 255 - x has μy = 255 - μx, σy = σx and
// σxy = -σx², so SSIM = lum(μx, 255-μx) · (C2 - 2σx²) / (C2 + 2σx²).
func TestSSIMNegative(t *testing.T) {
	x := ae.Plane{W: 11, H: 11, Pix: make([]float32, 121)}
	y := ae.Plane{W: 11, H: 11, Pix: make([]float32, 121)}
	for i := range x.Pix {
		x.Pix[i] = float32((i * 37) % 256)
		y.Pix[i] = 255 - x.Pix[i]
	}
	win := gaussWindow(11)
	var mx, vx float64
	for i, v := range x.Pix {
		mx += win[i/11] * win[i%11] * float64(v)
	}
	for i, v := range x.Pix {
		d := float64(v) - mx
		vx += win[i/11] * win[i%11] * d * d
	}
	c1, c2 := ssimC1, ssimC2
	want := (2*mx*(255-mx) + c1) / (mx*mx + (255-mx)*(255-mx) + c1) * (c2 - 2*vx) / (c2 + 2*vx)
	if got := SSIM([]ae.Plane{x}, []ae.Plane{y}); math.Abs(got-want) > 1e-9 {
		t.Fatalf("SSIM of a negative = %.12f, want %.12f", got, want)
	}
	if want > -0.5 {
		t.Fatalf("a textured negative should be strongly anti-correlated, got %.3f", want)
	}
}

func TestSSIMMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{11, 11}, {40, 33}, {64, 20}, {9, 30}} {
		x := randPlane(rng, sz[0], sz[1])
		y := ae.Plane{W: x.W, H: x.H, Pix: make([]float32, len(x.Pix))}
		for i, v := range x.Pix {
			y.Pix[i] = float32(math.Round(math.Min(255, math.Max(0,
				float64(v)+rng.NormFloat64()*30))))
		}
		got, want := SSIM([]ae.Plane{x}, []ae.Plane{y}), naiveSSIM(x, y)
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%dx%d: SSIM = %.12f, naive %.12f", sz[0], sz[1], got, want)
		}
		if rev := SSIM([]ae.Plane{y}, []ae.Plane{x}); math.Abs(rev-got) > 1e-12 {
			t.Errorf("%dx%d: SSIM not symmetric: %v vs %v", sz[0], sz[1], got, rev)
		}
	}
}

func TestGaussWindow(t *testing.T) {
	w := gaussWindow(11)
	var s float64
	for _, v := range w {
		s += v
	}
	if math.Abs(s-1) > 1e-12 {
		t.Errorf("window sums to %v", s)
	}
	if r, want := w[6]/w[5], math.Exp(-1/(2*1.5*1.5)); math.Abs(r-want) > 1e-12 {
		t.Errorf("neighbour/centre = %v, want %v", r, want)
	}
}
