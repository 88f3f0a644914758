package replay

import (
	"math"

	"github.com/cleanframe/cleanframe/ae"
)

// SSIM constants of Wang, Bovik, Sheikh and Simoncelli (2004) for 8-bit
// values: an 11×11 circular Gaussian window of deviation 1.5, K1 = 0.01 and
// K2 = 0.03 with the dynamic range L = 255.
const (
	ssimWindow = 11
	ssimSigma  = 1.5
	ssimC1     = (0.01 * 255) * (0.01 * 255)
	ssimC2     = (0.03 * 255) * (0.03 * 255)
)

// SSIM is the mean structural similarity index of got against want, both on
// the 0–255 scale, averaged over planes: for each plane, the mean over every
// window position that lies wholly inside the image ("valid" filtering, as
// the reference implementation's filter2) of
//
//	(2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
//
// where μ, σ² and σxy are Gaussian-weighted (weights summing to 1) means,
// variances and covariance. There is no downsampling. A plane smaller than
// the window uses the largest odd window that fits, with the same deviation.
// Identical planes give 1. The planes must have the same shapes.
func SSIM(got, want []ae.Plane) float64 {
	var s float64
	for c := range want {
		s += ssimPlane(got[c], want[c])
	}
	return s / float64(len(want))
}

// gaussWindow returns the normalised 1-D Gaussian of n taps; the 2-D
// window is its outer product.
func gaussWindow(n int) []float64 {
	w := make([]float64, n)
	var sum float64
	for i := range w {
		d := float64(i - n/2)
		w[i] = math.Exp(-d * d / (2 * ssimSigma * ssimSigma))
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// ssimPlane filters x, y, x², y² and xy with the separable window, rows
// first, then averages the SSIM map.
func ssimPlane(x, y ae.Plane) float64 {
	n := min(ssimWindow, x.W, x.H)
	if n%2 == 0 {
		n--
	}
	if n < 1 {
		return math.NaN()
	}
	win := gaussWindow(n)
	ow, oh := x.W-n+1, x.H-n+1

	// Horizontal pass: five maps of ow × H.
	var rows [5][]float64
	for k := range rows {
		rows[k] = make([]float64, ow*x.H)
	}
	for r := range x.H {
		xr, yr := x.Pix[r*x.W:(r+1)*x.W], y.Pix[r*y.W:(r+1)*y.W]
		for c := range ow {
			var sx, sy, sxx, syy, sxy float64
			for t, wt := range win {
				a, b := float64(xr[c+t]), float64(yr[c+t])
				sx += wt * a
				sy += wt * b
				sxx += wt * a * a
				syy += wt * b * b
				sxy += wt * a * b
			}
			i := r*ow + c
			rows[0][i], rows[1][i], rows[2][i], rows[3][i], rows[4][i] = sx, sy, sxx, syy, sxy
		}
	}

	// Vertical pass and the SSIM map, summed.
	var total float64
	for r := range oh {
		for c := range ow {
			var m [5]float64
			for t, wt := range win {
				i := (r+t)*ow + c
				for k := range m {
					m[k] += wt * rows[k][i]
				}
			}
			mx, my := m[0], m[1]
			vx, vy, cxy := m[2]-mx*mx, m[3]-my*my, m[4]-mx*my
			total += (2*mx*my + ssimC1) * (2*cxy + ssimC2) /
				((mx*mx + my*my + ssimC1) * (vx + vy + ssimC2))
		}
	}
	return total / float64(ow*oh)
}
