package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// runServe runs the denoiser as a member of a Kafka consumer group until ctx
// ends: images from images.noisy are denoised and published to
// images.denoised, models are followed on the models topic.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var pc pipeline.Config
	pc.RegisterFlags(fs)
	var wc worker.Config
	group := fs.String("group", envOr("CF_GROUP", "cleanframe-denoiser"),
		"consumer group id (env CF_GROUP)")
	modelPath := fs.String("model", "", "model file to start with (default: the shipped model)")
	fs.StringVar(&wc.ModelName, "model-name", os.Getenv("CF_MODEL_NAME"),
		"accept only models of this name from the models topic; empty: any (env CF_MODEL_NAME)")
	fs.IntVar(&wc.Workers, "workers", 0, "images processed at once (default GOMAXPROCS)")
	fs.IntVar(&wc.MaxInFlight, "max-in-flight", 0,
		"images fetched but not yet committed, at most (default 2*workers+2)")
	fs.Int64Var(&wc.MaxPixels, "max-pixels", 0, "largest image in pixels (default 40000000)")
	fs.DurationVar(&wc.DrainTimeout, "drain-timeout", 0,
		"time to finish in-flight images on shutdown (default 30s)")
	level := fs.String("log-level", envOr("CF_LOG_LEVEL", "info"),
		"debug, info, warn or error (env CF_LOG_LEVEL)")
	noEnsure := fs.Bool("no-create-topics", false, "do not create missing topics at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("serve: log level %q: want debug, info, warn or error", *level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	pc.Logger = log
	wc.Logger = log
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	m, err := loadModel(*modelPath)
	if err != nil {
		return fmt.Errorf("serve: load model: %w", err)
	}
	if !*noEnsure {
		if err := pipeline.EnsureTopics(ctx, &pc); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	return worker.Serve(ctx, &pc, *group, wc, m, decodeModel)
}

// decodeModel adapts ae.Decode, which validates checksum, shape and values,
// to worker.Decoder.
func decodeModel(data []byte) (worker.Model, error) {
	m, err := ae.Decode(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
