package ae

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Refinement by collaborative Wiener filtering: the network's estimate (the
// pilot) finds, for every reference block, the most similar blocks nearby;
// the noisy blocks of each group are moved to a 3-D transform domain (2-D DCT
// of each block, Haar wavelet across the group) and shrunk coefficient by
// coefficient with the Wiener gain the pilot implies; the blocks go back and
// are averaged with weights. This is the second step of BM3D (Dabov et al.,
// 2007) with the network in place of BM3D's hard-thresholding first step; it
// adds what a patch-local network cannot see: other, similar parts of the
// same image.

// RefineParams tunes the refinement. The zero value of a field takes the
// default given beside it.
type RefineParams struct {
	Search  int     // half side of the search window (default 19, BM3D's 39×39)
	Step    int     // stride between reference blocks (default 3)
	Group   int     // most blocks in a group, a power of two (default 32)
	MaxDist float32 // largest mean squared pilot difference of a match (default 400)

	// Hard, when positive, makes this BM3D's first step instead: the
	// coefficients of the noisy group below Hard×sigma are zeroed, and the
	// pilot serves only to find the groups (pass the noisy planes). As in
	// BM3D, blocks are then transformed by the biorthogonal spline wavelet
	// bior1.5 rather than the DCT: its sparser code for edges gives 0.1 dB
	// more on Set12.
	Hard float32
}

const refineBlock = 8 // block side; the DCT below is written for 8

func (p RefineParams) withDefaults() RefineParams {
	if p.Search <= 0 {
		p.Search = 19
	}
	if p.Step <= 0 {
		p.Step = 3
	}
	if p.Group <= 0 {
		p.Group = 32
	}
	p.Group = 1 << (bits(p.Group) - 1)
	if p.MaxDist <= 0 {
		p.MaxDist = 400
	}
	return p
}

// bits is the number of bits needed for v > 0.
func bits(v int) int {
	n := 0
	for ; v > 0; v >>= 1 {
		n++
	}
	return n
}

// refineTile is the side of the reference area one worker handles at a time;
// it bounds the memory of the precomputed block transforms.
const refineTile = 96

// RefinePlanes writes into dst the Wiener refinement of noisy planes given
// the network's estimate pilot; every plane of an image shares the groups
// found on pilot[0] (the luminance of an opponent-colour image), and
// sigmas[c] is plane c's noise deviation on the 0–255 scale. Planes smaller
// than a block are copied from pilot.
func RefinePlanes(dst, noisy, pilot []Plane, sigmas []float32, prm RefineParams) {
	prm = prm.withDefaults()
	w, h := pilot[0].W, pilot[0].H
	if w < refineBlock || h < refineBlock {
		for c := range dst {
			copy(dst[c].Pix, pilot[c].Pix)
		}
		return
	}
	type tile struct{ x0, y0 int }
	var tiles []tile
	for y := 0; y <= h-refineBlock; y += refineTile {
		for x := 0; x <= w-refineBlock; x += refineTile {
			tiles = append(tiles, tile{x, y})
		}
	}
	// Each tile sums its blocks into its own accumulator, and the tiles are
	// added up in order, one at a time: the result is the same bit for bit
	// whatever the number of threads. At most 2 tiles per worker wait.
	sum := refineAccs.Get().(*refineAcc)
	defer refineAccs.Put(sum)
	sum.reset(len(noisy), 0, 0, w, h)
	workers := min(runtime.GOMAXPROCS(0), len(tiles))
	next := make(chan int)
	done := make([]chan *refineAcc, len(tiles))
	for i := range done {
		done[i] = make(chan *refineAcc, 1)
	}
	window := make(chan struct{}, 2*workers)
	go func() {
		for i := range tiles {
			window <- struct{}{}
			next <- i
		}
		close(next)
	}()
	for range workers {
		go func() {
			var s refineScratch
			for i := range next {
				a := refineAccs.Get().(*refineAcc)
				s.tile(a, noisy, pilot, sigmas, prm, tiles[i].x0, tiles[i].y0)
				done[i] <- a
			}
		}()
	}
	for i := range tiles {
		a := <-done[i]
		sum.add(a)
		refineAccs.Put(a)
		<-window
	}
	for c := range dst {
		for i := range dst[c].Pix {
			num, den := sum.num[c][i], sum.den[c][i]
			if den > 0 {
				dst[c].Pix[i] = num / den
			} else {
				dst[c].Pix[i] = pilot[c].Pix[i]
			}
		}
	}
}

