package ae

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The reusable Denoiser must give the same pixels as DenoiseImageSigma.
func TestDenoiserMatchesDenoiseImage(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	grey := randomGray(rng, 40, 33)
	colour := image.NewNRGBA(image.Rect(0, 0, 29, 31))
	for i := range colour.Pix {
		colour.Pix[i] = uint8(rng.IntN(256))
	}
	d := &Denoiser{Model: m}
	for _, img := range []image.Image{grey, colour, grey} {
		want, err := m.DenoiseImageSigma(img, 25)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Denoise(img, 25)
		if err != nil {
			t.Fatal(err)
		}
		var wb, gb bytes.Buffer
		png.Encode(&wb, want)
		png.Encode(&gb, got)
		if !bytes.Equal(wb.Bytes(), gb.Bytes()) {
			t.Fatalf("%T: Denoiser and DenoiseImageSigma differ", img)
		}
	}
}

func TestDenoiserAllocatesNothingWhenWarm(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	grey := randomGray(rng, 64, 48)
	colour := image.NewNRGBA(image.Rect(0, 0, 48, 40))
	for i := range colour.Pix {
		colour.Pix[i] = uint8(rng.IntN(256))
	}
	d := &Denoiser{Model: m}
	for _, img := range []image.Image{grey, colour} {
		d.Denoise(img, -1)
		if n := testing.AllocsPerRun(5, func() { d.Denoise(img, -1) }); n != 0 {
			t.Errorf("%T: %v allocations per warm call, want 0", img, n)
		}
	}
}

// 16-bit inputs keep their depth: with a zero network the output is the
// input, exactly, as *image.Gray16 or *image.NRGBA64 with the alpha kept.
func TestDenoise16BitKeepsDepth(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 7, PatchOut: 3, Stride: 2, Hidden: []int{4},
		SigmaInput: true})
	rng := rand.New(rand.NewPCG(41, 42))
	g := image.NewGray16(image.Rect(0, 0, 13, 9))
	for i := range g.Pix {
		g.Pix[i] = uint8(rng.IntN(256))
	}
	c := image.NewNRGBA64(image.Rect(0, 0, 7, 11))
	for i := range c.Pix {
		c.Pix[i] = uint8(rng.IntN(256))
	}
	out, err := m.DenoiseImageSigma(g, 10)
	if err != nil {
		t.Fatal(err)
	}
	if og, ok := out.(*image.Gray16); !ok || !bytes.Equal(og.Pix, g.Pix) {
		t.Fatalf("grey 16-bit: got %T, equal %v", out, ok && bytes.Equal(og.Pix, g.Pix))
	}
	out, err = m.DenoiseImageSigma(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	oc, ok := out.(*image.NRGBA64)
	if !ok {
		t.Fatalf("colour 16-bit: got %T, want *image.NRGBA64", out)
	}
	for i := range c.Pix {
		// The opponent transform costs float rounding: allow 1 in 65535.
		got := int(oc.Pix[i&^1])<<8 | int(oc.Pix[i|1])
		want := int(c.Pix[i&^1])<<8 | int(c.Pix[i|1])
		if d := got - want; d > 1 || d < -1 {
			t.Fatalf("colour 16-bit: byte %d: %d, want %d", i, got, want)
		}
	}
}

// Grey content in a colour container (here grey+alpha as NRGBA) stays grey:
// every output pixel has R = G = B, and alpha is kept.
func TestGreyInColourStaysGrey(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(61, 62))
	c := image.NewNRGBA(image.Rect(0, 0, 33, 21))
	for i := 0; i < len(c.Pix); i += 4 {
		v := uint8(rng.IntN(256))
		c.Pix[i], c.Pix[i+1], c.Pix[i+2], c.Pix[i+3] = v, v, v, uint8(rng.IntN(256))
	}
	out, err := m.DenoiseImageSigma(c, 20)
	if err != nil {
		t.Fatal(err)
	}
	o := out.(*image.NRGBA)
	g := image.NewGray(c.Rect)
	for i := range g.Pix {
		g.Pix[i] = c.Pix[4*i]
	}
	want, _ := m.DenoiseImageSigma(g, 20)
	for i := 0; i < len(o.Pix); i += 4 {
		if o.Pix[i] != o.Pix[i+1] || o.Pix[i] != o.Pix[i+2] || o.Pix[i+3] != c.Pix[i+3] ||
			o.Pix[i] != want.(*image.Gray).Pix[i/4] {
			t.Fatalf("pixel %d: %v, want grey %d with alpha %d", i/4, o.Pix[i:i+4],
				want.(*image.Gray).Pix[i/4], c.Pix[i+3])
		}
	}
}

func TestDenoiseRefusesBadStrideAndSigma(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	img := randomGray(rand.New(rand.NewPCG(1, 2)), 20, 20)
	d := &Denoiser{Model: m, Stride: m.Header.Arch.PatchOut + 1}
	if _, err := d.Denoise(img, 25); err == nil {
		t.Error("a stride above the output patch was accepted")
	}
	for _, s := range []float64{math.NaN(), 256, math.Inf(1)} {
		if _, err := m.DenoiseImageSigma(img, s); err == nil {
			t.Errorf("sigma %v was accepted", s)
		}
	}
	// A non-finite or huge pixel is refused, told the noise or not, and named.
	for _, v := range []float64{math.NaN(), math.Inf(-1), 3.4e38} {
		src := Plane{W: 20, H: 20, Pix: make([]float32, 400)}
		src.Pix[3*20+7] = float32(v)
		dst := Plane{W: 20, H: 20, Pix: make([]float32, 400)}
		for _, sigma := range []float32{25, -1} {
			err := m.DenoisePlane(dst, src, sigma, 0)
			if err == nil || !strings.Contains(err.Error(), "(7, 3)") {
				t.Errorf("pixel %v, sigma %v: %v, want it refused at (7, 3)", v, sigma, err)
			}
		}
	}
}
