package ae

import (
	"fmt"
	"image"
	"image/draw"
	"sync"
	"time"
)

// BatchDenoiser gathers images from concurrent callers into shared batches
// (dynamic batching): the first caller opens a batch and waits up to MaxWait
// for others to join; the batch closes early once its patches reach
// MaxRows. All images of a batch go through one run of matrix multiplies, so
// throughput grows with load, while a lone image waits at most MaxWait. A
// BatchDenoiser serves one model, so no batch mixes two versions. It is safe
// for concurrent use and holds no goroutine of its own.
type BatchDenoiser struct {
	model   *Model
	maxRows int
	maxWait time.Duration

	mu   sync.Mutex
	open *gathering
	pool sync.Pool // *Denoiser, for the conversions to and from planes
}

// Defaults of NewBatchDenoiser.
const (
	DefaultBatchRows = 8192
	DefaultBatchWait = 5 * time.Millisecond
)

// NewBatchDenoiser batches for m. maxRows <= 0 takes DefaultBatchRows;
// maxWait < 0 takes DefaultBatchWait, and 0 turns waiting off (callers that
// arrive while a batch is being gathered still join it).
func NewBatchDenoiser(m *Model, maxRows int, maxWait time.Duration) *BatchDenoiser {
	if maxRows <= 0 {
		maxRows = DefaultBatchRows
	}
	if maxWait < 0 {
		maxWait = DefaultBatchWait
	}
	b := &BatchDenoiser{model: m, maxRows: maxRows, maxWait: maxWait}
	b.pool.New = func() any { return &Denoiser{Model: m} }
	return b
}

// Model is the model the batches run.
func (b *BatchDenoiser) Model() *Model { return b.model }

// Version is the model's version.
func (b *BatchDenoiser) Version() string { return b.model.Version() }

// PixelWeight is the memory a pixel takes while this model denoises it,
// relative to a plain model: a guided model also holds its pilot's estimate,
// two guides and the refinement's accumulators, about 3.5 times as much
// (measured on 0.26 to 2.1 megapixel grey images: 55–70 bytes a pixel
// against 17–18).
func (b *BatchDenoiser) PixelWeight() float64 {
	if b.model.Pilot != nil {
		return 3.5
	}
	return 1
}

// DenoiseImage denoises img with a per-image noise estimate; see
// [Model.DenoiseImage].
func (b *BatchDenoiser) DenoiseImage(img image.Image) (image.Image, error) {
	return b.DenoiseImageSigma(img, -1)
}

// gathering is one batch being gathered.
type gathering struct {
	reqs   []*request
	rows   int
	sealed bool
	full   chan struct{} // closed when the batch is sealed for size
	done   chan struct{} // closed when every request has its result
}

type request struct {
	d     *Denoiser
	alpha image.Image
	out   image.Image
	err   error
}

// DenoiseImageSigma denoises img in the next batch; see
// [Model.DenoiseImageSigma]. The returned image belongs to the caller.
func (b *BatchDenoiser) DenoiseImageSigma(img image.Image, sigma float64) (image.Image,
	error) {
	d := b.pool.Get().(*Denoiser)
	defer b.pool.Put(d)
	alpha, err := d.load(img, sigma)
	if err != nil {
		return nil, err
	}
	stride, err := b.model.checkJobs(d.job[:], 0)
	if err != nil {
		return nil, err
	}
	r := &request{d: d, alpha: alpha}
	rows := len(d.src) * patchCount(b.model.Header.Arch, d.src[0].W, d.src[0].H, stride)

	b.mu.Lock()
	g, leader := b.open, b.open == nil
	if leader {
		g = &gathering{full: make(chan struct{}), done: make(chan struct{})}
		b.open = g
	}
	g.reqs = append(g.reqs, r)
	g.rows += rows
	if g.rows >= b.maxRows || b.maxWait == 0 {
		b.seal(g)
	}
	b.mu.Unlock()

	if !leader {
		<-g.done
		return r.out, r.err
	}
	if b.maxWait > 0 {
		t := time.NewTimer(b.maxWait)
		select {
		case <-g.full:
		case <-t.C:
		}
		t.Stop()
	}
	b.mu.Lock()
	b.seal(g)
	b.mu.Unlock()
	b.runAll(g, stride)
	return r.out, r.err
}

// runAll runs the batch and releases every caller waiting on it, also when
// the run panics: then each image of the batch gets the panic as its error,
// and no caller is left waiting.
func (b *BatchDenoiser) runAll(g *gathering, stride int) {
	defer close(g.done)
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("denoise batch of %d images: panic: %v", len(g.reqs), p)
			for _, r := range g.reqs {
				r.out, r.err = nil, err
			}
		}
	}()
	b.run(g, stride)
}

// seal closes g to newcomers; b.mu is held.
func (b *BatchDenoiser) seal(g *gathering) {
	if g.sealed {
		return
	}
	g.sealed = true
	close(g.full)
	if b.open == g {
		b.open = nil
	}
}

// run denoises a sealed batch and gives each request its own output image.
func (b *BatchDenoiser) run(g *gathering, stride int) {
	jobs := make([]Job, len(g.reqs))
	for i, r := range g.reqs {
		jobs[i] = r.d.job[0]
	}
	bt := batchers.Get().(*batcher)
	b.model.denoiseJobs(bt, jobs, stride)
	batchers.Put(bt)
	for _, r := range g.reqs {
		r.out = cloneImage(r.d.render(r.alpha))
	}
}

// cloneImage copies a *image.Gray or *image.NRGBA.
func cloneImage(img image.Image) image.Image {
	switch s := img.(type) {
	case *image.Gray:
		return &image.Gray{Pix: append([]uint8(nil), s.Pix...), Stride: s.Stride, Rect: s.Rect}
	case *image.NRGBA:
		return &image.NRGBA{Pix: append([]uint8(nil), s.Pix...), Stride: s.Stride, Rect: s.Rect}
	case *image.Gray16:
		return &image.Gray16{Pix: append([]uint8(nil), s.Pix...), Stride: s.Stride,
			Rect: s.Rect}
	case *image.NRGBA64:
		return &image.NRGBA64{Pix: append([]uint8(nil), s.Pix...), Stride: s.Stride,
			Rect: s.Rect}
	}
	out := image.NewNRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, img.Bounds().Min, draw.Src)
	return out
}

// patchCount is the number of patches of one w×h plane at the stride.
func patchCount(a Arch, w, h, stride int) int {
	along := func(n int) int {
		n = max(n, a.PatchOut)
		return (n-a.PatchOut+stride-1)/stride + 1
	}
	return along(w) * along(h)
}
