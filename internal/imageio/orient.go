package imageio

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/draw"
)

// Orientation returns the EXIF orientation (1 to 8) of a JPEG or PNG, or 1
// when data carries none or an invalid one. It looks at every APP1 segment
// before the first scan of a JPEG, so EXIF that follows a JFIF, XMP or ICC
// segment is found, and at the eXIf chunk of a PNG. It never reads past
// data and allocates nothing.
func Orientation(data []byte) int {
	var o int
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		o = jpegOrientation(data)
	case bytes.HasPrefix(data, []byte(pngMagic)):
		o = pngOrientation(data)
	}
	if o < 1 || o > 8 {
		return 1
	}
	return o
}

const pngMagic = "\x89PNG\r\n\x1a\n"

// jpegOrientation walks the marker segments of a JPEG up to its first scan.
func jpegOrientation(data []byte) int {
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return 0
		}
		marker := data[p+1]
		switch {
		case marker == 0xff: // fill byte
			p++
			continue
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8):
			p += 2 // no length
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return 0
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 0
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			if o := tiffOrientation(seg[6:]); o >= 1 && o <= 8 {
				return o
			}
		}
		p += 2 + n
	}
	return 0
}

// pngOrientation finds an eXIf chunk by walking chunk headers only.
func pngOrientation(data []byte) int {
	p := len(pngMagic)
	for p+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		end := int64(p) + 8 + n + 4 // header, data, crc
		if n > int64(len(data)) || end > int64(len(data)) {
			return 0
		}
		switch typ {
		case "eXIf":
			body := data[p+8 : p+8+int(n)]
			body = bytes.TrimPrefix(body, []byte("Exif\x00\x00"))
			return tiffOrientation(body)
		case "IEND":
			return 0
		}
		p = int(end)
	}
	return 0
}

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF header (EXIF body).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 0
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ, n := bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		if typ != 3 || n != 1 { // one SHORT
			return 0
		}
		return int(bo.Uint16(t[e+8:]))
	}
	return 0
}

// Orient returns img turned upright for EXIF orientation o (1 to 8): the
// mirror, rotation or transpose that a viewer applies before display. It
// keeps the colour model and bit depth of img (a *image.YCbCr becomes an
// *image.RGBA); orientation 1, an unknown value or an unsupported image
// type returns img itself.
func Orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	if yc, ok := img.(*image.YCbCr); ok {
		rgba := image.NewRGBA(image.Rect(0, 0, yc.Rect.Dx(), yc.Rect.Dy()))
		draw.Draw(rgba, rgba.Rect, yc, yc.Rect.Min, draw.Src)
		img = rgba
	}
	src, ok := pixelsOf(img)
	if !ok || src.rect.Empty() {
		return img
	}
	w, h := src.rect.Dx(), src.rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dstImg, dst := src.like(dw, dh)
	bpp := src.bpp
	for y := range h {
		row := src.pix[y*src.stride:]
		for x := range w {
			dx, dy := orientPoint(o, x, y, w, h)
			d := dst.pix[dy*dst.stride+dx*bpp:]
			copy(d[:bpp], row[x*bpp:])
		}
	}
	return dstImg
}

// orientPoint maps source pixel (x, y) of a w×h image to its upright place.
func orientPoint(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // mirror left-right
		return w - 1 - x, y
	case 3: // rotate 180°
		return w - 1 - x, h - 1 - y
	case 4: // mirror top-bottom
		return x, h - 1 - y
	case 5: // transpose
		return y, x
	case 6: // rotate 90° clockwise
		return h - 1 - y, x
	case 7: // transverse
		return h - 1 - y, w - 1 - x
	case 8: // rotate 90° counter-clockwise
		return y, w - 1 - x
	}
	return x, y
}

// pixels is the raw view of an image type with packed Pix rows.
type pixels struct {
	pix         []byte // from the first pixel of rect
	stride, bpp int
	rect        image.Rectangle
	like        func(w, h int) (image.Image, pixels)
}

// pixelsOf returns the packed pixels of the stdlib image types whose
// pixels are fixed-size byte groups.
func pixelsOf(img image.Image) (pixels, bool) {
	switch m := img.(type) {
	case *image.Gray:
		return view(m.Pix, m.Stride, 1, m.Rect, m.PixOffset, image.NewGray), true
	case *image.Gray16:
		return view(m.Pix, m.Stride, 2, m.Rect, m.PixOffset, image.NewGray16), true
	case *image.RGBA:
		return view(m.Pix, m.Stride, 4, m.Rect, m.PixOffset, image.NewRGBA), true
	case *image.NRGBA:
		return view(m.Pix, m.Stride, 4, m.Rect, m.PixOffset, image.NewNRGBA), true
	case *image.RGBA64:
		return view(m.Pix, m.Stride, 8, m.Rect, m.PixOffset, image.NewRGBA64), true
	case *image.NRGBA64:
		return view(m.Pix, m.Stride, 8, m.Rect, m.PixOffset, image.NewNRGBA64), true
	case *image.CMYK:
		return view(m.Pix, m.Stride, 4, m.Rect, m.PixOffset, image.NewCMYK), true
	case *image.Paletted:
		blank := func(r image.Rectangle) *image.Paletted { return image.NewPaletted(r, m.Palette) }
		return view(m.Pix, m.Stride, 1, m.Rect, m.PixOffset, blank), true
	}
	return pixels{}, false
}

// view is the pixels of one packed image: pix from its first pixel, and a
// maker of blank images of the same type.
func view[T image.Image](pix []byte, stride, bpp int, r image.Rectangle,
	offset func(x, y int) int, blank func(image.Rectangle) T) pixels {
	like := func(w, h int) (image.Image, pixels) {
		n := blank(image.Rect(0, 0, w, h))
		p, _ := pixelsOf(n)
		return n, p
	}
	return pixels{pix: pix[offset(r.Min.X, r.Min.Y):], stride: stride, bpp: bpp, rect: r,
		like: like}
}
