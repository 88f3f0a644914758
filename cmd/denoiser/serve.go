package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/cli"
	"github.com/cleanframe/cleanframe/internal/health"
	"github.com/cleanframe/cleanframe/internal/telemetry"
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
	group := fs.String("group", cli.Env("CF_GROUP", "cleanframe-denoiser"),
		"consumer group id (env CF_GROUP)")
	modelPath := fs.String("model", cli.Env("CF_MODEL", ""), "start with this "+
		zoo.Usage+" (env CF_MODEL)")
	fs.StringVar(&wc.ModelName, "model-name", os.Getenv("CF_MODEL_NAME"),
		"accept only models of this name from the models topic; empty: any (env CF_MODEL_NAME)")
	fs.StringVar(&wc.Pin, "pin", os.Getenv("CF_MODEL_PIN"),
		"serve only this model version, whatever the models topic says (env CF_MODEL_PIN)")
	ensemble := fs.Int("ensemble", int(cli.EnvInt("CF_ENSEMBLE", 0)), ensembleUsage+
		"; also for every model swapped in (env CF_ENSEMBLE)")
	fs.IntVar(&wc.Workers, "workers", int(cli.EnvInt("CF_WORKERS", 8)),
		"images processed at once; they share batches (env CF_WORKERS)")
	fs.IntVar(&batchRows, "batch-rows", int(cli.EnvInt("CF_BATCH_ROWS", ae.DefaultBatchRows)),
		"patch rows that close a batch early (env CF_BATCH_ROWS)")
	fs.DurationVar(&batchWait, "batch-wait", cli.EnvDuration("CF_BATCH_WAIT", ae.DefaultBatchWait),
		"latency budget: how long a batch waits for more images; 0 = no wait (env CF_BATCH_WAIT)")
	fs.IntVar(&wc.MaxInFlight, "max-in-flight", 0,
		"images fetched but not yet committed, at most (default 2*workers+2)")
	fs.Int64Var(&wc.MaxPixels, "max-pixels", cli.EnvInt("CF_MAX_PIXELS", 0),
		"largest image in pixels; larger ones are dead-lettered (default 40000000; "+
			"env CF_MAX_PIXELS)")
	fs.Int64Var(&wc.MaxPixelsInFlight, "max-pixels-in-flight",
		cli.EnvInt("CF_MAX_PIXELS_IN_FLIGHT", 0), "pixels of all images being denoised at "+
			"once, about 90 bytes each for colour: size it to the memory limit (default "+
			"max-pixels; env CF_MAX_PIXELS_IN_FLIGHT)")
	fs.DurationVar(&wc.DrainTimeout, "drain-timeout", 0,
		"time to finish in-flight images on shutdown (default 30s)")
	level := fs.String("log-level", cli.Env("CF_LOG_LEVEL", "info"),
		"debug, info, warn or error (env CF_LOG_LEVEL)")
	noEnsure := fs.Bool("no-create-topics", false, "do not create missing topics at start")
	listen := fs.String("listen", cli.Env("CF_LISTEN", "127.0.0.1:8081"),
		"`address` of /healthz, /readyz and /metrics (env CF_LISTEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if err := ae.CheckEnsemble(*ensemble); err != nil {
		return fmt.Errorf("serve: %w", err) // before any port opens
	}

	log, err := telemetry.NewLogger(os.Stderr, *level)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	pc.Logger = log
	wc.Logger = log
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if pc.ClientID == "" {
		pc.ClientID = clientID()
	}

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "cleanframe-denoiser",
		Logger: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tel.SetGlobal(log)
	defer cli.Shutdown(tel.Shutdown)
	tel.Instruments().ObserveEngine(engineStats)
	wc.Telemetry = tel
	loaded := health.NewFlag("model")
	ops, err := health.Listen(*listen, health.Handler(tel.MetricsHandler(),
		health.Brokers(&pc), loaded.Check(), health.Assigned(&pc, *group, pc.Topics().Noisy)))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer cli.Shutdown(ops.Shutdown)
	log.Info("serving /healthz, /readyz and /metrics", "addr", ops.Addr())

	m, err := zoo.Load(*modelPath)
	if err != nil {
		return fmt.Errorf("serve: load model: %w", err)
	}
	if *ensemble != 0 {
		m = m.Clone() // shipped models are shared
		if err := m.SetEnsemble(*ensemble); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	loaded.Set()
	batched := func(m *ae.Model) worker.Model { return ae.NewBatchDenoiser(m, batchRows, batchWait) }
	if !*noEnsure {
		if err := pipeline.EnsureTopicsRetry(ctx, &pc, 5*time.Second); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting for the brokers
			}
			return fmt.Errorf("serve: %w", err)
		}
	}
	decode := func(data []byte) (worker.Model, error) {
		m, err := ae.Decode(data) // validates checksum, shape and values
		if err != nil {
			return nil, err
		}
		if err := m.SetEnsemble(*ensemble); err != nil { // checked above: cannot fail
			return nil, err
		}
		return batched(m), nil
	}
	return worker.Serve(ctx, &pc, *group, wc, batched(m), decode)
}

// Batching settings of serve (see ae.BatchDenoiser).
var (
	batchRows int
	batchWait time.Duration
)

// clientID names this process to the brokers (client.id), uniquely, so
// that the readiness check finds its member of the consumer group.
func clientID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("cleanframe-denoiser-%s-%d", host, os.Getpid())
}

// engineStats adapts ae.ReadStats to telemetry.
func engineStats() telemetry.EngineStats {
	s := ae.ReadStats()
	return telemetry.EngineStats{Flops: s.Flops, Rows: s.Rows, Batches: s.Batches}
}
