// Command trainer retrains cleanframe's denoising model: locally from a
// folder (train), or as a service that follows clean samples on Kafka and
// publishes models that beat the serving one (serve).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"

	"github.com/cleanframe/cleanframe/internal/cli"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cli.Main("trainer", func(ctx context.Context, args []string) error {
		return run(ctx, log, args)
	})
}

const usage = `usage: trainer COMMAND [flags]

commands:
  train   train a model from a folder of clean images (no Kafka)
  serve   follow clean samples on Kafka, retrain, validate, publish models
  models  list, pin, unpin and roll back versions on the models topic

Corruption specs (train and serve -corruption, serve -valid-corruption):
comma-separated parts, one drawn per patch, each optionally weighted *W:
  gaussian:MIN-MAX            white noise, deviation on the 0-255 scale
  poisson:GMIN-GMAX[:RMIN-RMAX]  shot noise of gain G plus read noise R
  jpeg:QMIN-QMAX              JPEG artefacts at a quality from the range
e.g. -corruption gaussian:5-50*2,poisson:0.5-4:0-5,jpeg:30-90

Run "trainer COMMAND -h" for a command's flags.`

func run(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch args[0] {
	case "train":
		return runTrain(ctx, log, args[1:])
	case "serve":
		return runServe(ctx, log, args[1:])
	case "models":
		return runModels(ctx, log, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }
