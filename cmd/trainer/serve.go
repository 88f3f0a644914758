package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/retrain"
	"github.com/cleanframe/cleanframe/pipeline"
)

// runServe runs the retraining service against Kafka.
func runServe(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var pc pipeline.Config
	pc.RegisterFlags(fs)
	var cfg retrain.Config
	modelPath := fs.String("model", "", "model to start from (default: the shipped model)")
	samples := fs.String("samples", "", "folder of clean samples to add at start (optional)")
	valid := fs.String("valid", "", "folder of clean validation images (required)")
	fs.DurationVar(&cfg.Interval, "interval", 0, "time between rounds (default 10m)")
	fs.IntVar(&cfg.MinNew, "min-new", 0, "new samples that start a round early (default 100)")
	fs.IntVar(&cfg.MaxKeep, "max-samples", 0, "clean samples kept in memory (default 2000)")
	fs.IntVar(&cfg.Steps, "steps", 0, "Adam steps per round (default 2000)")
	fs.IntVar(&cfg.Batch, "batch", 0, "patches per step (default 256)")
	fs.Float64Var(&cfg.LR, "lr", 0, "peak learning rate of a round (default 1e-4)")
	fs.Float64Var(&cfg.Sigma, "sigma", 0, "validation noise deviation (default 25)")
	fs.Float64Var(&cfg.Margin, "margin", 0.05,
		"dB by which a candidate must beat the serving model to be published")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of training and validation noise")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *valid == "" {
		return fmt.Errorf("serve: -valid is required")
	}
	pc.Logger = log
	if err := pc.Validate(); err != nil {
		return err
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return err
	}
	if cfg.Validation, err = dataset.LoadDir(*valid); err != nil {
		return err
	}
	cfg.Pipeline, cfg.Logger = &pc, log
	if err := pipeline.EnsureTopics(ctx, &pc); err != nil {
		return err
	}
	svc, err := retrain.New(cfg, m)
	if err != nil {
		return err
	}
	if *samples != "" {
		imgs, err := dataset.LoadDir(*samples)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			svc.AddImage(img.Image)
		}
	}
	log.Info("trainer serving", "model_version", m.Version(), "brokers", pc.Brokers)
	return svc.Run(ctx)
}

func loadModel(path string) (*ae.Model, error) {
	if path == "" {
		return ae.Default()
	}
	return ae.Load(path)
}