// MakeGuides writes the two guides of a guided model for one image's noisy
// planes: g1 refines the network's estimate pilot; g2 refines BM3D's
// hard-thresholding estimate of the noisy planes, written into basic (so g2
// is this package's BM3D). The first plane's groups serve every plane.
func MakeGuides(g1, g2, basic, noisy, pilot []Plane, sigmas []float32) {
	bm3d(g2, basic, noisy, sigmas)
	RefinePlanes(g1, noisy, pilot, sigmas, RefineParams{})
}

// bm3d is BM3D's two steps on planes whose first plane leads the matching:
// hard thresholding into basic, then Wiener filtering guided by it into dst.
func bm3d(dst, basic, noisy []Plane, sigmas []float32) {
	RefinePlanes(basic, noisy, noisy, sigmas, firstStep(sigmas))
	RefinePlanes(dst, noisy, basic, sigmas, RefineParams{})
}

// firstStep is BM3D's first step for planes of noise sigmas (three planes
// are an opponent-colour image): threshold 2.7 sigma, up to 16 blocks whose
// mean squared difference is at most 2500; above sigma 40, where noise
// hides more of the likeness, 2.8 sigma and up to 32 blocks within 10000
// (0.07 dB more on Set12 at sigma 50 than 16 blocks within 5000). As in
// CBM3D, the image's noise chooses, not its luminance's, which is 1/√3 of
// it (0.05 dB more on Set5 at sigma 50).
func firstStep(sigmas []float32) RefineParams {
	sigma := sigmas[0]
	if len(sigmas) == 3 {
		sigma /= opponentNoise[0]
	}
	if sigma > 40 {
		return RefineParams{Hard: 2.8, MaxDist: 10000, Group: 32}
	}
	return RefineParams{Hard: 2.7, MaxDist: 2500, Group: 16}
}

// BM3D denoises one grey plane, or R, G and B planes, with noise of
// deviation sigma into dst, by this package's BM3D (Dabov et al., 2007):
// colour goes through the opponent transform and is grouped on the
// luminance, as in CBM3D. It is the reference the guided models build on,
// and a baseline to measure them against. An image narrower or shorter than
// its 8-pixel blocks is copied unchanged.
func BM3D(dst, noisy []Plane, sigma float32) error {
	if len(noisy) != len(dst) || (len(noisy) != 1 && len(noisy) != 3) {
		return fmt.Errorf("bm3d: %d source and %d destination planes, want 1 or 3 of each",
			len(noisy), len(dst))
	}
	for c := range noisy {
		if err := checkPlanes(dst[c], noisy[c]); err != nil {
			return fmt.Errorf("bm3d: plane %d: %w", c, err)
		}
		if len(noisy[c].Pix) != len(noisy[0].Pix) {
			return errors.New("bm3d: planes differ in size")
		}
	}
	if !(sigma >= 0 && sigma <= 255) {
		return fmt.Errorf("bm3d: noise sigma %v: want 0 to 255", sigma)
	}
	basic := make([]Plane, len(noisy))
	for c, p := range noisy {
		basic[c] = Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	}
	if len(noisy) == 1 {
		bm3d(dst, basic, noisy, []float32{sigma})
		return nil
	}
	opp := OpponentPlanes(noisy[0], noisy[1], noisy[2])
	out := make([]Plane, 3)
	sigmas := make([]float32, 3)
	for c := range out {
		out[c] = Plane{W: opp[c].W, H: opp[c].H, Pix: make([]float32, len(opp[c].Pix))}
		sigmas[c] = sigma * opponentNoise[c]
	}
	bm3d(out, basic, opp[:], sigmas)
	fromOpponentPlanes(dst, [3]Plane(out))
	return nil
}

// refineAcc sums weighted block estimates over a w×h area of the image
// whose top-left pixel is (x0, y0), per plane. They are pooled, so that
// refining image after image reuses their memory.
type refineAcc struct {
	x0, y0, w, h int
	num, den     [][]float32
}

