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

// workspace holds the scratch memory of one plane denoise.
type workspace struct {
	acts       Activations
	xmap, ymap []int
	xs, ys     []int
	acc, wsum  []float32
	win        []float32
	winSide    int
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// DenoisePlane writes into dst the denoised version of src, a plane with
// noise of standard deviation sigma (0–255 scale), evaluating patches at the
// given stride (0 means the model's default). dst and src may not overlap.
func (m *Model) DenoisePlane(dst, src Plane, sigma float32, stride int) error {
	a := m.Header.Arch
	if stride == 0 {
		stride = a.Stride
	}
	switch {
	case src.W < 1 || src.H < 1 || len(src.Pix) != src.W*src.H:
		return fmt.Errorf("denoise plane: bad size %dx%d with %d pixels",
			src.W, src.H, len(src.Pix))
	case dst.W != src.W || dst.H != src.H || len(dst.Pix) != len(src.Pix):
		return fmt.Errorf("denoise plane: destination %dx%d, source %dx%d",
			dst.W, dst.H, src.W, src.H)
	case stride < 1:
		return fmt.Errorf("denoise plane: stride %d", stride)
	}
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	m.denoisePlane(ws, dst, src, sigma, stride)
	return nil
}

func (m *Model) denoisePlane(ws *workspace, dst, src Plane, sigma float32, stride int) {
	a := m.Header.Arch
	pi, po := a.PatchIn, a.PatchOut
	off := (pi - po) / 2
	cw, ch := max(src.W, po), max(src.H, po)

	// Index maps from padded canvas coordinates to source pixels.
	ws.xmap = grow(ws.xmap, cw+2*off)
	for i := range ws.xmap {
		ws.xmap[i] = mirror(i-off, src.W)
	}
	ws.ymap = grow(ws.ymap, ch+2*off)
	for i := range ws.ymap {
		ws.ymap[i] = mirror(i-off, src.H) * src.W
	}
	ws.xs = positions(ws.xs, cw, po, stride)
	ws.ys = positions(ws.ys, ch, po, stride)
	ws.acc = grow(ws.acc, cw*ch)
	ws.wsum = grow(ws.wsum, cw*ch)
	clear(ws.acc)
	clear(ws.wsum)
	if ws.winSide != po {
		ws.win, ws.winSide = blendWindow(po), po
	}

	scale := m.Header.NormScale
	inv := 1 / scale
	nin := a.Inputs()
	total := len(ws.xs) * len(ws.ys)
	for start := 0; start < total; start += MaxBatchRows {
		rows := min(MaxBatchRows, total-start)
		x := ws.acts.Input(m.Net, rows)

		// Gather the input patches, normalised.
		for r := range rows {
			p := start + r
			ox, oy := ws.xs[p%len(ws.xs)], ws.ys[p/len(ws.xs)]
			row := x[r*nin : (r+1)*nin]
			for dy := range pi {
				base := ws.ymap[oy+dy]
				xm := ws.xmap[ox : ox+pi]
				dr := row[dy*pi : (dy+1)*pi]
				for dx, xi := range xm {
					dr[dx] = (src.Pix[base+xi] - 127.5) * inv
				}
			}
			if a.SigmaInput {
				row[pi*pi] = sigma * inv
			}
		}

		out := m.Net.Forward(&ws.acts)

		// Blend the estimates (noisy centre minus predicted noise).
		for r := range rows {
			p := start + r
			ox, oy := ws.xs[p%len(ws.xs)], ws.ys[p/len(ws.xs)]
			row := x[r*nin : (r+1)*nin]
			pred := out[r*po*po : (r+1)*po*po]
			for dy := range po {
				ci := (dy+off)*pi + off
				ai := (oy+dy)*cw + ox
				acc := ws.acc[ai : ai+po]
				wsum := ws.wsum[ai : ai+po]
				win := ws.win[dy*po : (dy+1)*po]
				for dx := range po {
					est := (row[ci+dx]-pred[dy*po+dx])*scale + 127.5
					acc[dx] += win[dx] * est
					wsum[dx] += win[dx]
				}
			}
		}
	}

	for y := range src.H {
		acc := ws.acc[y*cw : y*cw+src.W]
		wsum := ws.wsum[y*cw : y*cw+src.W]
		d := dst.Pix[y*src.W : (y+1)*src.W]
		for x := range d {
			d[x] = acc[x] / wsum[x]
		}
	}
}
