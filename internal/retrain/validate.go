package retrain

import (
	"context"
	"fmt"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

// validate scores m on the validation set: with evaluate.Run at Gaussian
// deviation Sigma, or, when ValidCorruption is set, on the images corrupted
// by it, one plane at a time with the generator of evaluate.NoiseRand (so
// the serving model and the candidate see the same corrupted images), the
// model told the deviation the corruption reports, as training tells it.
func (s *Service) validate(ctx context.Context, m *ae.Model) (evaluate.Result, error) {
	if s.cfg.ValidCorruption == nil {
		return evaluate.Run(ctx, m, s.cfg.Validation,
			evaluate.Config{Sigma: s.cfg.Sigma, Seed: s.cfg.Seed})
	}
	// A fresh corruption per run: implementations keep scratch state.
	c, err := ae.ParseCorruption(s.cfg.ValidCorruption.String())
	if err != nil {
		return evaluate.Result{}, err
	}
	res := evaluate.Result{Images: len(s.cfg.Validation), Model: m.Version()}
	for i, img := range s.cfg.Validation {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rng := evaluate.NoiseRand(s.cfg.Seed, i)
		clean := ae.ImagePlanes(img.Image)
		noisy := make([]ae.Plane, len(clean))
		out := make([]ae.Plane, len(clean))
		var sigma float64
		for k, p := range clean {
			noisy[k] = ae.Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
			out[k] = ae.Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
			sigma = max(sigma, c.Corrupt(p.Pix, noisy[k].Pix, p.W, p.H, rng))
		}
		if err := m.DenoisePlanes(out, noisy, float32(sigma), 0); err != nil {
			return res, fmt.Errorf("validate %s: %w", img.Name, err)
		}
		evaluate.Quantize(out)
		n := float64(len(s.cfg.Validation))
		res.NoisyPSNR += evaluate.PSNR(noisy, clean) / n
		res.PSNR += evaluate.PSNR(out, clean) / n
	}
	return res, nil
}

// metricName is the header metric the validation PSNR is stored under.
func (s *Service) metricName() string {
	if s.cfg.ValidCorruption != nil {
		return "valid_psnr_db_" + s.cfg.ValidCorruption.String()
	}
	return fmt.Sprintf("valid_psnr_db_sigma%g", s.cfg.Sigma)
}