var refineAccs = sync.Pool{New: func() any { return new(refineAcc) }}

// reset places the sums and zeroes them.
func (a *refineAcc) reset(planes, x0, y0, w, h int) {
	a.x0, a.y0, a.w, a.h = x0, y0, w, h
	a.num, a.den = growPlanesPix(a.num, planes, w*h), growPlanesPix(a.den, planes, w*h)
}

// add adds b's sums, which lie inside a's area, to a's.
func (a *refineAcc) add(b *refineAcc) {
	for c := range b.num {
		for y := range b.h {
			o := (b.y0+y-a.y0)*a.w + b.x0 - a.x0
			an, ad := a.num[c][o:o+b.w], a.den[c][o:o+b.w]
			bn, bd := b.num[c][y*b.w:(y+1)*b.w], b.den[c][y*b.w:(y+1)*b.w]
			for x := range b.w {
				an[x] += bn[x]
				ad[x] += bd[x]
			}
		}
	}
}

func growPlanesPix(ps [][]float32, planes, n int) [][]float32 {
	for len(ps) < planes {
		ps = append(ps, nil)
	}
	ps = ps[:planes]
	for i := range ps {
		ps[i] = grow(ps[i], n)
		clear(ps[i])
	}
	return ps
}

// refineScratch holds one worker's buffers.
type refineScratch struct {
	// Block transforms of the tile's extended area, per plane: position
	// (x-ex0, y-ey0) at index ((y-ey0)*ew+(x-ex0))*64, made when a group
	// first needs them (have), since about half the positions join none.
	dy, dp        [][]float32
	have          []bool
	noisy, pilot  []Plane
	tr            *blockTransform
	ex0, ey0, ew  int
	ex1, ey1      int
	xs, ys        []int // reference block positions
	pilotSpectrum bool  // dp is needed: Wiener filtering, not hard thresholding
	cand          []match
	gy, gp, tmp   []float32
	blk           [64]float32

	// Matching: the candidates of every reference block of the tile, Group
	// places each, with their counts; row sums of squared differences.
	cands []match
	ncand []int
	erow  []float32
	hs    []float32
	dd    []float32
	worst []float32
}

type match struct {
	d    float32
	x, y int32
}

// tile refines the reference blocks whose top-left corners lie in
// [x0, x0+refineTile) × [y0, y0+refineTile).
func (s *refineScratch) tile(a *refineAcc, noisy, pilot []Plane, sigmas []float32,
	prm RefineParams, x0, y0 int) {
	const k = refineBlock
	s.place(pilot[0].W, pilot[0].H, prm, x0, y0)
	a.reset(len(noisy), s.ex0, s.ey0, s.ew+k-1, s.ey1-s.ey0+k-1)
	tr := &dctBlock
	if prm.Hard > 0 {
		tr = &biorBlock
	}
	s.noisy, s.pilot, s.tr, s.pilotSpectrum = noisy, pilot, tr, prm.Hard <= 0
	positions := s.ew * (s.ey1 - s.ey0)
	for len(s.dy) < len(noisy) {
		s.dy, s.dp = append(s.dy, nil), append(s.dp, nil)
	}
	for c := range noisy {
		s.dy[c] = grow(s.dy[c], positions*64)
		if s.pilotSpectrum {
			s.dp[c] = grow(s.dp[c], positions*64)
		}
	}
	s.have = slices.Grow(s.have[:0], positions)[:positions]
	clear(s.have)
	s.match(pilot[0], prm)
	for i, ry := range s.ys {
		for j, rx := range s.xs {
			r := i*len(s.xs) + j
			s.cand = s.cands[r*prm.Group : r*prm.Group+s.ncand[r]]
			if len(s.cand) == 0 {
				// Only a non-finite pilot matches nothing, not even itself.
				s.cand = append(s.cand, match{0, int32(rx), int32(ry)})
			}
			s.group(a, noisy, sigmas, prm, tr)
		}
	}
}

