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
// plane for grey images, R, G and B for everything else. Alpha is dropped;
// the caller keeps the source image to carry it.
func ImagePlanes(img image.Image) []Plane {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if g, ok := img.(*image.Gray); ok {
		p := Plane{W: w, H: h, Pix: make([]float32, w*h)}
		for y := range h {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, v := range row {
				p.Pix[y*w+x] = float32(v)
			}
		}
		return []Plane{p}
	}
	if IsGrey(img) {
		p := Plane{W: w, H: h, Pix: make([]float32, w*h)}
		for y := range h {
			for x := range w {
				v := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				p.Pix[y*w+x] = float32(v.Y)
			}
		}
		return []Plane{p}
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	planes := make([]Plane, 3)
	for c := range planes {
		planes[c] = Plane{W: w, H: h, Pix: make([]float32, w*h)}
	}
	for i := 0; i < w*h; i++ {
		y, x := i/w, i%w
		px := rgba.Pix[y*rgba.Stride+4*x:]
		planes[0].Pix[i] = float32(px[0])
		planes[1].Pix[i] = float32(px[1])
		planes[2].Pix[i] = float32(px[2])
	}
	return planes
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
// alphaSrc when it is not nil (else opaque).
func PlanesImage(planes []Plane, alphaSrc image.Image) (image.Image, error) {
	if len(planes) == 0 {
		return nil, fmt.Errorf("planes to image: no planes")
	}
	w, h := planes[0].W, planes[0].H
	switch len(planes) {
	case 1:
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i, v := range planes[0].Pix {
			g.Pix[i] = to8(v)
		}
		return g, nil
	case 3:
		out := image.NewNRGBA(image.Rect(0, 0, w, h))
		var ab image.Rectangle
		if alphaSrc != nil {
			ab = alphaSrc.Bounds()
		}
		for i := 0; i < w*h; i++ {
			y, x := i/w, i%w
			px := out.Pix[y*out.Stride+4*x:]
			px[0], px[1], px[2] = to8(planes[0].Pix[i]), to8(planes[1].Pix[i]),
				to8(planes[2].Pix[i])
			px[3] = 255
			if alphaSrc != nil {
				c := color.NRGBAModel.Convert(alphaSrc.At(ab.Min.X+x, ab.Min.Y+y))
				px[3] = c.(color.NRGBA).A
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("planes to image: %d planes, want 1 or 3", len(planes))
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

// DenoisePlanes denoises a grey plane or R, G, B planes carrying Gaussian
// noise of deviation sigma, writing into dst (same shapes). A negative sigma
// asks for a per-image estimate. stride 0 is the model's default.
func (m *Model) DenoisePlanes(dst, src []Plane, sigma float32, stride int) error {
	if len(dst) != len(src) {
		return fmt.Errorf("denoise: %d destination planes for %d", len(dst), len(src))
	}
	switch len(src) {
	case 1:
		if sigma < 0 {
			sigma = EstimateSigma(src[0])
		}
		return m.DenoisePlane(dst[0], src[0], sigma, stride)
	case 3:
		return m.denoiseRGB(dst, src, sigma, stride)
	}
	return fmt.Errorf("denoise: %d planes, want 1 or 3", len(src))
}

func (m *Model) denoiseRGB(dst, src []Plane, sigma float32, stride int) error {
	n := len(src[0].Pix)
	for _, p := range src[1:] {
		if len(p.Pix) != n {
			return fmt.Errorf("denoise: colour planes differ in size")
		}
	}
	opp := make([]Plane, 3)
	for c := range opp {
		opp[c] = Plane{W: src[0].W, H: src[0].H, Pix: make([]float32, n)}
	}
	for i := range n {
		opp[0].Pix[i], opp[1].Pix[i], opp[2].Pix[i] =
			toOpponent(src[0].Pix[i], src[1].Pix[i], src[2].Pix[i])
	}
	if sigma < 0 {
		var est []float32
		for c := range opp {
			est = append(est, EstimateSigma(opp[c])/opponentNoise[c])
		}
		slices.Sort(est)
		sigma = est[1]
	}
	for c := range opp {
		out := Plane{W: opp[c].W, H: opp[c].H, Pix: dst[c].Pix}
		if err := m.DenoisePlane(out, opp[c], sigma*opponentNoise[c], stride); err != nil {
			return err
		}
	}
	for i := range n {
		dst[0].Pix[i], dst[1].Pix[i], dst[2].Pix[i] =
			fromOpponent(dst[0].Pix[i], dst[1].Pix[i], dst[2].Pix[i])
	}
	return nil
}

// DenoiseImage denoises an image whose noise level is unknown, estimating it
// per image ([EstimateSigma]). Grey images come back as *image.Gray, others as
// *image.NRGBA with the source's alpha, always the same size.
func (m *Model) DenoiseImage(img image.Image) (image.Image, error) {
	return m.DenoiseImageSigma(img, -1)
}

// DenoiseImageSigma is DenoiseImage for a known noise deviation sigma on the
// 0–255 scale; a negative sigma asks for the estimate.
func (m *Model) DenoiseImageSigma(img image.Image, sigma float64) (image.Image, error) {
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("denoise image: empty image %dx%d", b.Dx(), b.Dy())
	}
	src := ImagePlanes(img)
	dst := make([]Plane, len(src))
	for i, p := range src {
		dst[i] = Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	}
	if err := m.DenoisePlanes(dst, src, float32(sigma), 0); err != nil {
		return nil, fmt.Errorf("denoise image: %w", err)
	}
	var alpha image.Image
	if o, ok := img.(interface{ Opaque() bool }); ok && !o.Opaque() {
		alpha = img
	}
	return PlanesImage(dst, alpha)
}

// EstimateSigma estimates the deviation of white Gaussian noise in a plane
// from the median absolute diagonal Haar wavelet coefficient (Donoho and
// Johnstone's robust estimator, MAD/0.6745). Texture makes it read high.
func EstimateSigma(p Plane) float32 {
	if p.W < 2 || p.H < 2 {
		return 0
	}
	hh := make([]float32, 0, (p.W/2)*(p.H/2))
	for y := 0; y+1 < p.H; y += 2 {
		for x := 0; x+1 < p.W; x += 2 {
			a, b := p.Pix[y*p.W+x], p.Pix[y*p.W+x+1]
			c, d := p.Pix[(y+1)*p.W+x], p.Pix[(y+1)*p.W+x+1]
			v := (a - b - c + d) / 2
			hh = append(hh, float32(math.Abs(float64(v))))
		}
	}
	slices.Sort(hh)
	return hh[len(hh)/2] / 0.6745
}
