// Package evaluate measures denoising quality: Gaussian noise at a fixed seed,
// in-process denoising, and PSNR against the clean image.
package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
)

// AddNoise adds white Gaussian noise of deviation sigma (0–255 scale) to every
// plane, in place, without clipping or rounding.
func AddNoise(planes []ae.Plane, sigma float64, rng *rand.Rand) {
	for _, p := range planes {
		for i := range p.Pix {
			p.Pix[i] += float32(rng.NormFloat64() * sigma)
		}
	}
}

// NoiseRand returns the generator used for image index i under seed, so that
// every tool corrupts the same image the same way.
func NoiseRand(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)))
}

// MaxPSNR caps the PSNR of (nearly) identical images, which would be
// infinite, so that results stay finite numbers in JSON.
const MaxPSNR = 100

// PSNR is the peak signal-to-noise ratio in dB of got against want, both on
// the 0–255 scale, over all planes, at most MaxPSNR.

func PSNR(got, want []ae.Plane) float64 {
	var s float64
	var n int
	for c := range want {
		for i, v := range want[c].Pix {
			d := float64(got[c].Pix[i] - v)
			s += d * d
		}
		n += len(want[c].Pix)
	}
	return min(MaxPSNR, 10*math.Log10(255*255/(s/float64(n))))
}

// Quantize rounds and clamps every value to 8 bits, in place, as an encoded
// output would be.
func Quantize(planes []ae.Plane) {
	for _, p := range planes {
		for i, v := range p.Pix {
			p.Pix[i] = float32(math.Round(math.Min(255, math.Max(0, float64(v)))))
		}
	}
}

// Config sets up an evaluation.
type Config struct {
	Sigma  float64 // noise deviation added, 0–255 scale
	Seed   uint64  // noise seed
	Blind  bool    // estimate sigma per image instead of telling the model
	Stride int     // patch stride; 0 is the model's default

	// EightBit rounds and clips the noisy image to 8 bits before it is
	// denoised, as a PNG carries it through the pipeline: high noise then
	// loses its tails at 0 and 255, and is no longer zero-mean there.
	EightBit bool

	// Corruption, when set, replaces the Gaussian noise: each plane is
	// corrupted in turn with the image's generator, and the model is told
	// the largest deviation the corruption reports (Sigma is not used).
	// Implementations keep scratch state: use one per run.
	Corruption ae.Corruption
}

// ImageResult is one image's outcome.
type ImageResult struct {
	Name      string  `json:"name"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Channels  int     `json:"channels"`
	NoisyPSNR float64 `json:"noisy_psnr_db"`
	PSNR      float64 `json:"psnr_db"`
	Seconds   float64 `json:"seconds"`
}

// Result is the outcome over a set of images; PSNRs are means over images.
type Result struct {
	Images    int           `json:"images"`
	Sigma     float64       `json:"sigma"`
	NoisyPSNR float64       `json:"noisy_psnr_db"`
	PSNR      float64       `json:"psnr_db"`
	Seconds   float64       `json:"seconds"`
	Model     string        `json:"model_version"`
	PerImage  []ImageResult `json:"per_image,omitempty"`
}

// Run corrupts each image, denoises it with m and scores it.
func Run(ctx context.Context, m *ae.Model, imgs []dataset.Image, cfg Config) (Result, error) {
	return RunFunc(ctx, m.Version(), imgs, cfg, func(out, noisy []ae.Plane, sigma float32) error {
		return m.DenoisePlanes(out, noisy, sigma, cfg.Stride)
	})
}

// Denoise writes into out the denoised noisy planes, told the noise
// deviation sigma, or a negative sigma to estimate it.
type Denoise func(out, noisy []ae.Plane, sigma float32) error

// RunFunc is Run for any denoiser (a reference method, say), named name in
// the result; cfg.Stride is up to it.
func RunFunc(ctx context.Context, name string, imgs []dataset.Image, cfg Config,
	denoise Denoise) (Result, error) {
	res := Result{Images: len(imgs), Sigma: cfg.Sigma, Model: name}
	if len(imgs) == 0 {
		return res, fmt.Errorf("evaluate: no images")
	}
	start := time.Now()
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r, err := one(denoise, img, i, cfg)
		if err != nil {
			return res, err
		}
		res.PerImage = append(res.PerImage, r)
		res.NoisyPSNR += r.NoisyPSNR / float64(len(imgs))
		res.PSNR += r.PSNR / float64(len(imgs))
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func one(denoise Denoise, img dataset.Image, i int, cfg Config) (ImageResult, error) {
	clean := ae.ImagePlanes(img.Image)
	noisy := make([]ae.Plane, len(clean))
	out := make([]ae.Plane, len(clean))
	for c, p := range clean {
		noisy[c] = ae.Plane{W: p.W, H: p.H, Pix: append([]float32(nil), p.Pix...)}
		out[c] = ae.Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	}
	rng := NoiseRand(cfg.Seed, i)
	sigma := float32(cfg.Sigma)
	if cfg.Corruption == nil {
		AddNoise(noisy, cfg.Sigma, rng)
	} else {
		sigma = 0
		for c, p := range clean {
			s := cfg.Corruption.Corrupt(p.Pix, noisy[c].Pix, p.W, p.H, rng)
			sigma = max(sigma, float32(s))
		}
	}
	if cfg.EightBit {
		Quantize(noisy)
	}
	if cfg.Blind {
		sigma = -1
	}
	t := time.Now()
	if err := denoise(out, noisy, sigma); err != nil {
		return ImageResult{}, fmt.Errorf("evaluate %s: %w", img.Name, err)
	}
	secs := time.Since(t).Seconds()
	Quantize(out)
	return ImageResult{Name: img.Name, Width: clean[0].W, Height: clean[0].H,
		Channels: len(clean), NoisyPSNR: PSNR(noisy, clean), PSNR: PSNR(out, clean),
		Seconds: secs}, nil
}