// place sets up the tile of a w×h image whose reference blocks have their
// top-left corners in [x0, x0+refineTile) × [y0, y0+refineTile): their
// positions xs and ys, and the extended area [ex0, ex1) × [ey0, ey1) of
// block positions their search windows reach.
func (s *refineScratch) place(w, h int, prm RefineParams, x0, y0 int) {
	const k = refineBlock
	lastX, lastY := w-k, h-k
	x1, y1 := min(x0+refineTile, lastX+1), min(y0+refineTile, lastY+1)
	s.ex0, s.ey0 = max(0, x0-prm.Search), max(0, y0-prm.Search)
	s.ex1, s.ey1 = min(lastX+1, x1+prm.Search), min(lastY+1, y1+prm.Search)
	s.ew = s.ex1 - s.ex0
	refs := func(lo, hi, last int, dst []int) []int {
		dst = dst[:0]
		for v := lo; v < hi; v += prm.Step {
			dst = append(dst, v)
		}
		// The last block position always gets a reference, so that the
		// right and bottom edges are covered.
		if hi == last+1 && (len(dst) == 0 || dst[len(dst)-1] != last) {
			dst = append(dst, last)
		}
		return dst
	}
	s.xs = refs(x0, x1, lastX, s.xs)
	s.ys = refs(y0, y1, lastY, s.ys)
}

// match finds, for each reference block (xs[j], ys[i]) of the tile, the
// Group blocks of p most like it within the search window and the tile's
// extended area, the closest first, whose summed squared difference is at
// most MaxDist per pixel.
//
// It goes by displacement rather than by reference: for each shift, every
// squared pixel difference is computed once and shared by the overlapping
// blocks, a third of the work of comparing block by block. The sums are
// added in the same order as block by block (each block row left to right,
// then the rows top to bottom), and the shifts are taken in raster order,
// so the matches, ties included, are the same.
func (s *refineScratch) match(p Plane, prm RefineParams) {
	const k = refineBlock
	xs, ys, ex1, ey1 := s.xs, s.ys, s.ex1, s.ey1
	limit := prm.MaxDist * k * k
	nx, nr := len(xs), len(xs)*len(ys)
	s.cands = growMatches(s.cands, nr*prm.Group)
	s.ncand = slices.Grow(s.ncand[:0], nr)[:nr]
	clear(s.ncand)
	s.worst = grow(s.worst, nr)
	for r := range s.worst {
		s.worst[r] = float32(math.Inf(1)) // the distance a full list refuses
	}
	// Sized for the widest shift: every reference row and column.
	s.erow = grow(s.erow, xs[nx-1]-xs[0]+k)
	s.hs = grow(s.hs, (ys[len(ys)-1]-ys[0]+k)*nx)
	s.dd = grow(s.dd, nx)
	// inside is the range [lo, hi) of refs whose shifted position lies in
	// [start, end); refs are sorted.
	inside := func(refs []int, shift, start, end int) (lo, hi int) {
		for lo < len(refs) && refs[lo]+shift < start {
			lo++
		}
		for hi = lo; hi < len(refs) && refs[hi]+shift < end; hi++ {
		}
		return lo, hi
	}
	for dy := -prm.Search; dy <= prm.Search; dy++ {
		i0, i1 := inside(ys, dy, s.ey0, ey1)
		if i0 == i1 {
			continue
		}
		ylo, yhi := ys[i0], ys[i1-1]+k // block rows needed: [ylo, yhi)
		for dx := -prm.Search; dx <= prm.Search; dx++ {
			j0, j1 := inside(xs, dx, s.ex0, ex1)
			if j0 == j1 {
				continue
			}
			xlo, xhi := xs[j0], xs[j1-1]+k
			// hs holds, per row and reference column, the sum of the 8
			// squared differences of that block row.
			for y := ylo; y < yhi; y++ {
				a := p.Pix[y*p.W+xlo : y*p.W+xhi]
				b := p.Pix[(y+dy)*p.W+xlo+dx : (y+dy)*p.W+xhi+dx]
				e := s.erow[:len(a)]
				for x := range e {
					d := a[x] - b[x]
					e[x] = d * d
				}
				hs := s.hs[(y-ylo)*nx : (y-ylo+1)*nx]
				for j := j0; j < j1; j++ {
					e := e[xs[j]-xlo : xs[j]-xlo+k]
					hs[j] = e[0] + e[1] + e[2] + e[3] + e[4] + e[5] + e[6] + e[7]
				}
			}
			dd := s.dd[j0:j1]
			for i := i0; i < i1; i++ {
				// dd sums the block rows top to bottom, as block by block.
				rows := s.hs[(ys[i]-ylo)*nx:]
				copy(dd, rows[j0:j1])
				for r := 1; r < k; r++ {
					row := rows[r*nx+j0 : r*nx+j1]
					for j := range dd {
						dd[j] += row[j]
					}
				}
				worst := s.worst[i*nx : (i+1)*nx]
				for j := j0; j < j1; j++ {
					d := dd[j-j0]
					if !(d <= limit) || d >= worst[j] {
						continue // too far or NaN, or one insertMatch would refuse
					}
					r := i*nx + j
					ms := insertMatch(s.cands[r*prm.Group:r*prm.Group+s.ncand[r]],
						match{d, int32(xs[j] + dx), int32(ys[i] + dy)}, prm.Group)
					s.ncand[r] = len(ms)
					if len(ms) == prm.Group {
						worst[j] = ms[len(ms)-1].d
					}
				}
			}
		}
	}
}

