package ae

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
)

// Denoiser denoises images one after another, reusing its buffers: in the
// steady state a call allocates nothing. The image a call returns belongs to
// the Denoiser and stays valid until its next call. A Denoiser is not safe for
// concurrent use; give each goroutine its own.
type Denoiser struct {
	Model  *Model
	Stride int // 0: the model's default

	src, dst []Plane
	grey     *image.Gray
	colour   *image.NRGBA
	conv     *image.NRGBA
	deep     bool // the input has 16 bits per channel, and so has the output
	grey16   *image.Gray16
	colour16 *image.NRGBA64
	conv16   *image.NRGBA64
	job      [1]Job
	batch    batcher
}

// Denoise denoises img, whose noise deviation is sigma on the 0–255 scale (a
// negative sigma asks for a per-image estimate). Grey images come back as
// *image.Gray, others as *image.NRGBA with the source's alpha.
func (d *Denoiser) Denoise(img image.Image, sigma float64) (image.Image, error) {
	alpha, err := d.load(img, sigma)
	if err != nil {
		return nil, err
	}
	stride, err := d.Model.checkJobs(d.job[:], d.Stride)
	if err != nil {
		return nil, fmt.Errorf("denoise image: %w", err)
	}
	d.Model.denoiseJobs(&d.batch, d.job[:], stride)
	return d.render(alpha), nil
}

// load converts img into the source planes and sets up d.job; it returns the
// image holding a non-opaque alpha channel, or nil.
func (d *Denoiser) load(img image.Image, sigma float64) (image.Image, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("denoise image: empty image %dx%d", w, h)
	}
	grey := IsGrey(img)
	n := 3
	if grey {
		n = 1
	}
	d.src, d.dst = sizePlanes(d.src, n, w, h), sizePlanes(d.dst, n, w, h)
	d.deep = Is16(img)
	var alpha image.Image
	switch {
	case grey:
		d.greyPlanes(img)
	case d.deep:
		if a := d.colourPlanes16(img); a != nil {
			alpha = a
		}
	default:
		if a := d.colourPlanes(img); a != nil {
			alpha = a
		}
	}
	d.job[0] = Job{Src: d.src, Dst: d.dst, Sigma: float32(sigma)}
	if !grey && samePlanes(d.src) {
		// Grey content in a colour container (grey+alpha, R=G=B): denoise
		// one plane and give it to all three, so grey stays exactly grey.
		d.job[0] = Job{Src: d.src[:1], Dst: d.dst[:1], Sigma: float32(sigma)}
	}
	return alpha, nil
}

// samePlanes reports whether R, G and B are equal everywhere.
func samePlanes(p []Plane) bool {
	r, g, b := p[0].Pix, p[1].Pix[:len(p[0].Pix)], p[2].Pix[:len(p[0].Pix)]
	for i, v := range r {
		if g[i] != v || b[i] != v {
			return false
		}
	}
	return true
}

// render turns the destination planes into d's reused image, of 16 bits per
// channel when the input had them, else 8.
func (d *Denoiser) render(alpha image.Image) image.Image {
	if len(d.dst) == 3 && len(d.job[0].Dst) == 1 {
		copy(d.dst[1].Pix, d.dst[0].Pix)
		copy(d.dst[2].Pix, d.dst[0].Pix)
	}
	if d.deep {
		return d.render16(alpha)
	}
	a8, _ := alpha.(*image.NRGBA)
	w, h := d.dst[0].W, d.dst[0].H
	if len(d.dst) == 1 {
		d.grey = reuseGray(d.grey, w, h)
		for i, v := range d.dst[0].Pix {
			d.grey.Pix[i] = to8(v)
		}
		return d.grey
	}
	d.colour = reuseNRGBA(d.colour, w, h)
	r, g, bl := d.dst[0].Pix, d.dst[1].Pix, d.dst[2].Pix
	for y := range h {
		row := d.colour.Pix[y*d.colour.Stride : y*d.colour.Stride+4*w]
		for x := range w {
			i := y*w + x
			row[4*x], row[4*x+1], row[4*x+2] = to8(r[i]), to8(g[i]), to8(bl[i])
			row[4*x+3] = 255
			if a8 != nil {
				row[4*x+3] = a8.Pix[y*a8.Stride+4*x+3]
			}
		}
	}
	return d.colour
}

func sizePlanes(ps []Plane, n, w, h int) []Plane {
	ps = grow(ps, n)
	for i := range ps {
		ps[i] = Plane{W: w, H: h, Pix: grow(ps[i].Pix, w*h)}
	}
	return ps
}

func reuseGray(g *image.Gray, w, h int) *image.Gray {
	if g == nil || cap(g.Pix) < w*h {
		return image.NewGray(image.Rect(0, 0, w, h))
	}
	g.Pix, g.Stride, g.Rect = g.Pix[:w*h], w, image.Rect(0, 0, w, h)
	return g
}

func reuseNRGBA(c *image.NRGBA, w, h int) *image.NRGBA {
	if c == nil || cap(c.Pix) < 4*w*h {
		return image.NewNRGBA(image.Rect(0, 0, w, h))
	}
	c.Pix, c.Stride, c.Rect = c.Pix[:4*w*h], 4*w, image.Rect(0, 0, w, h)
	return c
}

