// Command bm3d measures this project's BM3D (ae.BM3D; CBM3D on colour) on
// test sets with the noise `denoiser eval` adds (same seed, same images),
// next to a model of the zoo, so that the models can be compared with BM3D
// on sets for which no published figures exist, and the implementation can
// be checked against the published ones where they do.
//
//	go run ./bench/bm3d -sets ../shared/data/set12,../shared/data/set5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bm3d bench:", err)
		os.Exit(1)
	}
}

func run() error {
	sets := flag.String("sets", "", "comma-separated folders of clean test images (required)")
	sigmas := flag.String("sigmas", "15,25,50", "comma-separated noise deviations, 0–255 scale")
	model := flag.String("model", "", "zoo model or file to measure beside BM3D (none: skip)")
	seed := flag.Uint64("seed", 0, "noise seed, as in denoiser eval")
	eightBit := flag.Bool("8bit", false, "round and clip the noisy images to 8 bits, as "+
		"denoiser eval --8bit and the pipeline do")
	flag.Parse()
	if *sets == "" {
		return fmt.Errorf("-sets is required")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; join sets with commas)",
			flag.Args())
	}
	// Everything is checked before the first set is measured, which takes minutes.
	var levels []float64
	for _, s := range strings.Split(*sigmas, ",") {
		sigma, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || !(sigma > 0 && sigma <= 255) {
			return fmt.Errorf("sigma %q: want a number in (0, 255]", s)
		}
		levels = append(levels, sigma)
	}
	var data [][]dataset.Image
	dirs := strings.Split(*sets, ",")
	for _, dir := range dirs {
		if strings.TrimSpace(dir) == "" {
			return fmt.Errorf("-sets %q: an empty folder name", *sets)
		}
		imgs, err := dataset.LoadDir(dir)
		if err != nil {
			return err
		}
		data = append(data, imgs)
	}
	var m *ae.Model
	if *model != "" {
		var err error
		if m, err = zoo.Load(*model); err != nil {
			return err
		}
	}
	// Rows print as they are measured, so the columns have fixed widths.
	head := fmt.Sprintf("%-8s %5s %9s %8s %10s", "set", "sigma", "noisy dB", "BM3D dB",
		"BM3D MP/s")
	if m != nil {
		head += fmt.Sprintf(" %10s %10s", *model+" dB", "difference")
	}
	fmt.Println(head)
	for k, imgs := range data {
		dir := dirs[k]
		for _, sigma := range levels {
			cfg := evaluate.Config{Sigma: sigma, Seed: *seed, EightBit: *eightBit}
			noisy, psnr, mps, err := measure(imgs, cfg)
			if err != nil {
				return err
			}
			row := fmt.Sprintf("%-8s %5g %9.2f %8.2f %10.3f", filepath.Base(dir), sigma, noisy,
				psnr, mps)
			if m != nil {
				r, err := evaluate.Run(context.Background(), m, imgs, cfg)
				if err != nil {
					return err
				}
				row += fmt.Sprintf(" %10.2f %+10.2f", r.PSNR, r.PSNR-psnr)
			}
			fmt.Println(row)
		}
	}
	return nil
}

// measure runs BM3D on every image with eval's noise and returns the mean
// PSNR before and after, and the megapixels per second over the whole set.
func measure(imgs []dataset.Image, cfg evaluate.Config) (noisyDB, db, mps float64,
	err error) {
	r, err := evaluate.RunFunc(context.Background(), "bm3d", imgs, cfg,
		func(out, noisy []ae.Plane, sigma float32) error { return ae.BM3D(out, noisy, sigma) })
	if err != nil {
		return 0, 0, 0, err
	}
	var secs, pixels float64
	for _, im := range r.PerImage {
		secs += im.Seconds
		pixels += float64(im.Width * im.Height)
	}
	return r.NoisyPSNR, r.PSNR, pixels / 1e6 / secs, nil
}