// growMatches returns ms with length n, reusing its memory when it can.
func growMatches(ms []match, n int) []match {
	if cap(ms) < n {
		return make([]match, n)
	}
	return ms[:n]
}

// transform makes the block transforms at (x, y) unless they are made.
func (s *refineScratch) transform(x, y int) {
	at := (y-s.ey0)*s.ew + x - s.ex0
	if s.have[at] {
		return
	}
	s.have[at] = true
	o := at * 64
	for c := range s.noisy {
		s.tr.forward(s.dy[c][o:o+64], s.noisy[c], x, y)
		if s.pilotSpectrum {
			s.tr.forward(s.dp[c][o:o+64], s.pilot[c], x, y)
		}
	}
}

// group filters the blocks of s.cand together, the closest first.
func (s *refineScratch) group(a *refineAcc, noisy []Plane, sigmas []float32,
	prm RefineParams, tr *blockTransform) {
	const k = refineBlock
	g := 1 << (bits(len(s.cand)) - 1)
	s.gy = grow(s.gy, g*64)
	s.gp = grow(s.gp, g*64)
	s.tmp = grow(s.tmp, g*64)
	kw := &kaiser8
	for _, m := range s.cand[:g] {
		s.transform(int(m.x), int(m.y))
	}
	for c := range noisy {
		for i, m := range s.cand[:g] {
			o := ((int(m.y)-s.ey0)*s.ew + (int(m.x) - s.ex0)) * 64
			copy(s.gy[i*64:(i+1)*64], s.dy[c][o:o+64])
			if s.pilotSpectrum {
				copy(s.gp[i*64:(i+1)*64], s.dp[c][o:o+64])
			}
		}
		haar(s.gy, s.tmp, g)
		sig2 := sigmas[c] * sigmas[c]
		var wsum float32
		if prm.Hard > 0 {
			th := prm.Hard * sigmas[c]
			for i, v := range s.gy[:g*64] {
				if v < th && v > -th {
					s.gy[i] = 0
				} else {
					wsum++
				}
			}
		} else {
			haar(s.gp, s.tmp, g)
			for i, v := range s.gp[:g*64] {
				p2 := v * v
				gain := p2 / (p2 + sig2 + 1e-12) // 0, not NaN, for 0/0
				s.gy[i] *= gain
				wsum += gain * gain
			}
		}
		inverseHaar(s.gy, s.tmp, g)
		weight := 1 / max(wsum*sig2, 1e-6)
		num, den := a.num[c], a.den[c]
		for i, m := range s.cand[:g] {
			tr.inverse(s.blk[:], s.gy[i*64:(i+1)*64])
			for r := range k {
				o := (int(m.y)-a.y0+r)*a.w + int(m.x) - a.x0
				nr, dr := num[o:o+k], den[o:o+k]
				for j := range k {
					wk := weight * kw[r*k+j]
					nr[j] += wk * s.blk[r*k+j]
					dr[j] += wk
				}
			}
		}
	}
}