func (d *Denoiser) greyPlanes(img image.Image) {
	b := img.Bounds()
	w, p := b.Dx(), d.src[0].Pix
	if g, ok := img.(*image.Gray); ok {
		for y := range b.Dy() {
			off := (y+b.Min.Y-g.Rect.Min.Y)*g.Stride + b.Min.X - g.Rect.Min.X
			for x, v := range g.Pix[off : off+w] {
				p[y*w+x] = float32(v)
			}
		}
		return
	}
	if g, ok := img.(*image.Gray16); ok {
		for y := range b.Dy() {
			off := (y+b.Min.Y-g.Rect.Min.Y)*g.Stride + 2*(b.Min.X-g.Rect.Min.X)
			row := g.Pix[off : off+2*w]
			for x := range w {
				p[y*w+x] = float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 257
			}
		}
		return
	}
	for y := range b.Dy() {
		for x := range w {
			v := color.Gray16Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray16)
			p[y*w+x] = float32(v.Y) / 257
		}
	}
}

// colourPlanes fills the R, G, B planes and returns the image holding the
// alpha channel when it is not opaque.
func (d *Denoiser) colourPlanes(img image.Image) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	r, g, bl := d.src[0].Pix, d.src[1].Pix, d.src[2].Pix
	if yc, ok := img.(*image.YCbCr); ok {
		for y := range h {
			for x := range w {
				yi := yc.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := yc.COffset(b.Min.X+x, b.Min.Y+y)
				rr, gg, bb := color.YCbCrToRGB(yc.Y[yi], yc.Cb[ci], yc.Cr[ci])
				i := y*w + x
				r[i], g[i], bl[i] = float32(rr), float32(gg), float32(bb)
			}
		}
		return nil
	}
	src, ok := img.(*image.NRGBA)
	if !ok || src.Rect.Min != b.Min {
		d.conv = reuseNRGBA(d.conv, w, h)
		draw.Draw(d.conv, d.conv.Rect, img, b.Min, draw.Src)
		src = d.conv
	}
	opaque := true
	for y := range h {
		row := src.Pix[y*src.Stride : y*src.Stride+4*w]
		for x := range w {
			i := y*w + x
			r[i], g[i], bl[i] = float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
			opaque = opaque && row[4*x+3] == 255
		}
	}
	if opaque {
		return nil
	}
	return src
}

// Is16 reports whether img has 16 bits per channel.
func Is16(img image.Image) bool {
	switch img.ColorModel() {
	case color.Gray16Model, color.RGBA64Model, color.NRGBA64Model:
		return true
	}
	return false
}

// colourPlanes16 fills the R, G, B planes from a 16-bit image, on the 0–255
// scale with its full precision, and returns the image holding a non-opaque
// alpha channel, or nil.
func (d *Denoiser) colourPlanes16(img image.Image) *image.NRGBA64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if d.conv16 == nil || cap(d.conv16.Pix) < 8*w*h {
		d.conv16 = image.NewNRGBA64(image.Rect(0, 0, w, h))
	} else {
		d.conv16.Pix, d.conv16.Stride = d.conv16.Pix[:8*w*h], 8*w
		d.conv16.Rect = image.Rect(0, 0, w, h)
	}
	src := d.conv16
	draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	r, g, bl := d.src[0].Pix, d.src[1].Pix, d.src[2].Pix
	opaque := true
	for y := range h {
		row := src.Pix[y*src.Stride : y*src.Stride+8*w]
		for x := range w {
			i, px := y*w+x, row[8*x:8*x+8]
			r[i] = float32(uint16(px[0])<<8|uint16(px[1])) / 257
			g[i] = float32(uint16(px[2])<<8|uint16(px[3])) / 257
			bl[i] = float32(uint16(px[4])<<8|uint16(px[5])) / 257
			opaque = opaque && px[6] == 0xff && px[7] == 0xff
		}
	}
	if opaque {
		return nil
	}
	return src
}

// to16 clamps a 0–255 value and scales it to 16 bits, rounding.
func to16(v float32) uint16 {
	if !(v > 0) {
		return 0
	}
	if v >= 255 {
		return 0xffff
	}
	return uint16(v*257 + 0.5)
}

// render16 is render for 16-bit outputs: *image.Gray16 or *image.NRGBA64.
func (d *Denoiser) render16(alpha image.Image) image.Image {
	w, h := d.dst[0].W, d.dst[0].H
	rect := image.Rect(0, 0, w, h)
	if len(d.dst) == 1 {
		if d.grey16 == nil || cap(d.grey16.Pix) < 2*w*h {
			d.grey16 = image.NewGray16(rect)
		}
		g := d.grey16
		g.Pix, g.Stride, g.Rect = g.Pix[:2*w*h], 2*w, rect
		for i, v := range d.dst[0].Pix {
			u := to16(v)
			g.Pix[2*i], g.Pix[2*i+1] = uint8(u>>8), uint8(u)
		}
		return g
	}
	if d.colour16 == nil || cap(d.colour16.Pix) < 8*w*h {
		d.colour16 = image.NewNRGBA64(rect)
	}
	c := d.colour16
	c.Pix, c.Stride, c.Rect = c.Pix[:8*w*h], 8*w, rect
	a16, _ := alpha.(*image.NRGBA64)
	for i := range w * h {
		px := c.Pix[8*i : 8*i+8]
		for ch := range 3 {
			u := to16(d.dst[ch].Pix[i])
			px[2*ch], px[2*ch+1] = uint8(u>>8), uint8(u)
		}
		px[6], px[7] = 0xff, 0xff
		if a16 != nil {
			y, x := i/w, i%w
			px[6], px[7] = a16.Pix[y*a16.Stride+8*x+6], a16.Pix[y*a16.Stride+8*x+7]
		}
	}
	return c
}
