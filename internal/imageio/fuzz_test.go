package imageio

import (
	"testing"

	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
)

// FuzzInput feeds outside bytes to the whole input path: sniffing, the
// header checks, animation and scan counting, EXIF and decoding. It must
// never panic, every error must be one of the typed input errors, and an
// image must be within the pixel limit. Seeds: every kind of imagetest.
func FuzzInput(f *testing.F) {
	for _, k := range imagetest.Kinds() {
		if len(k.Data) <= 32<<10 {
			f.Add(k.Data)
		}
	}
	const maxPixels = 1 << 18 // keeps each run small
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := Orientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		if n := Frames(data); n < 0 {
			t.Fatalf("frames %d", n)
		}
		cfg, _, cerr := Config(data, maxPixels)
		img, _, err := Decode(data, maxPixels)
		if err != nil {
			if !IsBadInput(err) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if cerr != nil {
			t.Fatalf("Config refused (%v) what Decode accepted", cerr)
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > maxPixels {
			t.Fatalf("image %v past the limit or empty (header %dx%d)", b, cfg.Width, cfg.Height)
		}
	})
}
