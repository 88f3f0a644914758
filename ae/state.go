package ae

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
)

// TrainState is what a training run needs, beside the model, to resume
// where it stopped: the step reached (so the learning-rate schedule goes on)
// and the optimiser's moments.
type TrainState struct {
	Step    int
	Adam    *Adam
	Version string // of the checkpointed model this state goes with

	// Settings is the caller's own record of the run's settings (cmd/trainer
	// keeps its flags there), so that a resume can repeat them; Train leaves
	// it empty.
	Settings string
}

// The state format: "CFTS", uint16 version, int64 step, int64 Adam step,
// uint32 n, n float32 first moments, n float32 second moments; version 2
// then has uint32 m and m bytes of settings; then the model version's bytes,
// SHA-256 of all before it; little-endian. Version 1, without settings, is
// still read.
const (
	stateMagic       = "CFTS"
	maxStateSettings = 1 << 16
)

// MarshalBinary encodes the state.
func (s TrainState) MarshalBinary() ([]byte, error) {
	if s.Adam == nil || len(s.Adam.M) != len(s.Adam.V) {
		return nil, fmt.Errorf("encode train state: no optimiser state")
	}
	if len(s.Settings) > maxStateSettings || len(s.Version) > 256 {
		return nil, fmt.Errorf("encode train state: settings of %d bytes and version of %d, "+
			"want at most %d and 256", len(s.Settings), len(s.Version), maxStateSettings)
	}
	var buf bytes.Buffer
	buf.WriteString(stateMagic)
	_ = binary.Write(&buf, binary.LittleEndian, uint16(2))
	_ = binary.Write(&buf, binary.LittleEndian, int64(s.Step))
	_ = binary.Write(&buf, binary.LittleEndian, s.Adam.Step)
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(s.Adam.M)))
	for _, v := range [][]float32{s.Adam.M, s.Adam.V} {
		_ = binary.Write(&buf, binary.LittleEndian, v)
	}
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(s.Settings)))
	buf.WriteString(s.Settings)
	buf.WriteString(s.Version)
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

// DecodeTrainState parses a state written by MarshalBinary for a net of n
// parameters, refusing a corrupt or mismatched one.
func DecodeTrainState(data []byte, n int) (TrainState, error) {
	const head = 4 + 2 + 8 + 8 + 4
	if len(data) < head+sha256.Size || string(data[:4]) != stateMagic {
		return TrainState{}, fmt.Errorf("%w: not a training state", ErrFormat)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return TrainState{}, fmt.Errorf("%w: training state checksum mismatch", ErrFormat)
	}
	r := bytes.NewReader(body[4:])
	var version uint16
	var step, adamStep int64
	var count uint32
	for _, v := range []any{&version, &step, &adamStep, &count} {
		_ = binary.Read(r, binary.LittleEndian, v)
	}
	if version < 1 || version > 2 || int(count) != n || len(body) < head+8*n || step < 0 {
		return TrainState{}, fmt.Errorf("%w: training state of version %d for %d "+
			"parameters, want version 1 or 2 for %d", ErrFormat, version, count, n)
	}
	a := NewAdam(n)
	a.Step = adamStep
	_ = binary.Read(r, binary.LittleEndian, a.M)
	_ = binary.Read(r, binary.LittleEndian, a.V)
	if !finite(a.M) || !finite(a.V) {
		return TrainState{}, fmt.Errorf("%w: training state holds NaN or Inf", ErrFormat)
	}
	tail := body[head+8*n:]
	var settings []byte
	if version == 2 {
		if len(tail) < 4 {
			return TrainState{}, fmt.Errorf("%w: training state ends early", ErrFormat)
		}
		m := binary.LittleEndian.Uint32(tail)
		if m > maxStateSettings || int(m) > len(tail)-4 {
			return TrainState{}, fmt.Errorf("%w: training state settings of %d bytes",
				ErrFormat, m)
		}
		settings, tail = tail[4:4+m], tail[4+m:]
	}
	if len(tail) > 256 {
		return TrainState{}, fmt.Errorf("%w: training state version of %d bytes",
			ErrFormat, len(tail))
	}
	return TrainState{Step: int(step), Adam: a, Version: string(tail),
		Settings: string(settings)}, nil
}

// LoadTrainState reads a state file for a net of n parameters.
func LoadTrainState(path string, n int) (TrainState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TrainState{}, fmt.Errorf("load training state: %w", err)
	}
	s, err := DecodeTrainState(data, n)
	if err != nil {
		return TrainState{}, fmt.Errorf("load training state %s: %w", path, err)
	}
	return s, nil
}

func (a *Adam) clone() *Adam {
	c := *a
	c.M = append([]float32(nil), a.M...)
	c.V = append([]float32(nil), a.V...)
	return &c
}
