package imageio

import (
	"bytes"
	"encoding/binary"
)

// Frames counts the frames of a GIF, or reports the frame count an APNG
// declares in its acTL chunk; any other input counts as one frame. For a
// GIF it walks the block structure without decompressing, so it is cheap
// on any input; a truncated GIF counts the frames seen so far.
func Frames(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return gifFrames(data)
	case bytes.HasPrefix(data, []byte(pngMagic)):
		return apngFrames(data)
	}
	return 1
}

func gifFrames(data []byte) int {
	const header = 13 // signature, logical screen descriptor
	if len(data) < header {
		return 0
	}
	p := header
	if data[10]&0x80 != 0 { // global colour table
		p += 3 << (data[10]&7 + 1)
	}
	frames := 0
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension: label, then sub-blocks
			p = skipSubBlocks(data, p+2)
		case 0x2c: // image descriptor
			if p+10 > len(data) {
				return frames
			}
			frames++
			flags := data[p+9]
			p += 10
			if flags&0x80 != 0 { // local colour table
				p += 3 << (flags&7 + 1)
			}
			p = skipSubBlocks(data, p+1) // LZW minimum code size, data
		default: // trailer or garbage
			return frames
		}
	}
	return frames
}

// skipSubBlocks returns the offset after the sub-blocks starting at p.
func skipSubBlocks(data []byte, p int) int {
	for p < len(data) {
		n := int(data[p])
		p++
		if n == 0 {
			return p
		}
		p += n
	}
	return len(data)
}

// apngFrames reads num_frames of an acTL chunk before the first IDAT.
func apngFrames(data []byte) int {
	p := len(pngMagic)
	for p+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		end := int64(p) + 12 + n
		if end > int64(len(data)) {
			return 1
		}
		switch string(data[p+4 : p+8]) {
		case "acTL":
			if n >= 4 {
				return int(min(binary.BigEndian.Uint32(data[p+8:]), 1<<30))
			}
			return 1
		case "IDAT", "IEND":
			return 1
		}
		p = int(end)
	}
	return 1
}
