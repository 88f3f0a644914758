package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/cli"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/health"
	"github.com/cleanframe/cleanframe/internal/retrain"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// runServe runs the retraining service against Kafka.
func runServe(ctx context.Context, _ *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var pc pipeline.Config
	pc.RegisterFlags(fs)
	var cfg retrain.Config
	modelPath := fs.String("model", "", "start from this "+zoo.Usage)
	samples := fs.String("samples", "", "folder of clean samples to add at start (optional)")
	valid := fs.String("valid", "", "folder of clean validation images (required)")
	fs.DurationVar(&cfg.Interval, "interval", 0, "time between rounds (default 10m)")
	fs.IntVar(&cfg.MinNew, "min-new", 0, "new samples that start a round early (default 100)")
	fs.IntVar(&cfg.MaxKeep, "max-samples", 0,
		"clean samples kept, in memory and in -store; the oldest are dropped (default 2000)")
	corruption := fs.String("corruption", "", "training corruption, e.g. "+
		"gaussian:5-50,poisson:0.5-4:0-5,jpeg:30-90 (default: gaussian over the "+
		"serving model's training range)")
	validCorruption := fs.String("valid-corruption", "", "corruption of the validation "+
		"images, same syntax (default: gaussian of deviation -sigma)")
	fs.Int64Var(&cfg.MaxPixels, "max-sample-pixels", 0, "plane pixels of the samples held in "+
		"memory for training, 4 bytes each; the oldest are dropped (default 64Mi)")
	store := fs.String("store", storeDefault(), "folder that keeps clean samples across "+
		"restarts, de-duplicated by content (env CF_DATA_DIR: its samples/ folder; "+
		"default: memory only)")
	fs.IntVar(&cfg.Steps, "steps", 0, "Adam steps per round (default 2000)")
	fs.IntVar(&cfg.Batch, "batch", 0, "patches per step (default 256)")
	fs.Float64Var(&cfg.LR, "lr", 0, "peak learning rate of a round (default 1e-4)")
	fs.Float64Var(&cfg.Sigma, "sigma", 0, "validation noise deviation (default 25)")
	fs.Float64Var(&cfg.Margin, "margin", 0.05,
		"dB by which a candidate must beat the serving model to be published")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of training and validation noise")
	listen := fs.String("listen", cli.Env("CF_LISTEN", "127.0.0.1:8082"),
		"`address` of /healthz, /readyz and /metrics (env CF_LISTEN)")
	level := fs.String("log-level", cli.Env("CF_LOG_LEVEL", "info"),
		"debug, info, warn or error (env CF_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *valid == "" {
		return fmt.Errorf("serve: -valid is required")
	}
	log, err := telemetry.NewLogger(os.Stderr, *level)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "cleanframe-trainer",
		Logger: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tel.SetGlobal(log)
	defer cli.Shutdown(tel.Shutdown)
	tel.Instruments().ObserveEngine(engineStats)
	loaded := health.NewFlag("model")
	ops, err := health.Listen(*listen, health.Handler(tel.MetricsHandler(),
		health.Brokers(&pc), loaded.Check()))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer cli.Shutdown(ops.Shutdown)
	pc.Logger = log
	if err := pc.Validate(); err != nil {
		return err
	}
	m, err := zoo.Load(*modelPath)
	if err != nil {
		return err
	}
	if cfg.Validation, err = dataset.LoadDir(*valid); err != nil {
		return err
	}
	cfg.Pipeline, cfg.Logger, cfg.Telemetry = &pc, log, tel
	if err := pipeline.EnsureTopicsRetry(ctx, &pc, 5*time.Second); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for the brokers
		}
		return err
	}
	if *corruption != "" {
		if cfg.Corruption, err = ae.ParseCorruption(*corruption); err != nil {
			return err
		}
	}
	if *validCorruption != "" {
		if cfg.ValidCorruption, err = ae.ParseCorruption(*validCorruption); err != nil {
			return err
		}
	}
	if *store != "" {
		if cfg.Store, err = retrain.OpenStore(*store, cfg.MaxKeep); err != nil {
			return err
		}
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
	loaded.Set()
	log.Info("trainer serving", "model_version", m.Version(), "brokers", pc.Brokers,
		"listen", ops.Addr(), "samples", svc.Samples())
	return svc.Run(ctx)
}

// engineStats adapts ae.ReadStats to telemetry.
func engineStats() telemetry.EngineStats {
	s := ae.ReadStats()
	return telemetry.EngineStats{Flops: s.Flops, Rows: s.Rows, Batches: s.Batches}
}

// storeDefault is the samples folder under CF_DATA_DIR, the trainer's data
// volume, or "" (memory only) when it is not set.
func storeDefault() string {
	if dir := os.Getenv("CF_DATA_DIR"); dir != "" {
		return filepath.Join(dir, "samples")
	}
	return ""
}
