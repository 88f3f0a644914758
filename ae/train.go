package ae

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// TrainConfig sets up a training run. Zero fields take the defaults noted.
type TrainConfig struct {
	Steps    int     // Adam steps (required)
	Batch    int     // patches per step; default 256
	LR       float64 // peak learning rate; default 1e-3
	LRFinal  float64 // learning rate at the last step (cosine decay); default LR/50
	Warmup   int     // steps of linear warm-up; default min(500, Steps/10); NoWarmup: none
	SigmaMin float64 // Gaussian noise deviation range on the 0–255 scale; when
	SigmaMax float64 // SigmaMax is 0, the model's range, else 2..55 (SigmaMin kept if set)
	Seed     uint64  // seeds patch choice and noise

	// Corruption, when set, makes the noisy inputs instead of Gaussian
	// noise over SigmaMin..SigmaMax (see ParseCorruption); it is recorded
	// as the model's TrainNoise kind.
	Corruption Corruption

	// Progress, when set, is called every LogEvery steps (default 100) and
	// after the last one, from the training goroutine.
	Progress func(Progress)
	LogEvery int

	// Checkpoint, when set, is called with a snapshot every CheckpointEvery
	// steps (default 2000); an error stops training.
	Checkpoint      func(*Model) error
	CheckpointEvery int

	// SaveState, when set, is called after each checkpoint with the state
	// that Resume takes, so that a killed run can go on where it stopped.
	SaveState func(TrainState) error

	// Resume, when set, continues a run from a saved state: the loop starts
	// at Resume.Step of Steps, with its optimiser moments.
	Resume *TrainState

	// Guided holds the training samples of a guided model (see
	// [Model.GuidedSamples]), which trains on them instead of the clean
	// planes; SigmaMin, SigmaMax and Corruption then do not apply.
	Guided []GuidedSample
}

// NoWarmup, as TrainConfig.Warmup, starts at the peak learning rate.
const NoWarmup = -1

// Progress reports a training run's state.
type Progress struct {
	Step, Steps int
	LR          float64
	MSE         float64 // mean squared error of the noise estimate, 0–255 scale
	PSNR        float64 // of the patch centres implied by MSE
	Rate        float64 // patches per second since the last report
	Elapsed     time.Duration
}

// Validate reports settings that no model can train with; Train checks
// them too, but a caller can ask before it loads images or makes guides.
func (c TrainConfig) Validate() error {
	if c.SigmaMax == 0 {
		c.SigmaMax = 255 // the model's range stands in, and lies within any
	}
	return c.fill(nil)
}