// insertMatch keeps ms sorted by distance and at most n long.
func insertMatch(ms []match, m match, n int) []match {
	if len(ms) == n && m.d >= ms[n-1].d {
		return ms
	}
	if len(ms) < n {
		ms = append(ms, m)
	}
	i := len(ms) - 1
	for ; i > 0 && ms[i-1].d > m.d; i-- {
		ms[i] = ms[i-1]
	}
	ms[i] = m
	return ms
}

// haar applies the orthonormal Haar wavelet transform, fully decomposed,
// across the g blocks of a group (g a power of two), to each of the 64
// coefficients; tmp holds at least g*64 values. The first block becomes the
// group's scaled sum, and the others differences of ever smaller halves.
func haar(v, tmp []float32, g int) {
	for n := g; n > 1; n /= 2 {
		copy(tmp[:n*64], v[:n*64])
		for i := range n / 2 {
			haarPair(v[i*64:(i+1)*64], v[(n/2+i)*64:(n/2+i+1)*64],
				tmp[2*i*64:(2*i+1)*64], tmp[(2*i+1)*64:(2*i+2)*64])
		}
	}
}

// inverseHaar inverts haar.
func inverseHaar(v, tmp []float32, g int) {
	for n := 2; n <= g; n *= 2 {
		copy(tmp[:n*64], v[:n*64])
		for i := range n / 2 {
			haarPair(v[2*i*64:(2*i+1)*64], v[(2*i+1)*64:(2*i+2)*64],
				tmp[i*64:(i+1)*64], tmp[(n/2+i)*64:(n/2+i+1)*64])
		}
	}
}

// haarPair writes (a+b)/√2 into sum and (a-b)/√2 into diff.
func haarPair(sum, diff, a, b []float32) {
	const r = 1 / math.Sqrt2
	a, b, diff = a[:len(sum)], b[:len(sum)], diff[:len(sum)]
	for c := range sum {
		x, y := a[c], b[c]
		sum[c], diff[c] = (x+y)*r, (x-y)*r
	}
}

// dct8Mat is the orthonormal 8-point DCT-II matrix, row u = frequency.
var dct8Mat = func() (m [64]float32) {
	for u := range 8 {
		a := math.Sqrt(2.0 / 8)
		if u == 0 {
			a = math.Sqrt(1.0 / 8)
		}
		for x := range 8 {
			m[u*8+x] = float32(a * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16))
		}
	}
	return m
}()

// kaiser8 is the 8×8 Kaiser window (beta 2) that weights aggregated blocks.
var kaiser8 = func() (w [64]float32) {
	i0 := func(x float64) float64 { // modified Bessel function of order 0
		s, t := 1.0, 1.0
		for k := 1; k < 30; k++ {
			t *= (x / 2) / float64(k)
			s += t * t
		}
		return s
	}
	const beta = 2.0
	var k1 [8]float64
	for n := range 8 {
		r := 2*float64(n)/7 - 1
		k1[n] = i0(beta*math.Sqrt(1-r*r)) / i0(beta)
	}
	for y := range 8 {
		for x := range 8 {
			w[y*8+x] = float32(k1[y] * k1[x])
		}
	}
	return w
}()

// blockTransform is a separable 2-D transform of 8×8 blocks: fwd[u*8+x] is
// frequency u's weight of sample x, and inv[x*8+u] coefficient u's weight
// in sample x (the transpose of fwd when it is orthonormal).
type blockTransform struct{ fwd, inv [64]float32 }

// dctBlock is the orthonormal 2-D DCT-II.
var dctBlock = blockTransform{fwd: dct8Mat, inv: transpose8(dct8Mat)}

