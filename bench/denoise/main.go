// Command denoise measures the default model's speed and quality on 512×512
// photographs (grey and RGB) with Gaussian noise at sigma 25 and a fixed
// seed, at 1 and 2 threads and several strides, and prints one table. Each
// cell is the best of several runs, so that a busy machine disturbs it less.
//
//	go run ./bench/denoise
//	go run ./bench/denoise -images a.png,b.png -strides 3,4,5 -runs 5
package main

import (
	"flag"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/gemm"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "denoise bench:", err)
		os.Exit(1)
	}
}

func run() error {
	images := flag.String("images", "examples/images/camera.png,examples/images/astronaut.png",
		"comma-separated image files")
	modelPath := flag.String("model", "", "model file (default: the shipped model)")
	strides := flag.String("strides", "3,4,5", "comma-separated patch strides")
	threads := flag.String("threads", "1,2", "comma-separated thread counts")
	runs := flag.Int("runs", 3, "runs per cell; the best is kept")
	sigma := flag.Float64("sigma", 25, "noise deviation, 0–255 scale")
	noisyFiles := flag.String("noisy", "", "comma-separated noisy versions of -images "+
		"(default: add noise at seed 1 and round to 8 bits)")
	flag.Parse()
	var noisyList []string
	if *noisyFiles != "" {
		noisyList = strings.Split(*noisyFiles, ",")
	}

	m, err := ae.Default()
	if *modelPath != "" {
		m, err = ae.Load(*modelPath)
	}
	if err != nil {
		return err
	}
	fmt.Printf("model %s, GEMM kernel %s, sigma %g, best of %d\n", m.Version(),
		gemm.Kernel(), *sigma, *runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "image\tsize\tchannels\tstride\tthreads\tseconds\tMP/s\tnoisy dB\tPSNR dB")
	for i, path := range strings.Split(*images, ",") {
		img, err := dataset.Open(path)
		if err != nil {
			return err
		}
		var noisy *dataset.Image
		if i < len(noisyList) {
			n, err := dataset.Open(noisyList[i])
			if err != nil {
				return err
			}
			noisy = &n
		}
		for _, s := range ints(*strides) {
			for _, t := range ints(*threads) {
				gemm.SetThreads(t)
				secs, noisyDB, psnr, err := measure(m, img, noisy, i, s, *sigma, *runs)
				if err != nil {
					return err
				}
				b := img.Image.Bounds()
				mp := float64(b.Dx()*b.Dy()) / 1e6
				fmt.Fprintf(tw, "%s\t%dx%d\t%d\t%d\t%d\t%.3f\t%.2f\t%.2f\t%.2f\n", img.Name,
					b.Dx(), b.Dy(), channels(img.Image), s, t, secs, mp/secs, noisyDB, psnr)
			}
		}
	}
	return tw.Flush()
}

func channels(img image.Image) int {
	if ae.IsGrey(img) {
		return 1
	}
	return 3
}

// measure denoises the noisy planes of img (given, or made at seed 1) runs
// times and returns the best time, the noisy and the denoised PSNR.
func measure(m *ae.Model, img dataset.Image, given *dataset.Image, idx, stride int,
	sigma float64, runs int) (float64, float64, float64, error) {
	clean := ae.ImagePlanes(img.Image)
	noisy := make([]ae.Plane, len(clean))
	out := make([]ae.Plane, len(clean))
	for c, p := range clean {
		noisy[c] = ae.Plane{W: p.W, H: p.H, Pix: append([]float32(nil), p.Pix...)}
		out[c] = ae.Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	}
	if given != nil {
		noisy = ae.ImagePlanes(given.Image)
		if len(noisy) != len(clean) || noisy[0].W != clean[0].W || noisy[0].H != clean[0].H {
			return 0, 0, 0, fmt.Errorf("%s and %s differ in size or channels", given.Name,
				img.Name)
		}
	} else {
		evaluate.AddNoise(noisy, sigma, evaluate.NoiseRand(1, idx))
		evaluate.Quantize(noisy) // as an 8-bit file would carry it
	}
	best := 0.0
	for r := 0; r < runs; r++ {
		start := time.Now()
		if err := m.DenoisePlanes(out, noisy, float32(sigma), stride); err != nil {
			return 0, 0, 0, err
		}
		if d := time.Since(start).Seconds(); r == 0 || d < best {
			best = d
		}
	}
	evaluate.Quantize(out)
	return best, evaluate.PSNR(noisy, clean), evaluate.PSNR(out, clean), nil
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, v)
		}
	}
	return out
}
