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
//	                     (a guided model's pilot's parameters first)
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
	h := m.Header
	params := [][]float32{m.Net.Params}
	if (m.Pilot != nil) != h.Arch.Guided {
		return nil, errors.New("encode model: a guided model needs a pilot, and only it")
	}
	if m.Pilot != nil {
		ph := m.Pilot.Header
		ph.Pilot = nil
		h.Pilot = &ph
		params = [][]float32{m.Pilot.Net.Params, m.Net.Params}
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode model header: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(10 + len(hdr) + 4*(len(params[0])+len(params[len(params)-1])) + sha256.Size)
	buf.WriteString(magic)
	_ = binary.Write(&buf, binary.LittleEndian, uint16(FormatVersion))
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	var w [4]byte
	for _, ps := range params {
		for _, p := range ps {
			binary.LittleEndian.PutUint32(w[:], math.Float32bits(p))
			buf.Write(w[:])
		}
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
	if err := checkHeader(&h); err != nil {
		return nil, err
	}
	headers := []*Header{&h}
	switch {
	case h.Arch.Guided && h.Pilot == nil:
		return nil, formatErr("a guided model without its pilot")
	case !h.Arch.Guided && h.Pilot != nil:
		return nil, formatErr("a pilot in a model that is not guided")
	case h.Pilot != nil:
		if h.Pilot.Arch.Guided || h.Pilot.Pilot != nil {
			return nil, formatErr("the pilot is guided itself")
		}
		if err := checkHeader(h.Pilot); err != nil {
			return nil, formatErr("pilot: %v", err)
		}
		headers = []*Header{h.Pilot, &h}
	}
	weights := body[10+n:]
	count := 0
	for _, hh := range headers {
		sizes := hh.Arch.Sizes()
		for i := 1; i < len(sizes); i++ {
			count += sizes[i-1]*sizes[i] + sizes[i]
		}
	}
	if count > maxParams || len(weights) != 4*count {
		return nil, formatErr("%d weight bytes, architecture needs %d", len(weights), 4*count)
	}
	var models []*Model
	k := 0
	for _, hh := range headers {
		net := NewNet(hh.Arch.Sizes()...)
		for i := range net.Params {
			v := math.Float32frombits(binary.LittleEndian.Uint32(weights[4*k:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, formatErr("weight %d is %v", k, v)
			}
			net.Params[i] = v
			k++
		}
		models = append(models, &Model{Header: *hh, Net: net})
	}
	m := models[len(models)-1]
	if len(models) == 2 {
		m.Pilot = models[0]
		m.Header.Pilot = nil // m.Pilot.Header says it, once
	}
	return m, nil
}

// checkHeader validates the architecture and scale of a decoded header.
func checkHeader(h *Header) error {
	if err := h.Arch.Validate(); err != nil {
		return formatErr("architecture: %v", err)
	}
	if !(h.NormScale > 0) || math.IsInf(float64(h.NormScale), 0) {
		return formatErr("norm scale %v", h.NormScale)
	}
	return nil
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