func (c *TrainConfig) fill(m *Model) error {
	if c.Steps < 1 {
		return errors.New("train: steps must be at least 1")
	}
	if c.Batch == 0 {
		c.Batch = 256
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.LRFinal == 0 {
		c.LRFinal = c.LR / 50
	}
	switch c.Warmup {
	case 0:
		c.Warmup = min(500, c.Steps/10)
	case NoWarmup:
		c.Warmup = 0
	}
	if c.SigmaMax == 0 {
		c.SigmaMin, c.SigmaMax = c.NoiseRange(m)
	}
	if c.LogEvery == 0 {
		c.LogEvery = 100
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 2000
	}
	switch {
	case c.Batch < 1 || c.Batch > 1<<16:
		return fmt.Errorf("train: batch %d, want 1 to 65536", c.Batch)
	case c.SigmaMin < 0 || c.SigmaMax < c.SigmaMin || c.SigmaMax > 255:
		return fmt.Errorf("train: sigma range %v..%v", c.SigmaMin, c.SigmaMax)
	case !(c.LR > 0):
		return fmt.Errorf("train: learning rate %v", c.LR)
	case !(c.LRFinal > 0 && c.LRFinal <= c.LR):
		return fmt.Errorf("train: final learning rate %v, want above 0 and at most the "+
			"peak %v", c.LRFinal, c.LR)
	case c.Warmup < 0 || c.Warmup > c.Steps:
		return fmt.Errorf("train: warm-up of %d steps, want 0 to the run's %d (NoWarmup "+
			"for none)", c.Warmup, c.Steps)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("train: checkpoint every %d steps, want 1 or more",
			c.CheckpointEvery)
	}
	return nil
}

// NoiseRange is the range of Gaussian noise deviations a run trains m on:
// SigmaMin..SigmaMax when SigmaMax is set; else m's training range, or for
// a new model 2..55 (the range the shipped models were trained on, which
// serves sigma 5 to 50 blind), from SigmaMin instead when that is set.
func (c TrainConfig) NoiseRange(m *Model) (lo, hi float64) {
	if c.SigmaMax != 0 {
		return c.SigmaMin, c.SigmaMax
	}
	lo, hi = m.Header.TrainNoise.SigmaMin, m.Header.TrainNoise.SigmaMax
	if hi == 0 {
		lo, hi = 2, 55
	}
	if c.SigmaMin != 0 {
		lo = c.SigmaMin
	}
	return lo, hi
}

// lr is the learning rate at step (0-based): linear warm-up, cosine decay.
func (c *TrainConfig) lr(step int) float64 {
	if step < c.Warmup {
		return c.LR * float64(step+1) / float64(c.Warmup)
	}
	t := float64(step-c.Warmup) / float64(max(1, c.Steps-c.Warmup))
	return c.LRFinal + (c.LR-c.LRFinal)*0.5*(1+math.Cos(math.Pi*t))
}

// Train trains a copy of m on clean planes corrupted with Gaussian noise and
// returns it; m itself is not changed. Planes smaller than the input patch are
// skipped. It stops early, returning the model so far and ctx's error, when
// ctx ends.
func Train(ctx context.Context, m *Model, clean []Plane, cfg TrainConfig) (*Model, error) {
	if err := cfg.fill(m); err != nil {
		return nil, err
	}
	pi := m.Header.Arch.PatchIn
	var usable []Plane
	for _, p := range clean {
		if p.W >= pi && p.H >= pi {
			usable = append(usable, p)
		}
	}
	switch {
	case m.Header.Arch.Guided && (len(cfg.Guided) == 0 || cfg.Corruption != nil):
		return nil, errors.New("train: a guided model trains on guided samples " +
			"(Model.GuidedSamples), with Gaussian noise only")
	case !m.Header.Arch.Guided && len(cfg.Guided) > 0:
		return nil, errors.New("train: guided samples given for a model that is not guided")
	case len(usable) == 0 && len(cfg.Guided) == 0:
		return nil, fmt.Errorf("train: no image is at least %dx%d", pi, pi)
	}
	for _, g := range cfg.Guided {
		if g.Noisy.W < pi || g.Noisy.H < pi || len(g.Guides[0].Pix) != len(g.Noisy.Pix) ||
			len(g.Guides[1].Pix) != len(g.Noisy.Pix) || len(g.Clean.Pix) != len(g.Noisy.Pix) {
			return nil, fmt.Errorf("train: a guided sample of %dx%d with mismatched or "+
				"too small planes", g.Noisy.W, g.Noisy.H)
		}
	}

	out := m.Clone()
	if cfg.Resume == nil {
		out.Header.Parent = m.Header.Version
	} // else m is the stopped run's checkpoint, whose parent is the run's

	out.Header.TrainNoise = Noise{Kind: "gaussian", SigmaMin: cfg.SigmaMin,
		SigmaMax: cfg.SigmaMax}
	if cfg.Corruption != nil {
		out.Header.TrainNoise = Noise{Kind: cfg.Corruption.String()}
		if g, ok := cfg.Corruption.(Gaussian); ok {
			out.Header.TrainNoise = Noise{Kind: "gaussian", SigmaMin: g.SigmaMin,
				SigmaMax: g.SigmaMax}
		} else if lo, hi, ok := gaussianRange(cfg.Corruption); ok {
			// A mixture of Gaussian ranges keeps its spec and records the range it
			// spans, which retraining and guide making use by default.
			out.Header.TrainNoise.SigmaMin, out.Header.TrainNoise.SigmaMax = lo, hi
		}
	}
	net := out.Net
	grad := NewNet(net.Sizes...)
	opt, first := NewAdam(len(net.Params)), 0
	if cfg.Resume != nil {
		if cfg.Resume.Adam == nil || len(cfg.Resume.Adam.M) != len(net.Params) {
			return nil, errors.New("train: the resume state does not fit this model")
		}
		opt, first = cfg.Resume.Adam.clone(), cfg.Resume.Step
	}
	var acts, scratch Activations
	no := net.Out()
	target := make([]float32, cfg.Batch*no)
	dOut := make([]float32, cfg.Batch*no)
	gen := newSampler(out, usable, cfg)

	start, last := time.Now(), time.Now()
	var sum float64
	var n int
	var err error
	reached := first
	for step := first; step < cfg.Steps; step++ {
		if err = ctx.Err(); err != nil {
			break
		}
		x := acts.Input(net, cfg.Batch)
		gen.seedStep(step)
		gen.fill(x, target)
		pred := net.Forward(&acts)
		sum += mseGrad(pred, target, dOut)
		n++
		net.Backward(&acts, dOut, grad, &scratch)
		lr := cfg.lr(step)
		opt.Update(net.Params, grad.Params, lr)
		out.Header.Steps++
		out.Header.Samples += int64(cfg.Batch)

		done := step+1 == cfg.Steps
		if cfg.Progress != nil && ((step+1)%cfg.LogEvery == 0 || done) {
			mse := sum / float64(n) * float64(out.Header.NormScale*out.Header.NormScale)
			now := time.Now()
			cfg.Progress(Progress{Step: step + 1, Steps: cfg.Steps, LR: lr, MSE: mse,
				PSNR:    10 * math.Log10(255*255/mse),
				Rate:    float64(n*cfg.Batch) / now.Sub(last).Seconds(),
				Elapsed: now.Sub(start)})
			sum, n, last = 0, 0, now
		}
		reached = step + 1
		if cfg.Checkpoint != nil && reached%cfg.CheckpointEvery == 0 && !done {
			if _, err = checkpoint(&cfg, out, reached, opt); err != nil {
				break
			}
		}
	}
	if !finite(net.Params) {
		return nil, errors.New("train: weights diverged to NaN or Inf; lower the learning rate")
	}
	if err != nil && (reached == first || ctx.Err() == nil) {
		// Stopped before a step, or a checkpoint failed: nothing new to keep,
		// and the checkpoint before (or the model given) stays as it is.
		return nil, err
	}
	if err != nil && ctx.Err() != nil && cfg.Checkpoint != nil {
		// Stopped early: a last checkpoint, so that a resume loses nothing.
		snap, cerr := checkpoint(&cfg, out, reached, opt)
		if cerr != nil {
			return nil, errors.Join(err, cerr)
		}
		return snap, err
	}
	out.Stamp()
	return out, err
}

// mseGrad returns the mean squared error between pred and target and writes
// its gradient with respect to pred into d.
func mseGrad(pred, target, d []float32) float64 {
	var s float64
	k := 2 / float32(len(pred))
	for i, p := range pred {
		e := p - target[i]
		s += float64(e * e)
		d[i] = k * e
	}
	return s / float64(len(pred))
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// Stamp sets the creation time and a version made of the time and a hash of
// the weights and header.
func (m *Model) Stamp() {
	m.Header.Created = time.Now().UTC().Truncate(time.Second)
	m.Header.Version = ""
	data, _ := m.MarshalBinary()
	sum := sha256.Sum256(data)
	m.Header.Version = m.Header.Created.Format("20060102T150405Z") + "-" +
		hex.EncodeToString(sum[:4])
}

// sampler draws random training patches: a random plane, position and one of
// the eight flips and rotations, with fresh Gaussian noise.
type sampler struct {
	planes     []Plane
	rng        *rand.Rand
	pcg        *rand.PCG // rng's source, reseeded every step
	seed       uint64
	pi, po     int
	off        int
	sigmaInput bool
	inv        float32
	smin, smax float64
	dihedral   [8][]int // for each transform, source (u*pi+v) per patch index
	noise      []float32

	corrupt      Corruption // nil: Gaussian over smin..smax
	clean, noisy []float32  // corruption windows

	guided   []GuidedSample // a guided model's samples
	guideOff int            // where the guide patch starts in an input row
}

func newSampler(m *Model, planes []Plane, cfg TrainConfig) *sampler {
	a := m.Header.Arch
	pcg := rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)
	s := &sampler{planes: planes, rng: rand.New(pcg), pcg: pcg, seed: cfg.Seed,
		pi: a.PatchIn, po: a.PatchOut, off: (a.PatchIn - a.PatchOut) / 2,
		sigmaInput: a.SigmaInput, inv: 1 / m.Header.NormScale,
		smin: cfg.SigmaMin, smax: cfg.SigmaMax,
		noise: make([]float32, a.PatchIn*a.PatchIn), corrupt: cfg.Corruption,
		guided: cfg.Guided, guideOff: a.guideOffset()}
	if s.corrupt != nil {
		w := a.PatchIn + s.corrupt.Margin()
		s.clean, s.noisy = make([]float32, w*w), make([]float32, w*w)
	}
	pi := s.pi
	for t := range s.dihedral {
		idx := make([]int, pi*pi)
		for y := range pi {
			for x := range pi {
				u, v := y, x
				if t&1 != 0 {
					v = pi - 1 - v
				}
				if t&2 != 0 {
					u = pi - 1 - u
				}
				if t&4 != 0 {
					u, v = v, u
				}
				idx[y*pi+x] = u*pi + v
			}
		}
		s.dihedral[t] = idx
	}
	return s
}

// fill writes a batch of inputs into x (rows × inputs) and the normalised
// noise of each patch centre into target (rows × outputs).
func (s *sampler) fill(x, target []float32) {
	if s.corrupt != nil {
		s.fillCorrupt(x, target)
		return
	}
	if s.guided != nil {
		s.fillGuided(x, target)
		return
	}
	pi, po := s.pi, s.po
	nin := pi * pi
	if s.sigmaInput {
		nin++
	}
	rows := len(x) / nin
	for r := range rows {
		p := s.planes[s.rng.IntN(len(s.planes))]
		x0, y0 := s.rng.IntN(p.W-pi+1), s.rng.IntN(p.H-pi+1)
		idx := s.dihedral[s.rng.IntN(8)]
		sigma := s.smin + (s.smax-s.smin)*s.rng.Float64()
		for i := range s.noise {
			s.noise[i] = float32(s.rng.NormFloat64() * sigma)
		}
		row := x[r*nin : (r+1)*nin]
		for i, j := range idx {
			u, v := j/pi, j%pi
			clean := p.Pix[(y0+u)*p.W+x0+v]
			row[i] = (clean + s.noise[i] - 127.5) * s.inv
		}
		if s.sigmaInput {
			row[pi*pi] = float32(sigma) * s.inv
		}
		t := target[r*po*po : (r+1)*po*po]
		for dy := range po {
			for dx := range po {
				t[dy*po+dx] = s.noise[(dy+s.off)*pi+dx+s.off] * s.inv
			}
		}
	}
}

// fillCorrupt is fill with s.corrupt: it corrupts a window around each
// patch (wider by the corruption's margin when the plane allows), takes the
// patch at a random offset in it, and targets noisy minus clean.
func (s *sampler) fillCorrupt(x, target []float32) {
	pi, po := s.pi, s.po
	nin := pi * pi
	if s.sigmaInput {
		nin++
	}
	for r := range len(x) / nin {
		p := s.planes[s.rng.IntN(len(s.planes))]
		w := pi + s.corrupt.Margin()
		if p.W < w || p.H < w {
			w = pi
		}
		x0, y0 := s.rng.IntN(p.W-w+1), s.rng.IntN(p.H-w+1)
		clean, noisy := s.clean[:w*w], s.noisy[:w*w]
		for y := range w {
			copy(clean[y*w:(y+1)*w], p.Pix[(y0+y)*p.W+x0:])
		}
		sigma := s.corrupt.Corrupt(clean, noisy, w, w, s.rng)
		ox, oy := s.rng.IntN(w-pi+1), s.rng.IntN(w-pi+1)
		idx := s.dihedral[s.rng.IntN(8)]
		row := x[r*nin : (r+1)*nin]
		for i, j := range idx {
			k := (oy+j/pi)*w + ox + j%pi
			row[i] = (noisy[k] - 127.5) * s.inv
			s.noise[i] = noisy[k] - clean[k]
		}
		if s.sigmaInput {
			row[pi*pi] = float32(sigma) * s.inv
		}
		t := target[r*po*po : (r+1)*po*po]
		for dy := range po {
			for dx := range po {
				t[dy*po+dx] = s.noise[(dy+s.off)*pi+dx+s.off] * s.inv
			}
		}
	}
}

// seedStep makes the patches and noise of a step depend on the seed and the
// step alone, so that a resumed run draws what an uninterrupted one would.
func (s *sampler) seedStep(step int) {
	s.pcg.Seed(s.seed, 0x9e3779b97f4a7c15^uint64(step))
}

// checkpoint hands a stamped snapshot of m to cfg.Checkpoint, then the state
// that resumes from it to cfg.SaveState, and returns the snapshot.
func checkpoint(cfg *TrainConfig, m *Model, step int, opt *Adam) (*Model, error) {
	snap := m.Clone()
	snap.Stamp()
	if err := cfg.Checkpoint(snap); err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	if cfg.SaveState != nil {
		st := TrainState{Step: step, Adam: opt, Version: snap.Version()}
		if err := cfg.SaveState(st); err != nil {
			return nil, fmt.Errorf("train: save state: %w", err)
		}
	}
	return snap, nil
}

// gaussianRange is the range of deviations a mixture of Gaussian parts
// spans; ok is false when any part is another corruption.
func gaussianRange(c Corruption) (lo, hi float64, ok bool) {
	m, isMix := c.(*Mixture)
	if !isMix || len(m.Parts) == 0 {
		return 0, 0, false
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range m.Parts {
		g, isGauss := p.(Gaussian)
		if !isGauss {
			return 0, 0, false
		}
		lo, hi = min(lo, g.SigmaMin), max(hi, g.SigmaMax)
	}
	return lo, hi, true
}
