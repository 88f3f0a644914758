// Command cleanframe is the all-in-one local entry point: "cleanframe demo"
// starts an embedded Kafka-protocol broker and runs ingest, the denoiser
// and a trainer round in one process on the shipped sample photographs.
// Production runs cmd/ingest, cmd/denoiser and cmd/trainer separately.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cleanframe/cleanframe/internal/cli"
)

func main() { cli.Main("cleanframe", run) }

const usage = `usage: cleanframe COMMAND [flags]

commands:
  demo   the whole pipeline in one process on sample photographs: embedded broker,
         ingest, denoiser, a trainer round; writes out/demo and prints a PSNR table

Run "cleanframe COMMAND -h" for a command's flags.`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, os.Stdout, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
