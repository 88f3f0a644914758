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
	return evaluate.Run(ctx, m, s.cfg.Validation,
		evaluate.Config{Seed: s.cfg.Seed, Corruption: c})
}

// metricName is the header metric the validation PSNR is stored under.
func (s *Service) metricName() string {
	if s.cfg.ValidCorruption != nil {
		return "valid_psnr_db_" + s.cfg.ValidCorruption.String()
	}
	return fmt.Sprintf("valid_psnr_db_sigma%g", s.cfg.Sigma)
}
