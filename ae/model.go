package ae

import (
	"errors"
	"fmt"
	"time"
)

// Arch describes the network and how it meets the image.
type Arch struct {
	PatchIn    int   `json:"patch_in"`    // side of the square input patch
	PatchOut   int   `json:"patch_out"`   // side of the predicted centre patch
	Stride     int   `json:"stride"`      // default stride between patches at inference
	Hidden     []int `json:"hidden"`      // widths of the hidden ReLU layers
	SigmaInput bool  `json:"sigma_input"` // sigma/NormScale is an extra input feature
}

// Inputs is the number of input features of the net.
func (a Arch) Inputs() int {
	n := a.PatchIn * a.PatchIn
	if a.SigmaInput {
		n++
	}
	return n
}

// Outputs is the number of outputs of the net.
func (a Arch) Outputs() int { return a.PatchOut * a.PatchOut }

// Sizes lists the layer sizes from the inputs to the outputs.
func (a Arch) Sizes() []int {
	s := []int{a.Inputs()}
	s = append(s, a.Hidden...)
	return append(s, a.Outputs())
}

// Validate reports whether the architecture is usable.
func (a Arch) Validate() error {
	switch {
	case a.PatchOut < 1 || a.PatchIn < a.PatchOut:
		return fmt.Errorf("patch sizes in %d, out %d: want 1 <= out <= in",
			a.PatchIn, a.PatchOut)
	case (a.PatchIn-a.PatchOut)%2 != 0:
		return fmt.Errorf("patch sizes in %d, out %d: the difference must be even",
			a.PatchIn, a.PatchOut)
	case a.PatchIn > 64:
		return fmt.Errorf("input patch %d is larger than the limit 64", a.PatchIn)
	case a.Stride < 1 || a.Stride > a.PatchOut:
		return fmt.Errorf("stride %d: want 1 to the output patch size %d",
			a.Stride, a.PatchOut)
	case len(a.Hidden) > 16:
		return fmt.Errorf("%d hidden layers: at most 16", len(a.Hidden))
	}
	for i, h := range a.Hidden {
		if h < 1 || h > 8192 {
			return fmt.Errorf("hidden layer %d has width %d: want 1 to 8192", i, h)
		}
	}
	return nil
}

// Noise describes the corruption a model was trained on.
type Noise struct {
	Kind     string  `json:"kind"`      // "gaussian"
	SigmaMin float64 `json:"sigma_min"` // on the 0–255 scale
	SigmaMax float64 `json:"sigma_max"`
}

// Header is the metadata stored with a model's weights.
type Header struct {
	Name       string             `json:"name"`
	Version    string             `json:"version"`
	Parent     string             `json:"parent,omitempty"`
	Created    time.Time          `json:"created"`
	Arch       Arch               `json:"arch"`
	NormScale  float32            `json:"norm_scale"` // feature = (pixel-127.5)/NormScale
	TrainNoise Noise              `json:"train_noise"`
	Steps      int64              `json:"steps"`             // training steps so far
	Samples    int64              `json:"samples"`           // training patches seen
	Metrics    map[string]float64 `json:"metrics,omitempty"` // validation results
}

// Model is a trained denoiser: a header and a net. It is safe for concurrent
// use as long as nobody changes it; trainers work on a Clone.
type Model struct {
	Header Header
	Net    *Net
}

// NewModel returns a model with zero weights for the architecture.
func NewModel(name string, arch Arch, normScale float32) (*Model, error) {
	if err := arch.Validate(); err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	if !(normScale > 0) {
		return nil, errors.New("new model: norm scale must be positive")
	}
	h := Header{Name: name, Arch: arch, NormScale: normScale, Created: time.Now().UTC()}
	h.Arch.Hidden = append([]int(nil), arch.Hidden...)
	return &Model{Header: h, Net: NewNet(arch.Sizes()...)}, nil
}

// Version names this model's weights, as carried in cf-model-version.
func (m *Model) Version() string { return m.Header.Version }

// Clone returns a deep copy that can be trained without touching m.
func (m *Model) Clone() *Model {
	h := m.Header
	h.Arch.Hidden = append([]int(nil), m.Header.Arch.Hidden...)
	if m.Header.Metrics != nil {
		h.Metrics = make(map[string]float64, len(m.Header.Metrics))
		for k, v := range m.Header.Metrics {
			h.Metrics[k] = v
		}
	}
	return &Model{Header: h, Net: m.Net.Clone()}
}
