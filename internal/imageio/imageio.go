// Package imageio decodes images from outside bytes safely and encodes
// outputs. Decode reads the header first and refuses an image whose pixel
// count exceeds a limit before allocating its pixels, so that a small file
// claiming a huge size cannot exhaust memory. Errors are typed: a
// [*FormatError] for bytes that claim a supported format but are broken,
// an [*UnsupportedError] for formats we do not decode, and a
// [*TooLargeError] for images over the limit.
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registers GIF with image.Decode
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
)

// DefaultMaxPixels is the default pixel limit of Decode: 40 megapixels.
const DefaultMaxPixels = 40_000_000

// FormatError reports bytes of a supported format that do not decode.
type FormatError struct {
	Format string // png, jpeg or gif
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("malformed %s image: %v", e.Format, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// UnsupportedError reports bytes that are not an image format we decode,
// or an image of a supported format that we refuse, such as an animation.
type UnsupportedError struct {
	ContentType string // what the bytes look like, sniffed
	Reason      string // why a supported format is refused; empty otherwise
}

func (e *UnsupportedError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("unsupported %s image: %s", e.ContentType, e.Reason)
	}
	return fmt.Sprintf("unsupported image format (content looks like %s); send PNG, JPEG or GIF",
		e.ContentType)
}

// TooLargeError reports an image with more pixels than allowed.
type TooLargeError struct {
	Width, Height int
	MaxPixels     int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("image of %dx%d = %d pixels exceeds the limit of %d pixels",
		e.Width, e.Height, int64(e.Width)*int64(e.Height), e.MaxPixels)
}

// Sniff returns the MIME type of data: image/png, image/jpeg, image/gif,
// or whatever net/http's content sniffing says for anything else.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "image/gif"
	}
	return strings.TrimSuffix(http.DetectContentType(data), "; charset=utf-8")
}

// Supported reports whether contentType names a format Decode reads.
func Supported(contentType string) bool {
	switch contentType {
	case "image/png", "image/jpeg", "image/gif":
		return true
	}
	return false
}

// Config reads only the header of data and returns the image's format,
// dimensions and colour model, checking the pixel count against maxPixels
// (0 means DefaultMaxPixels).
func Config(data []byte, maxPixels int64) (image.Config, string, error) {
	ct := Sniff(data)
	if !Supported(ct) {
		return image.Config{}, "", &UnsupportedError{ContentType: ct}
	}
	format := strings.TrimPrefix(ct, "image/")
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if err := checkPNGSize(data, maxPixels); err != nil {
		return image.Config{}, "", err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return image.Config{}, "", &FormatError{Format: format, Err: err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return image.Config{}, "", &FormatError{Format: format,
			Err: fmt.Errorf("empty image of %dx%d", cfg.Width, cfg.Height)}
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return image.Config{}, "", &TooLargeError{cfg.Width, cfg.Height, maxPixels}
	}
	if err := checkPolicy(data, ct); err != nil {
		return image.Config{}, "", err
	}
	return cfg, format, nil
}

// Decode decodes data after checking its header with Config. It returns the
// image, turned upright by its EXIF orientation (see [Orient]), and its
// format name. The input policy is in doc.go.
func Decode(data []byte, maxPixels int64) (image.Image, string, error) {
	if _, format, err := Config(data, maxPixels); err != nil {
		return nil, format, err
	}
	return DecodeChecked(data)
}

// DecodeChecked decodes data that Config has already accepted (size,
// format, policy), without checking the header again, and applies its EXIF
// orientation. Callers that need the dimensions before decoding (to budget
// memory) call Config, then this.
func DecodeChecked(data []byte) (image.Image, string, error) {
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, format, &FormatError{Format: format, Err: err}
	}
	return Orient(img, Orientation(data)), format, nil
}

// EncodePNG encodes img as PNG with default compression.
func EncodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// EncodeJPEG encodes img as JPEG at quality q (1 to 100).
func EncodeJPEG(img image.Image, q int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	return buf.Bytes(), nil
}

// IsBadInput reports whether err means the input image itself is at fault
// (malformed, unsupported or too large), so that retrying cannot help.
func IsBadInput(err error) bool {
	var fe *FormatError
	var ue *UnsupportedError
	var te *TooLargeError
	return errors.As(err, &fe) || errors.As(err, &ue) || errors.As(err, &te)
}
