package ae

import (
	"bytes"
	"image"
	"image/png"
	"math/rand/v2"
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
