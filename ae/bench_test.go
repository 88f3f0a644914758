package ae

import (
	"bytes"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
)

// benchImage loads a shipped 512×512 photograph and adds sigma 25 noise.
func benchImage(b *testing.B, name string) image.Image {
	b.Helper()
	f, err := os.Open("../examples/images/" + name)
	if err != nil {
		b.Skip("example image missing:", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	planes := ImagePlanes(img)
	for _, p := range planes {
		for i := range p.Pix {
			p.Pix[i] += float32(rng.NormFloat64() * 25)
		}
	}
	noisy, err := PlanesImage(planes, nil)
	if err != nil {
		b.Fatal(err)
	}
	return noisy
}

// BenchmarkDenoise measures the steady-state denoise path of one image at a
// time (planes, layers, blending, 8-bit output), reporting megapixels/s.
func BenchmarkDenoise(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, file string }{
		{"grey512", "camera.png"}, {"rgb512", "astronaut.png"},
	} {
		b.Run(c.name, func(b *testing.B) {
			img := benchImage(b, c.file)
			d := &Denoiser{Model: m}
			d.Denoise(img, 25)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := d.Denoise(img, 25); err != nil {
					b.Fatal(err)
				}
			}
			px := float64(img.Bounds().Dx() * img.Bounds().Dy())
			b.ReportMetric(px*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
		})
	}
}

// BenchmarkDenoisePNG adds PNG decoding and encoding: the allocations it
// reports are the decoded image and the encoded bytes.
func BenchmarkDenoisePNG(b *testing.B) {
	m, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	img := benchImage(b, "camera.png")
	var in bytes.Buffer
	if err := png.Encode(&in, img); err != nil {
		b.Fatal(err)
	}
	d := &Denoiser{Model: m}
	enc := png.Encoder{BufferPool: new(pool)}
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		dec, err := png.Decode(bytes.NewReader(in.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		res, err := d.Denoise(dec, 25)
		if err != nil {
			b.Fatal(err)
		}
		out.Reset()
		if err := enc.Encode(&out, res); err != nil {
			b.Fatal(err)
		}
	}
}

type pool struct{ b *png.EncoderBuffer }

func (p *pool) Get() *png.EncoderBuffer  { return p.b }
func (p *pool) Put(b *png.EncoderBuffer) { p.b = b }
