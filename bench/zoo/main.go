// Command zoo prints the speed-quality table of the shipped models: the
// megapixels per second each one denoises on a 512×512 grey photograph at
// sigma 25 (best of several runs, in this process, so that all rows share
// the machine's state), and its mean PSNR on grey test sets at sigma 25 with
// the noise seed `denoiser eval` uses.
//
//	go run ./bench/zoo -sets ../shared/data/set12,../shared/data/bsd68
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "zoo bench:", err)
		os.Exit(1)
	}
}

func run() error {
	image := flag.String("image", "examples/images/camera.png", "grey image timed")
	sets := flag.String("sets", "", "comma-separated folders of clean test images "+
		"(e.g. ../shared/data/set12,../shared/data/bsd68)")
	models := flag.String("models", strings.Join(zoo.Names, ","), "models to measure")
	sigma := flag.Float64("sigma", 25, "noise deviation, 0–255 scale")
	runs := flag.Int("runs", 5, "timed runs per model; the best is kept")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only)", flag.Args())
	}
	if *runs < 1 || !(*sigma > 0 && *sigma <= 255) {
		return fmt.Errorf("-runs %d and -sigma %v: want at least 1 run and a sigma in (0, 255]",
			*runs, *sigma)
	}
	for _, name := range strings.Split(*models, ",") {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("-models %q: an empty model name", *models)
		}
	}

	img, err := dataset.Open(*image)
	if err != nil {
		return err
	}
	clean := ae.ImagePlanes(img.Image)[:1]
	noisy := []ae.Plane{{W: clean[0].W, H: clean[0].H,
		Pix: append([]float32(nil), clean[0].Pix...)}}
	evaluate.AddNoise(noisy, *sigma, evaluate.NoiseRand(1, 0))
	evaluate.Quantize(noisy)
	out := []ae.Plane{{W: clean[0].W, H: clean[0].H, Pix: make([]float32, len(clean[0].Pix))}}
	mp := float64(clean[0].W*clean[0].H) / 1e6

	var testSets [][]dataset.Image
	var names []string
	if *sets != "" {
		for _, dir := range strings.Split(*sets, ",") {
			imgs, err := dataset.LoadDir(dir)
			if err != nil {
				return err
			}
			testSets = append(testSets, imgs)
			names = append(names, filepath.Base(dir))
		}
	}

	fmt.Printf("%s %dx%d grey, sigma %g, %d threads, best of %d\n", img.Name, clean[0].W,
		clean[0].H, *sigma, runtime.GOMAXPROCS(0), *runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	head := "model\tversion\tparams\tseconds\tMP/s\tdB (" + img.Name + ")"
	for _, n := range names {
		head += "\t" + n + " dB"
	}
	fmt.Fprintln(tw, head)
	for _, name := range strings.Split(*models, ",") {
		m, err := zoo.Load(name)
		if err != nil {
			return err
		}
		best := time.Duration(1 << 62)
		for range *runs {
			t := time.Now()
			if err := m.DenoisePlanes(out, noisy, float32(*sigma), 0); err != nil {
				return err
			}
			best = min(best, time.Since(t))
		}
		res := append([]ae.Plane(nil), out...)
		evaluate.Quantize(res)
		params := len(m.Net.Params)
		if m.Pilot != nil {
			params += len(m.Pilot.Net.Params)
		}
		row := fmt.Sprintf("%s\t%s\t%d\t%.3f\t%.2f\t%.2f", name, m.Version(), params,
			best.Seconds(), mp/best.Seconds(), evaluate.PSNR(res, clean))
		for _, set := range testSets {
			r, err := evaluate.Run(context.Background(), m, set,
				evaluate.Config{Sigma: *sigma})
			if err != nil {
				return err
			}
			row += fmt.Sprintf("\t%.2f", r.PSNR)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
