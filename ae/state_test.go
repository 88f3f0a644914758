package ae

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// A run stopped at a checkpoint and resumed from its model and state must
// end with the same weights as a run that never stopped.
func TestResumeMatchesUninterruptedRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	planes := []Plane{{W: 24, H: 24, Pix: make([]float32, 576)}}
	for i := range planes[0].Pix {
		planes[0].Pix[i] = float32(rng.IntN(256))
	}
	start := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{8},
		SigmaInput: true})
	start.Net.InitHe(rng, 0.1)
	cfg := TrainConfig{Steps: 40, Batch: 16, LR: 1e-3, SigmaMin: 10, SigmaMax: 30, Seed: 3}

	whole, err := Train(context.Background(), start, planes, cfg)
	if err != nil {
		t.Fatal(err)
	}

	var snap *Model
	var state []byte
	first := cfg
	first.CheckpointEvery = 20
	first.Checkpoint = func(m *Model) error {
		if snap == nil {
			snap = m
		}
		return nil
	}
	first.SaveState = func(s TrainState) error {
		if state == nil {
			state, err = s.MarshalBinary()
		}
		return err
	}
	if _, err := Train(context.Background(), start, planes, first); err != nil {
		t.Fatal(err)
	}
	st, err := DecodeTrainState(state, len(start.Net.Params))
	if err != nil {
		t.Fatal(err)
	}
	if st.Step != 20 {
		t.Fatalf("state at step %d, want 20", st.Step)
	}
	// Patches and noise depend on the step alone and the GEMM is
	// deterministic, so the resumed run must end bit for bit where the
	// uninterrupted one did.
	second := cfg
	second.Resume = &st
	resumed, err := Train(context.Background(), snap, planes, second)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Header.Steps != whole.Header.Steps {
		t.Fatalf("resumed model counts %d steps, uninterrupted %d", resumed.Header.Steps,
			whole.Header.Steps)
	}
	for i, v := range whole.Net.Params {
		if resumed.Net.Params[i] != v {
			t.Fatalf("param %d: resumed %v, uninterrupted %v", i, resumed.Net.Params[i], v)
		}
	}
	if _, err := DecodeTrainState(state[:len(state)-1], len(start.Net.Params)); err == nil {
		t.Fatal("a truncated state was accepted")
	}
	if _, err := DecodeTrainState(state, len(start.Net.Params)+1); err == nil {
		t.Fatal("a state for another model size was accepted")
	}
}

// A state keeps its settings record; a version 1 state, written before
// settings were recorded, still reads, with none.
func TestTrainStateSettings(t *testing.T) {
	a := NewAdam(3)
	a.Step = 7
	copy(a.M, []float32{1, 2, 3})
	copy(a.V, []float32{4, 5, 6})
	in := TrainState{Step: 5, Adam: a, Version: "20261205T000000Z-abcdef01",
		Settings: "lr=0.001\nseed=9\n"}
	data, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeTrainState(data, 3)
	if err != nil {
		t.Fatal(err)
	}
	if out.Step != 5 || out.Version != in.Version || out.Settings != in.Settings ||
		out.Adam.Step != 7 || out.Adam.M[2] != 3 || out.Adam.V[0] != 4 {
		t.Fatalf("round trip: %+v", out)
	}

	// Version 1: the same without the settings length and bytes.
	var v1 bytes.Buffer
	v1.WriteString(stateMagic)
	for _, v := range []any{uint16(1), int64(5), int64(7), uint32(3), a.M, a.V} {
		_ = binary.Write(&v1, binary.LittleEndian, v)
	}
	v1.WriteString(in.Version)
	sum := sha256.Sum256(v1.Bytes())
	v1.Write(sum[:])
	old, err := DecodeTrainState(v1.Bytes(), 3)
	if err != nil || old.Settings != "" || old.Version != in.Version || old.Step != 5 {
		t.Fatalf("version 1 state: %+v, %v", old, err)
	}

	// A settings length that runs past the end is refused, not sliced.
	bad := bytes.Clone(data[:len(data)-sha256.Size])
	off := 4 + 2 + 8 + 8 + 4 + 8*3
	binary.LittleEndian.PutUint32(bad[off:], 1<<15)
	sum = sha256.Sum256(bad)
	if _, err := DecodeTrainState(append(bad, sum[:]...), 3); err == nil {
		t.Fatal("a settings length past the end was accepted")
	}
}

