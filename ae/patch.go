package ae

import (
	"fmt"
	"math"
	"sync"
)

// Plane is one image channel on the 0–255 scale, row-major, W×H.
type Plane struct {
	W, H int
	Pix  []float32
}

// MaxBatchRows bounds the patches evaluated in one batch, and so the memory a
// denoise call uses.
const MaxBatchRows = 2048

// mirror maps any integer to [0, n) by symmetric reflection at the borders
// (… 2 1 0 | 0 1 2 … n-1 | n-1 n-2 …), which works for every n >= 1.
func mirror(i, n int) int {
	p := 2 * n
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - 1 - i
	}
	return i
}

// positions returns the start of every output patch of side po along a canvas
// of length n >= po at stride s, the last one flush with the end.
func positions(dst []int, n, po, s int) []int {
	dst = dst[:0]
	for x := 0; x+po < n; x += s {
		dst = append(dst, x)
	}
	return append(dst, n-po)
}

// blendWindow returns the separable Gaussian weights of an output patch.
func blendWindow(po int) []float32 {
	g := make([]float64, po)
	c, sd := float64(po-1)/2, 0.4*float64(po)
	for i := range g {
		d := (float64(i) - c) / sd
		g[i] = math.Exp(-0.5 * d * d)
	}
	w := make([]float32, po*po)
	for y := range po {
		for x := range po {
			w[y*po+x] = float32(g[y] * g[x])
		}
	}
	return w
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// planeTask is one plane's share of a batch: where its patches come from and
// where their estimates accumulate.
type planeTask struct {
	src, dst   Plane
	guide      [2]Plane // a guided net's guides; unused otherwise
	sigma      float32
	cw, ch     int // canvas: the plane grown to at least one output patch
	xmap, ymap []int
	xs, ys     []int
	acc, wsum  []float32
}

func (t *planeTask) patches() int { return len(t.xs) * len(t.ys) }

// prepare sizes the task's maps and accumulators for its plane.
func (t *planeTask) prepare(a Arch, stride int) {
	pi, po := a.PatchIn, a.PatchOut
	off := (pi - po) / 2
	t.cw, t.ch = max(t.src.W, po), max(t.src.H, po)
	t.xmap = grow(t.xmap, t.cw+2*off)
	for i := range t.xmap {
		t.xmap[i] = mirror(i-off, t.src.W)
	}
	t.ymap = grow(t.ymap, t.ch+2*off)
	for i := range t.ymap {
		t.ymap[i] = mirror(i-off, t.src.H) * t.src.W
	}
	t.xs = positions(t.xs, t.cw, po, stride)
	t.ys = positions(t.ys, t.ch, po, stride)
	t.acc = grow(t.acc, t.cw*t.ch)
	t.wsum = grow(t.wsum, t.cw*t.ch)
	clear(t.acc)
	clear(t.wsum)
}

// finish divides the accumulated estimates by their weights into dst.
func (t *planeTask) finish() {
	w := t.src.W
	for y := range t.src.H {
		acc := t.acc[y*t.cw : y*t.cw+w]
		wsum := t.wsum[y*t.cw : y*t.cw+w]
		d := t.dst.Pix[y*w : (y+1)*w]
		for x := range d {
			d[x] = acc[x] / wsum[x]
		}
	}
}

// batcher evaluates the patches of many plane tasks in shared batches. Its
// memory is reused from call to call, so a warm batcher allocates nothing.
type batcher struct {
	tasks   []planeTask
	acts    Activations
	rowTask []int32 // task of each row of the current batch
	rowIdx  []int32 // patch index within that task
	win     []float32
	winSide int
	opp     [][3]Plane // opponent-colour buffers, one set per colour job
	oppOut  [][3]Plane
	est     estScratch

	// Index maps of the input and output patches of each view after the
	// first (see [Arch.Ensemble]), and one patch of scratch.
	inPerm, outPerm []int32
	tmp             []float32

	// A guided model's pilot and first-step estimates and guides, one per
	// task.
	pilots, basics, guides1, guides2, dsts, srcs []Plane
	sigmas, mean                                 []float32
}

var batchers = sync.Pool{New: func() any { return new(batcher) }}

func (b *batcher) addTask(src, dst Plane, sigma float32) {
	if len(b.tasks) < cap(b.tasks) {
		b.tasks = b.tasks[:len(b.tasks)+1]
	} else {
		b.tasks = append(b.tasks, planeTask{})
	}
	t := &b.tasks[len(b.tasks)-1]
	t.src, t.dst, t.sigma = src, dst, sigma
}

// run denoises every task added.
func (b *batcher) run(m *Model, stride int) {
	a := m.Header.Arch
	pi, po := a.PatchIn, a.PatchOut
	off := (pi - po) / 2
	if b.winSide != po {
		b.win, b.winSide = blendWindow(po), po
	}
	views := a.views()
	if views > 1 && (len(b.inPerm) != views*pi*pi || len(b.outPerm) != views*po*po) {
		b.inPerm, b.outPerm = viewPerms(pi, views), viewPerms(po, views)
	}
	b.tmp = grow(b.tmp, max(pi*pi, po*po))
	total := 0
	for i := range b.tasks {
		b.tasks[i].prepare(a, stride)
		total += b.tasks[i].patches() * views
	}
	scale := m.Header.NormScale
	inv := 1 / scale
	nin := a.Inputs()
	gOff := a.guideOffset()
	b.mean = grow(b.mean, po)
	ti, pidx := 0, 0
	for done := 0; done < total; {
		rows := min(MaxBatchRows, total-done)
		x := b.acts.Input(m.Net, rows)
		b.rowTask = grow(b.rowTask, rows)
		b.rowIdx = grow(b.rowIdx, rows)

		// Gather the input patches, normalised, walking across tasks.
		for r := range rows {
			for pidx == b.tasks[ti].patches()*views {
				ti, pidx = ti+1, 0
			}
			t := &b.tasks[ti]
			b.rowTask[r], b.rowIdx[r] = int32(ti), int32(pidx)
			p, v := pidx/views, pidx%views
			ox, oy := t.xs[p%len(t.xs)], t.ys[p/len(t.xs)]
			row := x[r*nin : (r+1)*nin]
			for dy := range pi {
				base := t.ymap[oy+dy]
				dr := row[dy*pi : (dy+1)*pi]
				for dx, xi := range t.xmap[ox : ox+pi] {
					dr[dx] = (t.src.Pix[base+xi] - 127.5) * inv
				}
			}
			if a.SigmaInput {
				row[pi*pi] = t.sigma * inv
			}
			if a.Guided {
				g1, g2 := row[gOff:gOff+pi*pi], row[gOff+pi*pi:gOff+2*pi*pi]
				for dy := range pi {
					base := t.ymap[oy+dy]
					d1, d2 := g1[dy*pi:(dy+1)*pi], g2[dy*pi:(dy+1)*pi]
					for dx, xi := range t.xmap[ox : ox+pi] {
						d1[dx] = (t.guide[0].Pix[base+xi] - 127.5) * inv
						d2[dx] = (t.guide[1].Pix[base+xi] - 127.5) * inv
					}
				}
			}
			if v > 0 {
				perm := b.inPerm[v*pi*pi : (v+1)*pi*pi]
				permute(row[:pi*pi], b.tmp, perm)
				if a.Guided {
					permute(row[gOff:gOff+pi*pi], b.tmp, perm)
					permute(row[gOff+pi*pi:gOff+2*pi*pi], b.tmp, perm)
				}
			}
			pidx++
		}

		out := m.Net.Forward(&b.acts)
		countBatch(rows)

		// Blend the estimates (noisy centre minus predicted noise).
		for r := range rows {
			t := &b.tasks[b.rowTask[r]]
			p, v := int(b.rowIdx[r])/views, int(b.rowIdx[r])%views
			ox, oy := t.xs[p%len(t.xs)], t.ys[p/len(t.xs)]
			row := x[r*nin : (r+1)*nin]
			pred := out[r*po*po : (r+1)*po*po]
			est := b.tmp[:po*po]
			for dy := range po {
				ci := (dy+off)*pi + off
				// A plain net predicts the noise of the noisy centre, a
				// guided one the error of its guides' mean.
				in := row[ci : ci+po]
				if a.Guided {
					g1 := row[gOff+ci : gOff+ci+po]
					g2 := row[gOff+pi*pi+ci : gOff+pi*pi+ci+po]
					in = b.mean[:po]
					for dx := range po {
						in[dx] = 0.5 * (g1[dx] + g2[dx])
					}
				}
				pr := pred[dy*po : (dy+1)*po]
				if v == 0 {
					e := est[dy*po : (dy+1)*po]
					for dx := range po {
						e[dx] = (in[dx]-pr[dx])*scale + 127.5
					}
					continue
				}
				// Back from the view to the image's orientation.
				perm := b.outPerm[(v*po+dy)*po : (v*po+dy+1)*po]
				for dx := range po {
					est[perm[dx]] = (in[dx]-pr[dx])*scale + 127.5
				}
			}
			for dy := range po {
				ai := (oy+dy)*t.cw + ox
				acc := t.acc[ai : ai+po]
				wsum := t.wsum[ai : ai+po]
				win := b.win[dy*po : (dy+1)*po]
				for dx, e := range est[dy*po : (dy+1)*po] {
					acc[dx] += win[dx] * e
					wsum[dx] += win[dx]
				}
			}
		}
		done += rows
	}
	for i := range b.tasks {
		b.tasks[i].finish()
	}
}

// reset forgets the tasks, keeping their memory.
func (b *batcher) reset() {
	for i := range b.tasks {
		b.tasks[i].src, b.tasks[i].dst, b.tasks[i].guide = Plane{}, Plane{}, [2]Plane{}
	}
	b.tasks = b.tasks[:0]
	b.opp = b.opp[:0]
	b.oppOut = b.oppOut[:0]
	clear(b.dsts)
	clear(b.srcs)
}

// maxPixel bounds the magnitude of an input pixel.
const maxPixel = 1e6

func checkPlanes(dst, src Plane) error {
	switch {
	case src.W < 1 || src.H < 1 || len(src.Pix) != src.W*src.H:
		return fmt.Errorf("bad plane size %dx%d with %d pixels", src.W, src.H, len(src.Pix))
	case dst.W != src.W || dst.H != src.H || len(dst.Pix) != len(src.Pix):
		return fmt.Errorf("destination %dx%d, source %dx%d", dst.W, dst.H, src.W, src.H)
	}
	// One NaN or infinity would spread over every patch and group it meets
	// (and, through the noise estimate, over the whole image); values far off
	// the 0–255 scale overflow float32 sums into infinities.
	for i, v := range src.Pix {
		if v-v != 0 || v > maxPixel || v < -maxPixel {
			return fmt.Errorf("pixel (%d, %d) is %v; pixels must be finite, within ±%g "+
				"(the scale is 0–255)", i%src.W, i/src.W, v, float32(maxPixel))
		}
	}
	return nil
}

// DenoisePlane writes into dst the denoised version of src, a plane with
// noise of standard deviation sigma (0–255 scale), evaluating patches at the
// given stride (0 means the model's default). dst and src may not overlap.
func (m *Model) DenoisePlane(dst, src Plane, sigma float32, stride int) error {
	return m.DenoiseJobs([]Job{{Dst: []Plane{dst}, Src: []Plane{src}, Sigma: sigma}}, stride)
}

// viewPerms maps each element of an n×n patch, seen in each of the first
// views of the eight symmetries of the square, to its index in the patch:
// view v transposes when bit 0 is set, then mirrors x for bit 1 and y for
// bit 2. The Gaussian blending window is the same in every view.
func viewPerms(n, views int) []int32 {
	perm := make([]int32, views*n*n)
	for v := range views {
		for y := range n {
			for x := range n {
				sy, sx := y, x
				if v&1 != 0 {
					sy, sx = sx, sy
				}
				if v&2 != 0 {
					sx = n - 1 - sx
				}
				if v&4 != 0 {
					sy = n - 1 - sy
				}
				perm[(v*n+y)*n+x] = int32(sy*n + sx)
			}
		}
	}
	return perm
}

// permute rearranges p into the view that perm describes, with tmp as
// scratch of at least len(p).
func permute(p, tmp []float32, perm []int32) {
	copy(tmp, p)
	for i, j := range perm {
		p[i] = tmp[j]
	}
}
