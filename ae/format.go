package ae

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// The model format, shared by files and Kafka model records:
//
//	magic       4 bytes  "CFAE"
//	version     uint16   FormatVersion
//	header len  uint32   n
//	header      n bytes  JSON Header
//	weights     float32  every parameter, little-endian, in Net.Params order
//	checksum    32 bytes SHA-256 of everything before it
//
// All integers are little-endian.
const (
	magic = "CFAE"
	// FormatVersion is the version of the model format this package writes.
	FormatVersion = 1
	maxHeaderLen  = 1 << 20
	maxParams     = 1 << 28 // 1 GiB of float32
)

// ErrFormat marks a model record or file that is not a valid model.
var ErrFormat = errors.New("invalid model")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// MarshalBinary encodes the model in the model format.
func (m *Model) MarshalBinary() ([]byte, error) {
	hdr, err := json.Marshal(m.Header)
	if err != nil {
		return nil, fmt.Errorf("encode model header: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(10 + len(hdr) + 4*len(m.Net.Params) + sha256.Size)
	buf.WriteString(magic)
	_ = binary.Write(&buf, binary.LittleEndian, uint16(FormatVersion))
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	var w [4]byte
	for _, p := range m.Net.Params {
		binary.LittleEndian.PutUint32(w[:], math.Float32bits(p))
		buf.Write(w[:])
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

// Decode parses and validates a model: magic, format version, checksum,
// header, shapes and finite weights. Every failure wraps ErrFormat.
func Decode(data []byte) (*Model, error) {
	if len(data) < 10+sha256.Size {
		return nil, formatErr("%d bytes is too short for a model", len(data))
	}
	if string(data[:4]) != magic {
		return nil, formatErr("bad magic %q, not a cleanframe model", data[:4])
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != FormatVersion {
		return nil, formatErr("format version %d, this build reads %d", v, FormatVersion)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, formatErr("checksum mismatch: the model is corrupt or truncated")
	}
	n := binary.LittleEndian.Uint32(data[6:])
	if n > maxHeaderLen || int(n) > len(body)-10 {
		return nil, formatErr("header length %d does not fit in %d bytes", n, len(body))
	}
	var h Header
	if err := json.Unmarshal(body[10:10+n], &h); err != nil {
		return nil, formatErr("header: %v", err)
	}
	if err := h.Arch.Validate(); err != nil {
		return nil, formatErr("architecture: %v", err)
	}
	if !(h.NormScale > 0) || math.IsInf(float64(h.NormScale), 0) {
		return nil, formatErr("norm scale %v", h.NormScale)
	}
	weights := body[10+n:]
	count := 0
	sizes := h.Arch.Sizes()
	for i := 1; i < len(sizes); i++ {
		count += sizes[i-1]*sizes[i] + sizes[i]
	}
	if count > maxParams || len(weights) != 4*count {
		return nil, formatErr("%d weight bytes, architecture needs %d", len(weights), 4*count)
	}
	net := NewNet(sizes...)
	for i := range net.Params {
		v := math.Float32frombits(binary.LittleEndian.Uint32(weights[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, formatErr("weight %d is %v", i, v)
		}
		net.Params[i] = v
	}
	return &Model{Header: h, Net: net}, nil
}

// Load reads a model file.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// Save writes the model to path atomically (a temporary file, then rename),
// so a crash never leaves a half-written model behind.
func (m *Model) Save(path string) error {
	data, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*")
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return nil
}
