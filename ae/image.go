package ae

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
)

// IsGrey reports whether img is stored with a single grey channel.
func IsGrey(img image.Image) bool {
	switch img.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		return true
	}
	return false
}

// ImagePlanes converts an image into float planes on the 0–255 scale: one
// plane for grey images, R, G and B for everything else, at the image's full
// precision (16-bit values are divided by 257). Alpha is dropped; the caller
// keeps the source image to carry it. It converts as the denoiser does.
func ImagePlanes(img image.Image) []Plane {
	var d Denoiser
	if _, err := d.load(img, 0); err != nil {
		return []Plane{{}} // an empty image
	}
	return d.src
}

// to8 clamps to [0, 255] and rounds half away from zero.
func to8(v float32) uint8 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

// PlanesImage converts planes back to an 8-bit image, clamping and rounding:
// *image.Gray for one plane, *image.NRGBA for three, taking alpha from
// alphaSrc when it is not nil (else opaque). It renders as the denoiser does.
func PlanesImage(planes []Plane, alphaSrc image.Image) (image.Image, error) {
	if len(planes) != 1 && len(planes) != 3 {
		return nil, fmt.Errorf("planes to image: %d planes, want 1 or 3", len(planes))
	}
	d := Denoiser{dst: planes}
	d.job[0].Dst = planes
	var alpha image.Image
	if o, ok := alphaSrc.(interface{ Opaque() bool }); ok && !o.Opaque() {
		a := image.NewNRGBA(image.Rect(0, 0, planes[0].W, planes[0].H))
		draw.Draw(a, a.Rect, alphaSrc, alphaSrc.Bounds().Min, draw.Src)
		alpha = a
	}
	return d.render(alpha), nil
}

// Opponent colour transform: three orthogonal rows, scaled so each plane
// stays on the 0–255 scale. Noise of deviation sigma in R, G and B becomes
// independent noise of sigma·opponentNoise[c] in plane c.
var opponentNoise = [3]float32{
	float32(1 / math.Sqrt(3)), float32(1 / math.Sqrt(2)), float32(math.Sqrt(6) / 4),
}

func toOpponent(r, g, b float32) (p0, p1, p2 float32) {
	return (r + g + b) / 3, (r-b)/2 + 127.5, (r-2*g+b)/4 + 127.5
}

func fromOpponent(p0, p1, p2 float32) (r, g, b float32) {
	bb, cc := p1-127.5, p2-127.5
	return p0 + bb + 2*cc/3, p0 - 4*cc/3, p0 - bb + 2*cc/3
}

// OpponentPlanes converts R, G and B planes of one size into the opponent
// planes the denoiser works on: the luminance, then two chroma planes
// centred on 127.5. White noise of deviation sigma in R, G and B is white
// noise of sigma/√3, sigma/√2 and sigma·√6/4 in them.
func OpponentPlanes(r, g, b Plane) [3]Plane {
	var opp [3]Plane
	for c := range opp {
		opp[c] = Plane{W: r.W, H: r.H, Pix: make([]float32, len(r.Pix))}
	}
	for i := range r.Pix {
		opp[0].Pix[i], opp[1].Pix[i], opp[2].Pix[i] = toOpponent(r.Pix[i], g.Pix[i], b.Pix[i])
	}
	return opp
}

// Job is one image of a batch: a grey plane or R, G, B planes in Src, and
// as many planes of the same sizes in Dst for the result. Sigma is the noise
// deviation on the 0–255 scale; a negative Sigma asks for a per-image
// estimate ([EstimateSigma]).
type Job struct {
	Src, Dst []Plane
	Sigma    float32
}

// DenoisePlanes denoises one image's planes; see [Job].
func (m *Model) DenoisePlanes(dst, src []Plane, sigma float32, stride int) error {
	return m.DenoiseJobs([]Job{{Src: src, Dst: dst, Sigma: sigma}}, stride)
}

// DenoiseJobs denoises several images together: the patches of all of them
// share batches, so small images fill the matrix multiply as well as large
// ones. stride 0 is the model's default. Warm calls allocate nothing.
func (m *Model) DenoiseJobs(jobs []Job, stride int) error {
	stride, err := m.checkJobs(jobs, stride)
	if err != nil {
		return err
	}
	b := batchers.Get().(*batcher)
	defer batchers.Put(b)
	m.denoiseJobs(b, jobs, stride)
	return nil
}

