package main

import (
	"fmt"
	"log/slog"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/retrain"
	"github.com/cleanframe/cleanframe/pipeline"
)

// newTrainer returns the lead's trainer service set up for one short round.
func newTrainer(pc *pipeline.Config, m *ae.Model, valid []dataset.Image, c demoConfig,
	log *slog.Logger) (*retrain.Service, error) {
	svc, err := retrain.New(retrain.Config{Pipeline: pc, Steps: c.trainSteps, Batch: 128, Margin: 0.05,
		Sigma: c.sigma, Seed: c.seed, Validation: valid, Logger: log}, m)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return svc, nil
}
