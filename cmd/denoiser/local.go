package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

const ensembleUsage = "views of each patch averaged: 1, 2, 4 or 8 (default: the model's)"

// runDenoise denoises local files into OUTDIR/<name>.png.
func runDenoise(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("denoise", flag.ContinueOnError)
	modelPath := fs.String("model", "", zoo.Usage)
	outDir := fs.String("o", "", "output folder (required)")
	sigma := fs.Float64("sigma", -1, "noise deviation on the 0–255 scale; <0 estimates it")
	stride := fs.Int("stride", 0, "patch stride (default: the model's)")
	ensemble := fs.Int("ensemble", 0, ensembleUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outDir == "" || fs.NArg() == 0 {
		return errors.New("denoise: want -o OUTDIR and at least one FILE")
	}
	if err := flagsFirst(fs.Args()); err != nil {
		return fmt.Errorf("denoise: %w", err)
	}
	if err := checkSigma(*sigma, true); err != nil {
		return fmt.Errorf("denoise: %w", err)
	}
	outputs, err := outputPaths(*outDir, fs.Args())
	if err != nil {
		return fmt.Errorf("denoise: %w", err)
	}
	m, err := zoo.Load(*modelPath)
	if err != nil {
		return err
	}
	if err := m.SetEnsemble(*ensemble); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if _, err := m.Stride(*stride); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return fmt.Errorf("denoise: %w", err)
	}
	var failed int
	for _, path := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		out, err := denoiseFile(m, path, outputs[path], *sigma, *stride)
		if err != nil {
			log.Error("denoise failed", "file", path, "err", err)
			failed++
			continue
		}
		log.Info("denoised", "file", path, "out", out, "model_version", m.Version(),
			"seconds", time.Since(start).Seconds())
	}
	if failed > 0 {
		return fmt.Errorf("denoise: %d of %d files failed", failed, fs.NArg())
	}
	return nil
}

func denoiseFile(m *ae.Model, path, out string, sigma float64, stride int) (string, error) {
	img, err := dataset.Open(path)
	if err != nil {
		return "", err
	}
	// The same conversions as the service: grey stays grey, 16 bits stay 16.
	d := ae.Denoiser{Model: m, Stride: stride}
	res, err := d.Denoise(img.Image, sigma)
	if err != nil {
		return "", err
	}
	f, err := os.Create(out)
	if err != nil {
		return "", fmt.Errorf("write result: %w", err)
	}
	if err := png.Encode(f, res); err != nil {
		f.Close()
		return "", fmt.Errorf("encode %s: %w", out, err)
	}
	return out, f.Close()
}

// runEval prints the quality of a model on a folder of clean images.
func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := fs.String("images", "", "folder of clean images (required)")
	modelPath := fs.String("model", "", zoo.Usage)
	sigma := fs.Float64("sigma", 25, "Gaussian noise deviation on the 0–255 scale")
	seed := fs.Uint64("seed", 0, "noise seed")
	blind := fs.Bool("blind", false, "estimate the noise level instead of passing it")
	eightBit := fs.Bool("8bit", false, "round and clip the noisy images to 8 bits, as "+
		"PNGs through the pipeline carry them")
	stride := fs.Int("stride", 0, "patch stride (default: the model's)")
	ensemble := fs.Int("ensemble", 0, ensembleUsage)
	asJSON := fs.Bool("json", false, "print one JSON object")
	perImage := fs.Bool("per-image", false, "include each image's result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("eval: -images is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("eval: unexpected arguments %q (flags only)", fs.Args())
	}
	if err := checkSigma(*sigma, false); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	m, err := zoo.Load(*modelPath)
	if err != nil {
		return err
	}
	if err := m.SetEnsemble(*ensemble); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if _, err := m.Stride(*stride); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	imgs, err := dataset.LoadDir(*dir)
	if err != nil {
		return err
	}
	res, err := evaluate.Run(ctx, m, imgs,
		evaluate.Config{Sigma: *sigma, Seed: *seed, Blind: *blind, Stride: *stride,
			EightBit: *eightBit})
	if err != nil {
		return err
	}
	if !*perImage {
		res.PerImage = nil
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("%d images, sigma %g: noisy %.2f dB, denoised %.2f dB (model %s, %.1f s)\n",
		res.Images, res.Sigma, res.NoisyPSNR, res.PSNR, res.Model, res.Seconds)
	for _, r := range res.PerImage {
		fmt.Printf("  %-16s %4dx%-4d %5.2f -> %5.2f dB\n", r.Name, r.Width, r.Height,
			r.NoisyPSNR, r.PSNR)
	}
	return nil
}

// checkSigma refuses noise levels that are not numbers from 0 to 255; a
// negative one, where estimate allows it, asks for a per-image estimate.
func checkSigma(sigma float64, estimate bool) error {
	switch {
	case math.IsNaN(sigma) || sigma > 255:
		return fmt.Errorf("sigma %v: want a number from 0 to 255", sigma)
	case sigma < 0 && !estimate:
		return fmt.Errorf("sigma %v: want a number from 0 to 255", sigma)
	}
	return nil
}

// flagsFirst refuses a flag given after the files, which the flag package
// would otherwise take for a file name.
func flagsFirst(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return fmt.Errorf("flag %q after the files: put flags before the files", a)
		}
	}
	return nil
}

// outputPaths maps each input to OUTDIR/<name>.png, refusing two inputs that
// would write the same file and an output that would replace an input.
func outputPaths(outDir string, inputs []string) (map[string]string, error) {
	outs := make(map[string]string, len(inputs))
	by := make(map[string]string, len(inputs))
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in)) + ".png"
		out := filepath.Join(outDir, name)
		if prev, ok := by[out]; ok {
			return nil, fmt.Errorf("%s and %s would both be written to %s; denoise them "+
				"into different folders", prev, in, out)
		}
		for _, other := range inputs {
			if sameFile(out, other) {
				return nil, fmt.Errorf("%s would overwrite the input %s; choose another "+
					"-o folder", out, other)
			}
		}
		by[out], outs[in] = in, out
	}
	return outs, nil
}

func sameFile(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}