// Stride resolves a patch stride for m: 0 is the model's default, and
// others must lie between 1 and the output patch size, or the pixels
// between patches would get no estimate.
func (m *Model) Stride(stride int) (int, error) {
	if stride == 0 {
		stride = m.Header.Arch.Stride
	}
	if po := m.Header.Arch.PatchOut; stride < 1 || stride > po {
		return 0, fmt.Errorf("stride %d: want 1 to the output patch size %d, "+
			"or the pixels between patches would get no estimate", stride, po)
	}
	return stride, nil
}

// checkJobs validates jobs and resolves the stride.
func (m *Model) checkJobs(jobs []Job, stride int) (int, error) {
	stride, err := m.Stride(stride)
	if err != nil {
		return 0, fmt.Errorf("denoise: %w", err)
	}
	for i, j := range jobs {
		if s := float64(j.Sigma); math.IsNaN(s) || s > 255 {
			return 0, fmt.Errorf("denoise: job %d: noise sigma %v: want 0 to 255, or a "+
				"negative value to estimate it", i, j.Sigma)
		}
		if len(j.Dst) != len(j.Src) || (len(j.Src) != 1 && len(j.Src) != 3) {
			return 0, fmt.Errorf("denoise: job %d has %d source and %d destination planes, "+
				"want 1 or 3 of each", i, len(j.Src), len(j.Dst))
		}
		for c := range j.Src {
			if err := checkPlanes(j.Dst[c], j.Src[c]); err != nil {
				return 0, fmt.Errorf("denoise: job %d plane %d: %w", i, c, err)
			}
			if len(j.Src[c].Pix) != len(j.Src[0].Pix) {
				return 0, fmt.Errorf("denoise: job %d: planes differ in size", i)
			}
		}
	}
	return stride, nil
}

// denoiseJobs runs checked jobs with batcher b.
func (m *Model) denoiseJobs(b *batcher, jobs []Job, stride int) {
	defer b.reset()
	for _, j := range jobs {
		if len(j.Src) == 1 {
			sigma := j.Sigma
			if sigma < 0 {
				sigma = m.trainedRange(estimateSigma(j.Src[0], j.Src, &b.est))
			}
			b.addTask(j.Src[0], j.Dst[0], sigma)
			continue
		}
		b.addColour(j, m)
	}
	if m.Pilot != nil {
		b.guide(m.Pilot, jobs)
	}
	b.run(m, stride)
	if m.Pilot != nil {
		for i, t := range b.tasks {
			if fewBlocks(t.src.W, t.src.H) {
				copy(t.dst.Pix, b.pilots[i].Pix)
			}
		}
	}
	k := 0
	for _, j := range jobs {
		if len(j.Src) == 3 {
			fromOpponentPlanes(j.Dst, b.oppOut[k])
			k++
		}
	}
}

// fewBlocks says whether a w×h plane has too few block positions for a
// guided model: fewer than a 14×14 plane's 49. Its guides then have few
// similar blocks to average (none below 8×8), and the pilot alone does
// better: on Set12 crops at sigma 15 and 50, 0.1–1.5 dB better from 9×9 to
// 15×13, while 14×14 and 12×17 gain from the guides.
func fewBlocks(w, h int) bool {
	const k = refineBlock
	return w < k || h < k || (w-k+1)*(h-k+1) < 49
}

// guide runs the pilot over every task, at the pilot's own stride, and
// makes each image's two guides ([MakeGuides]).
func (b *batcher) guide(pilot *Model, jobs []Job) {
	n := len(b.tasks)
	b.pilots, b.basics = growPlanes(b.pilots, n), growPlanes(b.basics, n)
	b.guides1, b.guides2 = growPlanes(b.guides1, n), growPlanes(b.guides2, n)
	dsts := b.dsts[:0]
	for i := range b.tasks {
		t := &b.tasks[i]
		w, h := t.src.W, t.src.H
		for _, ps := range [][]Plane{b.pilots, b.basics, b.guides1, b.guides2} {
			ps[i] = Plane{W: w, H: h, Pix: grow(ps[i].Pix, w*h)}
		}
		dsts = append(dsts, t.dst)
		t.dst = b.pilots[i]
	}
	b.dsts = dsts
	b.run(pilot, pilot.Header.Arch.Stride)
	k := 0
	for _, j := range jobs {
		c := len(j.Src)
		b.srcs, b.sigmas = b.srcs[:0], b.sigmas[:0]
		for i := k; i < k+c; i++ {
			b.srcs = append(b.srcs, b.tasks[i].src)
			b.sigmas = append(b.sigmas, b.tasks[i].sigma)
		}
		MakeGuides(b.guides1[k:k+c], b.guides2[k:k+c], b.basics[k:k+c], b.srcs,
			b.pilots[k:k+c], b.sigmas)
		k += c
	}
	for i := range b.tasks {
		t := &b.tasks[i]
		t.dst, t.guide = b.dsts[i], [2]Plane{b.guides1[i], b.guides2[i]}
	}
}

