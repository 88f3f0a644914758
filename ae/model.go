package ae

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Arch describes the network and how it meets the image.
type Arch struct {
	PatchIn    int   `json:"patch_in"`    // side of the square input patch
	PatchOut   int   `json:"patch_out"`   // side of the predicted centre patch
	Stride     int   `json:"stride"`      // default stride between patches at inference
	Hidden     []int `json:"hidden"`      // widths of the hidden ReLU layers
	SigmaInput bool  `json:"sigma_input"` // sigma/NormScale is an extra input feature

	// Guided nets also see two guide patches after the noisy patch and
	// sigma (see [MakeGuides]): the pilot's estimate and BM3D's first-step
	// estimate, each refined by collaborative Wiener filtering. They predict
	// the error of the guides' mean.
	Guided bool `json:"guided,omitempty"`

	// Ensemble is how many views of each patch are denoised and averaged
	// at inference by default: 1 (or 0), 2, 4 or 8 of the square's
	// symmetries (transposes and mirrors). Each view costs one more pass
	// of the net; the blending is unchanged.
	Ensemble int `json:"ensemble,omitempty"`
}

// SetEnsemble sets how many views of each patch inference averages (see
// [Arch.Ensemble]); 0 keeps the model's own setting. Set it before the model
// is shared: it is not safe to change while denoising.
func (m *Model) SetEnsemble(views int) error {
	if err := CheckEnsemble(views); err != nil || views == 0 {
		return err
	}
	m.Header.Arch.Ensemble = views
	return nil
}

// CheckEnsemble says whether SetEnsemble accepts views.
func CheckEnsemble(views int) error {
	if views != 0 && !slices.Contains([]int{1, 2, 4, 8}, views) {
		return fmt.Errorf("ensemble %d: want 1, 2, 4 or 8 views", views)
	}
	return nil
}

// views is the number of patch views denoised at inference.
func (a Arch) views() int { return max(1, a.Ensemble) }

// Inputs is the number of input features of the net.
func (a Arch) Inputs() int {
	n := a.PatchIn * a.PatchIn
	if a.SigmaInput {
		n++
	}
	if a.Guided {
		n += 2 * a.PatchIn * a.PatchIn
	}
	return n
}

// guideOffset is the index of the first guide feature in an input row.
func (a Arch) guideOffset() int {
	if a.SigmaInput {
		return a.PatchIn*a.PatchIn + 1
	}
	return a.PatchIn * a.PatchIn
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
	case !slices.Contains([]int{0, 1, 2, 4, 8}, a.Ensemble):
		return fmt.Errorf("ensemble %d: want 1, 2, 4 or 8 views", a.Ensemble)
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

	// Pilot is the header of a guided model's pilot, whose weights come
	// first in the model's weights.
	Pilot *Header `json:"pilot,omitempty"`
}

// Model is a trained denoiser: a header and a net. It is safe for concurrent
// use as long as nobody changes it; trainers work on a Clone.
type Model struct {
	Header Header
	Net    *Net

	// Pilot, set exactly when Header.Arch.Guided, makes the first estimate
	// that the collaborative Wiener step refines into the guide; it is
	// stored in the same file and never guided itself.
	Pilot *Model
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
	c := &Model{Header: h, Net: m.Net.Clone()}
	if m.Pilot != nil {
		c.Pilot = m.Pilot.Clone()
	}
	return c
}

// NewGuided returns a guided model on top of pilot: the same architecture
// with guide inputs, its pilot a copy of pilot. A guided net predicts the
// error of its guides' mean, so its estimate is that mean minus its output.
// Its hidden layers start as the pilot's (zero weights on the guides) and its
// last layer at zero: a new guided model gives the guides' mean, and training
// learns from the noisy and guide patches together where to trust which.
func NewGuided(name string, pilot *Model) (*Model, error) {
	if pilot.Header.Arch.Guided {
		return nil, errors.New("new guided model: the pilot is guided itself; " +
			"use its pilot or train it further")
	}
	a := pilot.Header.Arch
	a.Guided = true
	m, err := NewModel(name, a, pilot.Header.NormScale)
	if err != nil {
		return nil, err
	}
	m.Header.TrainNoise = pilot.Header.TrainNoise
	m.Pilot = pilot.Clone()
	m.Pilot.Header.Pilot = nil
	for i, l := range m.Net.Layers[:len(m.Net.Layers)-1] {
		p := pilot.Net.Layers[i]
		copy(l.W, p.W) // the first layer's extra (guide) rows come last
		copy(l.B, p.B)
	}
	return m, nil
}
