package imageio

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"testing"

	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
)

// TestKinds decodes every kind of input imagetest makes and checks the
// outcome class; -v prints the table of what each got.
func TestKinds(t *testing.T) {
	for _, k := range imagetest.Kinds() {
		img, format, err := Decode(k.Data, 0)
		var got imagetest.Want
		var fe *FormatError
		var ue *UnsupportedError
		var te *TooLargeError
		switch {
		case err == nil:
			got = imagetest.Decodes
		case errors.As(err, &fe):
			got = imagetest.Malformed
		case errors.As(err, &ue):
			got = imagetest.Unsupported
		case errors.As(err, &te):
			got = imagetest.TooLarge
		default:
			t.Errorf("%s: untyped error %v", k.Name, err)
			continue
		}
		what := fmt.Sprint(err)
		if err == nil {
			what = fmt.Sprintf("%s %dx%d %T", format, img.Bounds().Dx(), img.Bounds().Dy(), img)
		}
		t.Logf("| %s | %d B | %s | %s |", k.Name, len(k.Data), got, what)
		if got != k.Want {
			t.Errorf("%s: got %s (%v), want %s", k.Name, got, err, k.Want)
		}
		if err == nil && !IsBadInput(err) && img.Bounds().Empty() {
			t.Errorf("%s: empty image", k.Name)
		}
		if err != nil && !IsBadInput(err) {
			t.Errorf("%s: IsBadInput(%v) = false", k.Name, err)
		}
	}
}

// corners returns the four corner values of a grey image: TL, TR, BL, BR.
func corners(img image.Image) [4]uint8 {
	b := img.Bounds()
	at := func(x, y int) uint8 { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y }
	return [4]uint8{at(b.Min.X, b.Min.Y), at(b.Max.X-1, b.Min.Y), at(b.Min.X, b.Max.Y-1),
		at(b.Max.X-1, b.Max.Y-1)}
}

func TestOrient(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 5, 3))
	src.SetGray(0, 0, color.Gray{1})
	src.SetGray(4, 0, color.Gray{2})
	src.SetGray(0, 2, color.Gray{3})
	src.SetGray(4, 2, color.Gray{4})
	// upright corners TL, TR, BL, BR for each EXIF orientation
	want := map[int][4]uint8{1: {1, 2, 3, 4}, 2: {2, 1, 4, 3}, 3: {4, 3, 2, 1},
		4: {3, 4, 1, 2}, 5: {1, 3, 2, 4}, 6: {3, 1, 4, 2}, 7: {4, 2, 3, 1}, 8: {2, 4, 1, 3}}
	for o := 1; o <= 8; o++ {
		for _, in := range []image.Image{src, toType(src, "nrgba"), toType(src, "gray16"),
			toType(src, "ycbcr"), src.SubImage(src.Rect)} {
			out := Orient(in, o)
			size := out.Bounds().Size()
			if (o >= 5 && size != image.Pt(3, 5)) || (o < 5 && size != image.Pt(5, 3)) {
				t.Errorf("orientation %d of %T: size %v", o, in, size)
			}
			if got := corners(out); got != want[o] {
				t.Errorf("orientation %d of %T: corners %v, want %v", o, in, got, want[o])
			}
			if o > 1 && fmt.Sprintf("%T", in) != "*image.YCbCr" &&
				fmt.Sprintf("%T", out) != fmt.Sprintf("%T", in) {
				t.Errorf("orientation %d: %T became %T", o, in, out)
			}
		}
	}
}

func toType(g *image.Gray, kind string) image.Image {
	r := g.Bounds()
	var dst interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	switch kind {
	case "nrgba":
		dst = image.NewNRGBA(r)
	case "gray16":
		dst = image.NewGray16(r)
	case "ycbcr":
		y := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		for i := range y.Cb {
			y.Cb[i], y.Cr[i] = 128, 128
		}
		copy(y.Y, g.Pix)
		return y
	}
	for yy := r.Min.Y; yy < r.Max.Y; yy++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			dst.Set(x, yy, g.At(x, yy))
		}
	}
	return dst
}

func TestOrientationParse(t *testing.T) {
	jpg := imagetest.JPEG(imagetest.Gradient(16, 8))
	plain, _, err := Decode(jpg, 0)
	if err != nil {
		t.Fatal(err)
	}
	for o := uint16(0); o <= 10; o++ {
		data := imagetest.WithEXIF(jpg, o)
		want := int(o)
		if o < 1 || o > 8 {
			want = 1
		}
		if got := Orientation(data); got != want {
			t.Errorf("jpeg orientation %d: read %d", o, got)
		}
		img, _, err := Decode(data, 0)
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		if got, want := corners(img), corners(Orient(plain, want)); got != want {
			t.Errorf("jpeg orientation %d: corners %v, want %v", o, got, want)
		}
	}
	rgb := func(x, y int) []byte { return []byte{uint8(x), uint8(y), 0} }
	for _, body := range [][]byte{imagetest.TIFFOrientation(8),
		append([]byte("Exif\x00\x00"), imagetest.TIFFOrientation(8)...)} {
		p := imagetest.RawPNG(3, 2, 2, 8, false, rgb, imagetest.Chunk{Type: "eXIf", Data: body})
		if got := Orientation(p); got != 8 {
			t.Errorf("png eXIf: orientation %d, want 8", got)
		}
		img, _, err := Decode(p, 0)
		if err != nil || img.Bounds().Size() != image.Pt(2, 3) {
			t.Errorf("png eXIf 8: %v, %v", img.Bounds(), err)
		}
	}
	// truncated and hostile EXIF never panics and reads as 1
	ex := imagetest.WithEXIF(jpg, 6)
	for i := range 120 {
		if o := Orientation(ex[:i]); o != 1 && o != 6 {
			t.Errorf("truncated at %d: %d", i, o)
		}
	}
}

func TestFrames(t *testing.T) {
	p := imagetest.Paletted(4, 4)
	for n := 1; n <= 4; n++ {
		frames := make([]*image.Paletted, n)
		for i := range frames {
			frames[i] = p
		}
		data := imagetest.GIF(frames...)
		if got := Frames(data); got != n {
			t.Errorf("gif of %d frames: counted %d", n, got)
		}
		for i := range data {
			if got := Frames(data[:i]); got > n {
				t.Errorf("gif of %d frames cut at %d: counted %d", n, i, got)
			}
		}
	}
}
