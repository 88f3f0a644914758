package ae

import (
	"cmp"
	"math"
	"slices"
)

// Noise level estimation from the covariance of the image's 8×8 patches,
// after Pyatykh, Hesser and Zheng ("Image noise level estimation by
// principal component analysis", 2013): image content leaves some
// directions of patch space nearly empty, so the smallest eigenvalue of the
// covariance is close to the noise variance.
//
// Content still reaches every direction a little, which on photographs read
// 20–30 % high at sigma 5. So the estimate is refined on weakly textured
// patches only, after Liu, Tanaka and Okutomi ("Single-image noise level
// estimation for blind denoising", 2013): a patch is kept when the sum of its
// squared neighbour differences (its texture) is below what pure noise at the
// current estimate stays under 99 % of the time, and the smallest eigenvalue
// of the kept patches gives the next estimate, until it settles.
//
// Four kinds of patch would drag that towards zero, and are left out:
//   - clipped ones, with a pixel at exactly 0 or 255 (in any colour channel):
//     clipping flattens the noise, and exact values never occur in unclipped
//     noisy planes;
//   - flat ones (texture under texFlat): a noise-free area such as a
//     letterbox bar or a synthetic background;
//   - ones with a constant row or column: the edge of such an area;
//   - ones far smoother than noise at the current estimate allows (texture
//     under texFloor times its variance): areas much cleaner than the rest,
//     such as a lightly noisy bar beside a noisy photograph.
//
// If too few patches remain, all of them are used.

const (
	estBlock = 8
	// estMinPatches is the fewest patches a covariance is estimated from;
	// smaller planes fall back to the wavelet MAD.
	estMinPatches = 16 * estBlock * estBlock
	// estMinUsable is the fewest usable patches (see estimateSigma) that
	// are enough for a first estimate, the texture refinement aside.
	estMinUsable = 4 * estBlock * estBlock
	// texThreshold is the 99th percentile of a patch's texture (see
	// patchTexture) when the patch is white noise of unit deviation,
	// measured over 2 million patches (TestTextureThreshold checks it);
	// texFloor is half its 0.1st percentile, 111.
	texThreshold = 344
	texFloor     = 56
	// texFlat is the mean texture of noise of deviation 0.5: flatter patches
	// are taken as noise-free (estimates below about 1 read low).
	texFlat = 224 * 0.5 * 0.5
	// estRounds bounds the refinement rounds.
	estRounds = 20
)

// estPatch is a patch position and its texture, the sort key.
type estPatch struct {
	tex  float32
	x, y int32
}

// estScratch is the memory an estimate reuses from one call to the next.
type estScratch struct {
	f   []float32
	pos []estPatch
}

// estimateSigma is EstimateSigma with reusable scratch memory. Patches with
// a pixel at exactly 0 or 255 in any of the planes clip are left out (see
// above); clip is p's source planes, or p itself.
func estimateSigma(p Plane, clip []Plane, s *estScratch) float32 {
	const d = estBlock * estBlock
	nx, ny := p.W-estBlock+1, p.H-estBlock+1
	if nx < 4 || ny < 4 || nx*ny < estMinPatches {
		var sigma float32
		sigma, s.f = madSigma(p, s.f)
		return sigma
	}
	// At most about 100 000 patches, on a regular grid, sorted by texture so
	// that every selection below is a run of rows.
	step := max(1, int(math.Ceil(math.Sqrt(float64(nx*ny)/100000))))
	cx, cy := (nx+step-1)/step, (ny+step-1)/step
	n := cx * cy
	s.f = grow(s.f, n*d+d*d)
	x, c := s.f[:n*d], s.f[n*d:]
	pos := s.pos[:0]
	for y := 0; y < ny; y += step {
		for x0 := 0; x0 < nx; x0 += step {
			pos = append(pos, estPatch{patchTexture(p, clip, x0, y), int32(x0), int32(y)})
		}
	}
	s.pos = pos
	slices.SortFunc(pos, func(a, b estPatch) int {
		return cmp.Or(cmp.Compare(a.tex, b.tex), cmp.Compare(a.y, b.y), cmp.Compare(a.x, b.x))
	})
	// Rows are centred on the plane's mean, so that float32 sums keep the
	// precision of small deviations on bright planes.
	var mean float64
	for _, v := range p.Pix {
		mean += float64(v)
	}
	m := float32(mean / float64(len(p.Pix)))
	for r, q := range pos {
		row := x[r*d : (r+1)*d]
		for dy := range estBlock {
			o := (int(q.y)+dy)*p.W + int(q.x)
			for dx, v := range p.Pix[o : o+estBlock] {
				row[dy*estBlock+dx] = v - m
			}
		}
	}
	// Usable patches: neither flat nor clipped nor on the edge of a
	// noise-free area (texture +Inf), unless too few are: a noisy strip
	// beside a clean background may give only a few hundred.
	lo, hi := texIndex(pos, texFlat), texIndex(pos, float32(math.Inf(1)))
	if hi-lo < estMinUsable {
		lo, hi = 0, n
	}
	sigma := minEigenSigma(x[lo*d:hi*d], c, hi-lo)
	for range estRounds {
		v := sigma * sigma
		a := max(lo, texIndex(pos[:hi], float32(texFloor*v)))
		b := texIndex(pos[:hi], float32(texThreshold*v))
		if b-a < estMinPatches {
			break
		}
		next := minEigenSigma(x[a*d:b*d], c, b-a)
		done := math.Abs(next-sigma) <= 1e-3*sigma
		sigma = next
		if done {
			break
		}
	}
	return float32(sigma)
}