// The schedule warms up linearly by default, not at all with NoWarmup, and
// ends at LRFinal either way.
func TestLRSchedule(t *testing.T) {
	for _, tt := range []struct {
		warmup      int
		first, last float64
	}{{0, 1e-3 / 100, 1e-5}, {NoWarmup, 1e-3, 1e-5}, {10, 1e-4, 1e-5}} {
		c := TrainConfig{Steps: 1000, LR: 1e-3, LRFinal: 1e-5, Warmup: tt.warmup}
		if err := c.fill(testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1,
			Hidden: []int{4}})); err != nil {
			t.Fatal(err)
		}
		first, last := c.lr(0), c.lr(999)
		if math.Abs(first-tt.first) > 1e-12 || math.Abs(last-tt.last) > 1e-8 {
			t.Errorf("warmup %d: lr %g at the first step and %g at the last, want %g and %g",
				tt.warmup, first, last, tt.first, tt.last)
		}
	}
	if err := (TrainConfig{Steps: 10, Warmup: -2}).Validate(); err == nil {
		t.Error("warm-up -2 was accepted")
	}
}

// A checkpoint that cannot be saved stops the run without a model, so that
// the caller does not write one beside a state it does not go with.
func TestFailedCheckpointReturnsNoModel(t *testing.T) {
	planes := []Plane{{W: 16, H: 16, Pix: make([]float32, 256)}}
	m := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4}})
	m.Net.InitHe(rand.New(rand.NewPCG(1, 2)), 0.1)
	full := errors.New("disk full")
	got, err := Train(context.Background(), m, planes, TrainConfig{Steps: 30, Batch: 4,
		CheckpointEvery: 10, Checkpoint: func(*Model) error { return nil },
		SaveState: func(TrainState) error { return full }})
	if got != nil || !errors.Is(err, full) {
		t.Fatalf("Train = %v, %v; want no model and the state's error", got, err)
	}
	if err := (TrainConfig{Steps: 10, Warmup: 11}).Validate(); err == nil {
		t.Error("a warm-up longer than the run was accepted")
	}
}

// Without SigmaMax a new model trains over 2..55 and a trained one over
// its own range; a SigmaMin given alone is kept.
func TestTrainSigmaDefaults(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4}})
	for _, tt := range []struct {
		model            Noise
		given, wantRange [2]float64
	}{
		{Noise{}, [2]float64{}, [2]float64{2, 55}},
		{Noise{}, [2]float64{5, 0}, [2]float64{5, 55}},
		{Noise{Kind: "gaussian", SigmaMin: 10, SigmaMax: 30}, [2]float64{}, [2]float64{10, 30}},
		{Noise{Kind: "gaussian", SigmaMin: 10, SigmaMax: 30}, [2]float64{15, 0},
			[2]float64{15, 30}},
		{Noise{Kind: "gaussian", SigmaMin: 10, SigmaMax: 30}, [2]float64{1, 9},
			[2]float64{1, 9}},
	} {
		m.Header.TrainNoise = tt.model
		c := TrainConfig{Steps: 10, SigmaMin: tt.given[0], SigmaMax: tt.given[1]}
		if err := c.fill(m); err != nil {
			t.Fatal(err)
		}
		if got := [2]float64{c.SigmaMin, c.SigmaMax}; got != tt.wantRange {
			t.Errorf("model %+v, given %v: range %v, want %v", tt.model, tt.given, got,
				tt.wantRange)
		}
	}
}
