package ae

import (
	"context"
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