// biorBlock is the biorthogonal spline wavelet bior1.5 (analysis low-pass
// of ten taps, Haar high-pass), fully decomposed over 8 samples with
// periodic extension and every basis row scaled to unit norm, so that white
// noise of deviation sigma has deviation sigma in every coefficient, as
// BM3D's first step has it.
var biorBlock = func() blockTransform {
	lo := [10]float64{3, -3, -22, 22, 128, 128, 22, -22, -3, 3} // ×1/(128√2)
	for i := range lo {
		lo[i] /= 128 * math.Sqrt2
	}
	hi := [10]float64{4: -1 / math.Sqrt2, 5: 1 / math.Sqrt2}
	// Each level analyses the leading n rows (the averages so far) into
	// n/2 averages, then n/2 differences, starting from the identity.
	rows := mat.NewDense(8, 8, nil)
	for i := range 8 {
		rows.Set(i, i, 1)
	}
	for n := 8; n > 1; n /= 2 {
		level := mat.NewDense(n, n, nil)
		for k := range n / 2 {
			for t := range 10 {
				j := ((2*k+t-4)%n + n) % n
				level.Set(k, j, level.At(k, j)+lo[t])
				level.Set(n/2+k, j, level.At(n/2+k, j)+hi[t])
			}
		}
		lead := rows.Slice(0, n, 0, 8).(*mat.Dense)
		var next mat.Dense
		next.Mul(level, lead)
		lead.Copy(&next)
	}
	for i := range 8 {
		row := rows.RawRowView(i)
		floats.Scale(1/floats.Norm(row, 2), row)
	}
	var inv mat.Dense
	if err := inv.Inverse(rows); err != nil {
		panic("bior1.5 matrix: " + err.Error()) // a fixed, well-conditioned matrix
	}
	var t blockTransform
	for i := range 8 {
		for j := range 8 {
			t.fwd[i*8+j] = float32(rows.At(i, j))
			t.inv[i*8+j] = float32(inv.At(i, j))
		}
	}
	return t
}()

func transpose8(m [64]float32) (t [64]float32) {
	for u := range 8 {
		for x := range 8 {
			t[x*8+u] = m[u*8+x]
		}
	}
	return t
}

// forward writes the transform of the 8×8 block of p at (x, y) into dst.
func (tr *blockTransform) forward(dst []float32, p Plane, x, y int) {
	var t [64]float32
	m := &tr.fwd
	// Rows: t[r][u] = sum_x m[u][x] * p[r][x].
	for r := range 8 {
		row := p.Pix[(y+r)*p.W+x : (y+r)*p.W+x+8]
		for u := range 8 {
			mu := m[u*8 : u*8+8]
			t[r*8+u] = mu[0]*row[0] + mu[1]*row[1] + mu[2]*row[2] + mu[3]*row[3] +
				mu[4]*row[4] + mu[5]*row[5] + mu[6]*row[6] + mu[7]*row[7]
		}
	}
	// Columns: dst[v][u] = sum_r m[v][r] * t[r][u].
	dst = dst[:64]
	for v := range 8 {
		mv := m[v*8 : v*8+8]
		for u := range 8 {
			dst[v*8+u] = mv[0]*t[u] + mv[1]*t[8+u] + mv[2]*t[16+u] + mv[3]*t[24+u] +
				mv[4]*t[32+u] + mv[5]*t[40+u] + mv[6]*t[48+u] + mv[7]*t[56+u]
		}
	}
}

// inverse writes into dst the 8×8 block whose transform is src.
func (tr *blockTransform) inverse(dst, src []float32) {
	var t [64]float32
	mi := &tr.inv
	src = src[:64]
	// Columns: t[r][u] = sum_v inv[r][v] * src[v][u].
	for r := range 8 {
		c := mi[r*8 : r*8+8]
		for u := range 8 {
			t[r*8+u] = c[0]*src[u] + c[1]*src[8+u] + c[2]*src[16+u] + c[3]*src[24+u] +
				c[4]*src[32+u] + c[5]*src[40+u] + c[6]*src[48+u] + c[7]*src[56+u]
		}
	}
	// Rows: dst[r][x] = sum_u t[r][u] * inv[x][u].
	dst = dst[:64]
	for r := range 8 {
		row := t[r*8 : r*8+8]
		for x := range 8 {
			c := mi[x*8 : x*8+8]
			dst[r*8+x] = row[0]*c[0] + row[1]*c[1] + row[2]*c[2] + row[3]*c[3] +
				row[4]*c[4] + row[5]*c[5] + row[6]*c[6] + row[7]*c[7]
		}
	}
}
