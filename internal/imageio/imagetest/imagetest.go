// Package imagetest generates image files of every kind the input policy of
// package imageio names, well-formed and hostile, for tests and fuzz seeds.
// It writes the encodings the standard library cannot (grey+alpha and
// interlaced PNG, APNG, EXIF segments) by hand.
package imagetest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
)

// Want is what a kind of input should get from imageio.Decode.
type Want int

const (
	Decodes     Want = iota // decodes to an image
	Malformed               // *imageio.FormatError
	Unsupported             // *imageio.UnsupportedError
	TooLarge                // *imageio.TooLargeError
)

func (w Want) String() string {
	return [...]string{"decodes", "malformed", "unsupported", "too large"}[w]
}

// Kind is one input file.
type Kind struct {
	Name string
	Data []byte
	Want Want
}

// Gradient is a w×h grey image whose pixels all differ near the corners.
func Gradient(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Pix[y*img.Stride+x] = uint8(x*11 + y*37)
		}
	}
	return img
}

// Colour is a w×h colour image with an alpha ramp when alpha is set.
func Colour(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha {
				a = uint8(x * 255 / max(w-1, 1))
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 9), uint8(y * 13), uint8(x*y + 40), a})
		}
	}
	return img
}

// PNG encodes img with image/png.
func PNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// JPEG encodes img with image/jpeg at quality 90.
func JPEG(img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Chunk is a PNG chunk for RawPNG.
type Chunk struct {
	Type string
	Data []byte
}

// RawPNG writes a PNG of colour type ct (0 grey, 2 RGB, 4 grey+alpha,
// 6 RGBA) at depth 8 or 16, Adam7-interlaced when interlaced is set, with
// extra chunks before IDAT. px returns the bytes of pixel (x, y).
func RawPNG(w, h int, ct, depth byte, interlaced bool, px func(x, y int) []byte,
	extra ...Chunk) []byte {
	var raw bytes.Buffer
	passes := [][4]int{{0, 0, 1, 1}}
	if interlaced {
		passes = [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
			{0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	for _, p := range passes {
		if p[0] >= w || p[1] >= h {
			continue // an empty pass has no rows at all
		}
		for y := p[1]; y < h; y += p[3] {
			raw.WriteByte(0) // filter: none
			for x := p[0]; x < w; x += p[2] {
				raw.Write(px(x, y))
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()

	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, ct
	if interlaced {
		ihdr[12] = 1
	}
	chunks := append([]Chunk{{"IHDR", ihdr}}, extra...)
	chunks = append(chunks, Chunk{"IDAT", z.Bytes()}, Chunk{"IEND", nil})
	return PNGChunks(chunks...)
}

// PNGChunks writes the PNG signature and chunks with their CRCs.
func PNGChunks(chunks ...Chunk) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	for _, c := range chunks {
		binary.Write(&b, binary.BigEndian, uint32(len(c.Data)))
		body := append([]byte(c.Type), c.Data...)
		b.Write(body)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	return b.Bytes()
}

// HugePNG is a PNG header declaring w×h grey pixels, with no pixel data.
func HugePNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8
	return PNGChunks(Chunk{"IHDR", ihdr})
}

// HugeJPEG is a JPEG whose frame header declares w×h, with no scan data.
func HugeJPEG(w, h uint16) []byte {
	src := JPEG(Gradient(8, 8))
	i := bytes.Index(src, []byte{0xff, 0xc0}) // baseline SOF
	out := bytes.Clone(src)
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// TIFFOrientation is a big-endian TIFF header with IFD0 holding only the
// orientation tag.
func TIFFOrientation(o uint16) []byte {
	t := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01" + // header, IFD0 of one entry
		"\x01\x12\x00\x03\x00\x00\x00\x01" + // tag 0x0112, SHORT, count 1
		"\x00\x00\x00\x00" + // value
		"\x00\x00\x00\x00") // no next IFD
	binary.BigEndian.PutUint16(t[18:], o)
	return t
}

// WithEXIF inserts, after the SOI of a JPEG, a JFIF APP0 and an XMP APP1
// and then an EXIF APP1 with orientation o, so that EXIF is not the first
// metadata segment.
func WithEXIF(jpg []byte, o uint16) []byte {
	seg := func(marker byte, body []byte) []byte {
		s := []byte{0xff, marker, 0, 0}
		binary.BigEndian.PutUint16(s[2:], uint16(len(body)+2))
		return append(s, body...)
	}
	var b bytes.Buffer
	b.Write(jpg[:2])
	b.Write(seg(0xe0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")))
	b.Write(seg(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")))
	b.Write(seg(0xe1, append([]byte("Exif\x00\x00"), TIFFOrientation(o)...)))
	b.Write(jpg[2:])
	return b.Bytes()
}

// ManyScans repeats an empty scan header n times in a JPEG before its EOI.
func ManyScans(jpg []byte, n int) []byte {
	sos := []byte{0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00}
	body := bytes.TrimSuffix(jpg, []byte{0xff, 0xd9})
	out := bytes.Clone(body)
	for range n {
		out = append(out, sos...)
	}
	return append(out, 0xff, 0xd9)
}

// GIF encodes frames as a GIF, animated when there are several.
func GIF(frames ...*image.Paletted) []byte {
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, len(frames))}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Paletted is a w×h image over a 4-colour palette.
func Paletted(w, h int) *image.Paletted {
	pal := color.Palette{color.Black, color.White, color.RGBA{200, 30, 30, 255},
		color.RGBA{20, 90, 200, 255}}
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 7 % 4)
	}
	return img
}

// goTestdata reads a file of the Go distribution's image test data, or
// returns nil when the distribution has no sources.
func goTestdata(path string) []byte {
	b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "image", path))
	if err != nil {
		return nil
	}
	return b
}

// Kinds returns every kind of input, generated, plus the progressive and
// CMYK JPEGs of the Go distribution's test data when it is installed.
func Kinds() []Kind {
	grey16 := image.NewGray16(image.Rect(0, 0, 24, 17))
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, 24, 17))
	for y := range 17 {
		for x := range 24 {
			grey16.SetGray16(x, y, color.Gray16{uint16(x*2711 + y*977)})
			rgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 2000), uint16(y * 3000),
				40000, uint16(65535 - x*1000)})
		}
	}
	constant := image.NewGray(image.Rect(0, 0, 20, 20))
	for i := range constant.Pix {
		constant.Pix[i] = 128
	}
	ga := func(x, y int) []byte { return []byte{uint8(x * 10), uint8(y * 20)} }
	rgb := func(x, y int) []byte { return []byte{uint8(x * 10), uint8(y * 9), 77} }
	actl := Chunk{"acTL", []byte{0, 0, 0, 3, 0, 0, 0, 0}}
	pngData := PNG(Gradient(13, 7))
	jpg := JPEG(Colour(32, 24, false))

	ks := []Kind{
		{"png grey 8-bit 13x7", pngData, Decodes},
		{"png grey 16-bit", PNG(grey16), Decodes},
		{"png rgb 8-bit", PNG(Colour(19, 11, false)), Decodes},
		{"png rgba 8-bit, alpha ramp", PNG(Colour(19, 11, true)), Decodes},
		{"png rgba 16-bit", PNG(rgba64), Decodes},
		{"png paletted", PNG(Paletted(17, 9)), Decodes},
		{"png grey+alpha 8-bit", RawPNG(15, 9, 4, 8, false, ga), Decodes},
		{"png rgb interlaced (Adam7)", RawPNG(21, 13, 2, 8, true, rgb), Decodes},
		{"png grey+alpha interlaced", RawPNG(9, 9, 4, 8, true, ga), Decodes},
		{"png 1x1", PNG(Gradient(1, 1)), Decodes},
		{"png 1x97", PNG(Gradient(1, 97)), Decodes},
		{"png 97x1", PNG(Gradient(97, 1)), Decodes},
		{"png 2x2 colour", PNG(Colour(2, 2, false)), Decodes},
		{"png 37x29 (not a multiple of patch or stride)", PNG(Gradient(37, 29)), Decodes},
		{"png constant grey", PNG(constant), Decodes},
		{"png eXIf orientation 6", RawPNG(6, 4, 2, 8, false, rgb,
			Chunk{"eXIf", TIFFOrientation(6)}), Decodes},
		{"jpeg grey", JPEG(Gradient(16, 16)), Decodes},
		{"jpeg colour 4:2:0", jpg, Decodes},
		{"jpeg 1x1", JPEG(Colour(1, 1, false)), Decodes},
		{"jpeg EXIF orientation 6 after JFIF and XMP", WithEXIF(jpg, 6), Decodes},
		{"jpeg EXIF orientation 9 (invalid, ignored)", WithEXIF(jpg, 9), Decodes},
		{"gif single frame", GIF(Paletted(12, 12)), Decodes},
		{"gif animated, 3 frames", GIF(Paletted(8, 8), Paletted(8, 8), Paletted(8, 8)),
			Unsupported},
		{"apng, acTL of 3 frames", RawPNG(4, 4, 2, 8, false, rgb, actl), Unsupported},
		{"jpeg of 200 scans", ManyScans(jpg, 200), Unsupported},
		{"png declaring 100000x100000", HugePNG(100000, 100000), TooLarge},
		{"png declaring 2^31-1 x 2^31-1", HugePNG(1<<31-1, 1<<31-1), TooLarge},
		{"png declaring 4294967295x1", HugePNG(1<<32-1, 1), Malformed},
		{"png declaring 0x10", HugePNG(0, 10), Malformed},
		{"jpeg declaring 65535x65535", HugeJPEG(65535, 65535), TooLarge},
		{"jpeg declaring 0x0", HugeJPEG(0, 0), Malformed},
		{"png truncated in IDAT", pngData[:len(pngData)-20], Malformed},
		{"png bad CRC", flip(pngData, 30), Malformed},
		{"jpeg truncated", jpg[:len(jpg)/2], Malformed},
		{"jpeg SOI only", []byte{0xff, 0xd8, 0xff}, Malformed},
		{"gif header only", []byte("GIF89a"), Malformed},
		{"empty", nil, Unsupported},
		{"text", []byte("hello, not an image"), Unsupported},
		{"bmp", []byte("BM\x3e\x00\x00\x00\x00\x00\x00\x00\x3e\x00\x00\x00"), Unsupported},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), Unsupported},
		{"webp", []byte("RIFF\x1a\x00\x00\x00WEBPVP8 "), Unsupported},
		{"svg", []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), Unsupported},
	}
	for _, f := range []struct{ name, path string }{
		{"jpeg progressive (Go testdata)", "testdata/video-001.progressive.jpeg"},
		{"jpeg CMYK/Adobe (Go testdata)", "testdata/video-001.cmyk.jpeg"},
		{"jpeg grey progressive (Go testdata)", "testdata/video-005.gray.q50.progressive.jpeg"},
		{"png grey+alpha 16-bit (pngsuite)", "png/testdata/pngsuite/basn4a16.png"},
		{"png paletted with tRNS (pngsuite)", "png/testdata/pngsuite/basn3p08-trns.png"},
		{"png grey 1-bit (pngsuite)", "png/testdata/pngsuite/basn0g01.png"},
	} {
		if b := goTestdata(f.path); b != nil {
			ks = append(ks, Kind{f.name, b, Decodes})
		}
	}
	return ks
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0xff
	return out
}
