package imageio

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Input policy, applied by Config (and so by Decode and ingest) before any
// pixel is decoded:
//
//   - Size: width × height is computed in 64 bits from the header and
//     checked against the caller's limit ([DefaultMaxPixels] by default), so
//     a small file that declares a huge image is refused without allocating
//     it. A 1×1 or 1×N image is accepted.
//   - Animation: a GIF with more than one frame, or an APNG declaring more
//     than one frame, is refused with an [*UnsupportedError]: the output is
//     one PNG, and silently keeping only the first frame would lose the
//     rest. Send the frames one by one.
//   - Progressive JPEG is decoded, but one with more than [MaxJPEGScans]
//     scans is refused: every scan walks every block, so a small file of
//     many empty scans costs minutes of CPU.
//   - Orientation: Decode applies the EXIF orientation of a JPEG (any APP1
//     segment before the first scan) or of a PNG eXIf chunk, so outputs,
//     which carry no EXIF, display as the sender saw the input.
//   - Colour: PNG grey, grey+alpha, RGB, RGBA and paletted at 1 to 16 bits,
//     interlaced or not; JPEG grey, YCbCr, RGB, CMYK and YCCK (Adobe),
//     baseline or progressive; GIF paletted. Alpha is never denoised: the
//     colour planes are, and the output keeps the input's alpha unchanged.
//
// Output conversions happen in the model (ae.Denoiser): grey stays grey;
// paletted, CMYK and YCCK become RGB; grey+alpha becomes RGBA (Go's PNG
// encoder has no grey+alpha); 16-bit inputs are denoised at full precision
// and written as 16-bit PNG.

// MaxJPEGScans is the most scans (SOS markers) a JPEG may have.
const MaxJPEGScans = 128

// checkPolicy refuses supported-format inputs that the policy above rules
// out. ct is the sniffed content type.
func checkPolicy(data []byte, ct string) error {
	if n := Frames(data); n > 1 {
		return &UnsupportedError{ContentType: ct,
			Reason: fmt.Sprintf("animated image of %d frames; send one frame", n)}
	}
	if ct == "image/jpeg" {
		if n := bytes.Count(data, []byte{0xff, 0xda}); n > MaxJPEGScans {
			return &UnsupportedError{ContentType: ct,
				Reason: fmt.Sprintf("jpeg of %d scans exceeds %d", n, MaxJPEGScans)}
		}
	}
	return nil
}

// checkPNGSize refuses a PNG whose IHDR declares more than maxPixels pixels
// before image/png sees it: its own check stops at what an int32 holds and
// would call a 2³¹×2³¹ image malformed rather than too large.
func checkPNGSize(data []byte, maxPixels int64) error {
	if len(data) < 24 || string(data[12:16]) != "IHDR" {
		return nil
	}
	w, h := binary.BigEndian.Uint32(data[16:]), binary.BigEndian.Uint32(data[20:])
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return nil // image/png reports it as malformed
	}
	if int64(w)*int64(h) > maxPixels {
		return &TooLargeError{Width: int(w), Height: int(h), MaxPixels: maxPixels}
	}
	return nil
}
