// Command denoiser cleans noisy images with cleanframe's dense denoising
// autoencoder: as a Kafka consumer group (serve), on local files (denoise),
// or measuring quality on a folder of clean images (eval).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/cleanframe/cleanframe/internal/cli"
)

func main() { cli.Main("denoiser", run) }

const usage = `usage: denoiser COMMAND [flags]

commands:
  serve     consume images.noisy as a consumer group, publish images.denoised
  denoise   denoise local files: denoise [--model FILE] -o OUTDIR FILE...
  eval      add noise to clean images, denoise, print PSNR as JSON
  replay    replay a topic range or a folder through models; JSON and HTML reports

Run "denoiser COMMAND -h" for a command's flags.`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:])
	case "denoise":
		return runDenoise(ctx, log, args[1:])
	case "eval":
		return runEval(ctx, args[1:])
	case "replay":
		return runReplay(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