// texIndex is the number of patches in pos (sorted) with texture below t.
func texIndex(pos []estPatch, t float32) int {
	i, _ := slices.BinarySearchFunc(pos, t, func(e estPatch, t float32) int {
		if e.tex < t {
			return -1
		}
		return 1
	})
	return i
}

// patchTexture is the sum of the squared differences between horizontal
// and vertical neighbours within the patch of p at (x0, y), or +Inf when a
// plane of clip has a pixel at exactly 0 or 255 there, or a row or column of
// the patch is constant.
func patchTexture(p Plane, clip []Plane, x0, y int) float32 {
	for _, q := range clip {
		for dy := range estBlock {
			for _, v := range q.Pix[(y+dy)*q.W+x0:][:estBlock] {
				if v == 0 || v == 255 {
					return float32(math.Inf(1))
				}
			}
		}
	}
	if constantLine(p, x0, y) {
		return float32(math.Inf(1))
	}
	var z float32
	for dy := range estBlock {
		r := p.Pix[(y+dy)*p.W+x0:][:estBlock]
		for dx, v := range r {
			if dx+1 < estBlock {
				z += (r[dx+1] - v) * (r[dx+1] - v)
			}
			if dy+1 < estBlock {
				b := p.Pix[(y+dy+1)*p.W+x0+dx]
				z += (b - v) * (b - v)
			}
		}
	}
	return z
}

// constantLine reports whether a row or a column of the patch at (x0, y)
// holds one value exactly: the edge of a noise-free area, which noise never
// leaves (a patch wholly inside such an area is flat, see texFlat).
func constantLine(p Plane, x0, y int) bool {
	for d := range estBlock {
		row, col := true, true
		r0 := p.Pix[(y+d)*p.W+x0]
		c0 := p.Pix[y*p.W+x0+d]
		for k := 1; k < estBlock && (row || col); k++ {
			row = row && p.Pix[(y+d)*p.W+x0+k] == r0
			col = col && p.Pix[(y+k)*p.W+x0+d] == c0
		}
		if row || col {
			return true
		}
	}
	return false
}

// minEigenSigma is the noise deviation read from the smallest eigenvalue of
// the covariance of the first n rows of x (d = 64 columns), with c as d×d
// scratch. The smallest sample eigenvalue of n patches of pure noise sits
// near the lower Marchenko–Pastur edge, sigma²·(1−√(d/n))², which is undone.
func minEigenSigma(x, c []float32, n int) float64 {
	const d = estBlock * estBlock
	x = x[:n*d]
	var mean [d]float64
	for r := range n {
		for i, v := range x[r*d : (r+1)*d] {
			mean[i] += float64(v)
		}
	}
	sgemm(true, false, d, d, n, 1, x, d, x, d, 0, c, d)
	var cov [d * d]float64
	for i := range d {
		mean[i] /= float64(n)
	}
	for i := range d {
		for j := range d {
			cov[i*d+j] = float64(c[i*d+j])/float64(n) - mean[i]*mean[j]
		}
	}
	edge := 1 - math.Sqrt(float64(d)/float64(n))
	return math.Sqrt(max(0, minEigenvalue(cov[:], d))) / edge
}

// minEigenvalue returns the smallest eigenvalue of the symmetric n×n matrix
// a, which it overwrites, by cyclic Jacobi rotations.
func minEigenvalue(a []float64, n int) float64 {
	var diag float64
	for i := range n {
		diag += a[i*n+i] * a[i*n+i]
	}
	for range 30 {
		var off float64
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += a[p*n+q] * a[p*n+q]
			}
		}
		if off <= 1e-24*diag {
			break
		}
		for p := range n - 1 {
			for q := p + 1; q < n; q++ {
				apq := a[p*n+q]
				if apq == 0 {
					continue
				}
				theta := (a[q*n+q] - a[p*n+p]) / (2 * apq)
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					kp, kq := a[k*n+p], a[k*n+q]
					a[k*n+p], a[k*n+q] = c*kp-s*kq, s*kp+c*kq
				}
				for k := range n {
					pk, qk := a[p*n+k], a[q*n+k]
					a[p*n+k], a[q*n+k] = c*pk-s*qk, s*pk+c*qk
				}
			}
		}
	}
	m := a[0]
	for i := range n {
		m = min(m, a[i*n+i])
	}
	return m
}

// madSigma is the median absolute diagonal Haar wavelet coefficient over
// 0.6745 (Donoho and Johnstone's robust estimator), for planes too small to
// give enough patches. Texture makes it read high.
func madSigma(p Plane, scratch []float32) (float32, []float32) {
	if p.W < 2 || p.H < 2 {
		return 0, scratch
	}
	hh := scratch[:0]
	for y := 0; y+1 < p.H; y += 2 {
		for x := 0; x+1 < p.W; x += 2 {
			a, b := p.Pix[y*p.W+x], p.Pix[y*p.W+x+1]
			c, d := p.Pix[(y+1)*p.W+x], p.Pix[(y+1)*p.W+x+1]
			v := (a - b - c + d) / 2
			if v < 0 {
				v = -v
			}
			hh = append(hh, v)
		}
	}
	slices.Sort(hh)
	return hh[len(hh)/2] / 0.6745, hh
}
