package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

func testImage(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	return img
}

func mustPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	b, err := EncodePNG(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hugePNG returns a PNG header claiming w x h pixels with no pixel data.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grey
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	pngBytes := mustPNG(t, testImage(5, 3))
	jpegBytes, err := EncodeJPEG(testImage(16, 8), 90)
	if err != nil {
		t.Fatal(err)
	}
	var gifBuf bytes.Buffer
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White})
	if err := gif.Encode(&gifBuf, pal, nil); err != nil {
		t.Fatal(err)
	}

	var fe *FormatError
	var ue *UnsupportedError
	var te *TooLargeError
	tests := []struct {
		name       string
		data       []byte
		maxPixels  int64
		wantFormat string
		wantSize   image.Point
		wantErr    any
	}{
		{"png", pngBytes, 0, "png", image.Pt(5, 3), nil},
		{"jpeg", jpegBytes, 0, "jpeg", image.Pt(16, 8), nil},
		{"gif", gifBuf.Bytes(), 0, "gif", image.Pt(4, 4), nil},
		{"truncated png", pngBytes[:len(pngBytes)-20], 0, "", image.Point{}, &fe},
		{"png header only", pngBytes[:8], 0, "", image.Point{}, &fe},
		{"text", []byte("hello, world"), 0, "", image.Point{}, &ue},
		{"empty", nil, 0, "", image.Point{}, &ue},
		{"over pixel limit", pngBytes, 14, "", image.Point{}, &te},
		{"at pixel limit", pngBytes, 15, "png", image.Pt(5, 3), nil},
		{"huge claimed size", hugePNG(100000, 100000), 0, "", image.Point{}, &te},
		{"claimed size overflows int32", hugePNG(1<<31-1, 1<<31-1), 0, "", image.Point{}, &te},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, format, err := Decode(tt.data, tt.maxPixels)
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) || !IsBadInput(err) {
					t.Fatalf("Decode = %v, want a %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.wantFormat || img.Bounds().Size() != tt.wantSize {
				t.Errorf("Decode = %s %v, want %s %v", format, img.Bounds().Size(),
					tt.wantFormat, tt.wantSize)
			}
		})
	}
}

func TestPNGRoundTrip(t *testing.T) {
	in := testImage(7, 9)
	out, _, err := Decode(mustPNG(t, in), 0)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := out.(*image.Gray)
	if !ok || !bytes.Equal(g.Pix, in.Pix) {
		t.Errorf("PNG round trip changed the image (%T)", out)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct{ data, want string }{
		{"\x89PNG\r\n\x1a\nrest", "image/png"},
		{"\xff\xd8\xff\xe0", "image/jpeg"},
		{"GIF89a...", "image/gif"},
		{"<html>", "text/html"},
		{"RIFF\x00\x00\x00\x00WEBPVP", "image/webp"},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.data)); got != tt.want {
			t.Errorf("Sniff(%q) = %s, want %s", tt.data, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(mustPNGf(f))
	f.Add([]byte("GIF89a"))
	f.Add(hugePNG(3, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := Decode(data, 1<<16)
		if err == nil && img.Bounds().Dx()*img.Bounds().Dy() > 1<<16 {
			t.Errorf("Decode returned %v, over the pixel limit", img.Bounds())
		}
		if err != nil && !IsBadInput(err) {
			t.Errorf("Decode error %v is not a bad-input error", err)
		}
	})
}

func mustPNGf(f *testing.F) []byte {
	b, err := EncodePNG(testImage(4, 4))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