func growPlanes(ps []Plane, n int) []Plane {
	for len(ps) < n {
		ps = append(ps, Plane{})
	}
	return ps[:n]
}

// addColour converts a colour job to opponent planes in reused buffers and
// adds a task per plane, with the noise deviation each plane carries.
func (b *batcher) addColour(j Job, m *Model) {
	n := len(j.Src[0].Pix)
	if len(b.opp) < cap(b.opp) {
		b.opp, b.oppOut = b.opp[:len(b.opp)+1], b.oppOut[:len(b.oppOut)+1]
	} else {
		b.opp, b.oppOut = append(b.opp, [3]Plane{}), append(b.oppOut, [3]Plane{})
	}
	opp, out := &b.opp[len(b.opp)-1], &b.oppOut[len(b.oppOut)-1]
	for c := range 3 {
		opp[c] = Plane{W: j.Src[0].W, H: j.Src[0].H, Pix: grow(opp[c].Pix, n)}
		out[c] = Plane{W: j.Src[0].W, H: j.Src[0].H, Pix: grow(out[c].Pix, n)}
	}
	r, g, bl := j.Src[0].Pix, j.Src[1].Pix[:n], j.Src[2].Pix[:n]
	for i := range r {
		opp[0].Pix[i], opp[1].Pix[i], opp[2].Pix[i] = toOpponent(r[i], g[i], bl[i])
	}
	sigma := j.Sigma
	if sigma < 0 {
		var est [3]float32
		for c := range opp {
			est[c] = estimateSigma(opp[c], j.Src, &b.est)
			est[c] /= opponentNoise[c]
		}
		slices.Sort(est[:])
		sigma = m.trainedRange(est[1])
	}
	for c := range opp {
		b.addTask(opp[c], out[c], sigma*opponentNoise[c])
	}
}

func fromOpponentPlanes(dst []Plane, opp [3]Plane) {
	r, g, b := dst[0].Pix, dst[1].Pix, dst[2].Pix
	for i := range r {
		r[i], g[i], b[i] = fromOpponent(opp[0].Pix[i], opp[1].Pix[i], opp[2].Pix[i])
	}
}

// DenoiseImage denoises an image whose noise level is unknown, estimating it
// per image ([EstimateSigma]). The output keeps the input's size, channel
// layout and depth where PNG can carry it: grey comes back as *image.Gray
// (*image.Gray16 for 16-bit input), everything else as *image.NRGBA
// (*image.NRGBA64) with the source's alpha; paletted, CMYK and YCbCr inputs
// become RGB.
func (m *Model) DenoiseImage(img image.Image) (image.Image, error) {
	return m.DenoiseImageSigma(img, -1)
}

// DenoiseImageSigma is DenoiseImage for a known noise deviation sigma on the
// 0–255 scale; a negative sigma asks for the estimate.
func (m *Model) DenoiseImageSigma(img image.Image, sigma float64) (image.Image, error) {
	d := &Denoiser{Model: m}
	return d.Denoise(img, sigma)
}

// EstimateSigma estimates the deviation of white Gaussian noise in a plane
// from the smallest eigenvalue of its 8×8 patch covariance (Pyatykh et al.,
// 2013), over its weakly textured patches (Liu et al., 2013); planes with
// fewer than 1024 patch positions (under about 39×39) use the wavelet MAD
// estimator instead.
func EstimateSigma(p Plane) float32 {
	var s estScratch
	return estimateSigma(p, []Plane{p}, &s)
}

// trainedRange limits an estimated noise level to the range the model was
// trained on, where it has one: outside it the net was never trained, and an
// estimate there is most likely texture read as noise.
func (m *Model) trainedRange(sigma float32) float32 {
	n := m.Header.TrainNoise
	if n.SigmaMax <= 0 {
		return sigma
	}
	return min(max(sigma, float32(n.SigmaMin)), float32(n.SigmaMax))
}
