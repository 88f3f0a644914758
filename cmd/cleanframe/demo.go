package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// demoConfig is what the demo's flags set.
type demoConfig struct {
	images     string
	out        string
	sigma      float64
	seed       uint64
	trainSteps int
	model      string
	level      string
	timeout    time.Duration
}

func (c *demoConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.images, "images", "examples/images", "`folder` of clean sample images")
	fs.StringVar(&c.out, "out", filepath.Join("out", "demo"), "output `folder`")
	fs.Float64Var(&c.sigma, "sigma", 25, "Gaussian noise deviation added, 0-255 scale")
	fs.Uint64Var(&c.seed, "seed", 1, "noise seed")
	fs.IntVar(&c.trainSteps, "train-steps", 60,
		"Adam steps of the trainer round after the table; 0 skips it")
	fs.StringVar(&c.model, "model", "", "the denoiser's "+zoo.Usage)
	fs.StringVar(&c.level, "log-level", "warn", "debug, info, warn or error")
	fs.DurationVar(&c.timeout, "timeout", 3*time.Minute, "give up after this long")
}

// sample is one demo image on its way through the pipeline.
type sample struct {
	name  string
	id    string
	clean []ae.Plane
	noisy []ae.Plane // quantized to 8 bits, as sent
	data  []byte     // the noisy PNG
	out   pipeline.Record
	size  image.Point
}

// runDemo runs the whole pipeline in this process and prints a PSNR table.
func runDemo(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var c demoConfig
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected arguments %q", fs.Args())
	}
	if c.timeout <= 0 {
		return fmt.Errorf("demo: -timeout %v: want a positive duration, such as 3m", c.timeout)
	}
	imagesSet := false
	fs.Visit(func(f *flag.Flag) { imagesSet = imagesSet || f.Name == "images" })
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.level)); err != nil {
		return fmt.Errorf("demo: log level %q: want debug, info, warn or error", c.level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()

	// Inputs first: a missing folder should fail before anything starts.
	imgs, err := dataset.LoadDir(c.images)
	if err != nil && !imagesSet {
		return fmt.Errorf("demo: %w (run from the repository root, or pass --images)", err)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Outputs and record keys are named by stem: a.png and a.jpg would collide.
	stems := make(map[string]string)
	for _, img := range imgs {
		if other, ok := stems[stem(img.Name)]; ok {
			return fmt.Errorf("demo: %s and %s share the name %q, which names their "+
				"outputs; keep one of them", other, img.Name, stem(img.Name))
		}
		stems[stem(img.Name)] = img.Name
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	m, err := zoo.Load(c.model)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// The broker, its topics, and a denoiser that follows the models topic.
	// The broker outlives ctx (a Ctrl-C): it closes last, after the denoiser
	// has stopped, whose writer would otherwise wait for it forever.
	broker, err := pipeline.StartEmbedded(context.WithoutCancel(ctx), 0)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer broker.Close()
	pc := &pipeline.Config{Brokers: broker.Brokers(), TopicPrefix: "demo", Partitions: 2,
		Logger: log}
	if err := pipeline.EnsureTopics(ctx, pc); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(w, "embedded Kafka broker on %s; topics %s.*\n",
		strings.Join(pc.Brokers, ","), pc.TopicPrefix)
	dctx, stopDenoiser := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() {
		serveErr = worker.Serve(dctx, pc, "demo-denoisers", worker.Config{Logger: log}, m,
			decodeModel)
	})
	defer func() { stopDenoiser(); wg.Wait() }()

	samples, err := publishNoisy(ctx, pc, imgs, c, w)
	if err != nil {
		return err
	}
	if err := collectOutputs(ctx, pc, samples); err != nil {
		return err
	}
	if err := writeTable(w, samples, c); err != nil {
		return err
	}
	fmt.Fprintf(w, "images through Kafka in %.1fs\n", time.Since(start).Seconds())

	if c.trainSteps > 0 {
		version, err := trainRound(ctx, pc, m, imgs, c, log, w)
		if err != nil {
			return err
		}
		if version != "" {
			if err := afterSwap(ctx, pc, samples, version, c.sigma, w); err != nil {
				return err
			}
		}
	}
	stopDenoiser()
	wg.Wait()
	if serveErr != nil {
		return fmt.Errorf("demo: denoiser: %w", serveErr)
	}
	fmt.Fprintf(w, "done in %.1fs; images in %s\n", time.Since(start).Seconds(), c.out)
	return nil
}

// publishNoisy adds noise at the fixed seed to each image, writes the noisy
// PNG to the output folder and publishes it through ingest's publisher.
func publishNoisy(ctx context.Context, pc *pipeline.Config, imgs []dataset.Image,
	c demoConfig, w io.Writer) ([]*sample, error) {
	prod, err := pipeline.NewProducer(pc)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer prod.Close()
	pub := &ingest.Publisher{Producer: prod, Topics: pc.Topics(), MaxBytes: pc.MaxValueBytes()}

	var samples []*sample
	for i, img := range imgs {
		s := &sample{name: img.Name, id: "demo-" + stem(img.Name),
			clean: ae.ImagePlanes(img.Image), size: img.Image.Bounds().Size()}
		s.noisy = clonePlanes(s.clean)
		evaluate.AddNoise(s.noisy, c.sigma, evaluate.NoiseRand(c.seed, i))
		evaluate.Quantize(s.noisy)
		noisy, err := ae.PlanesImage(s.noisy, nil)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", img.Name, err)
		}
		data, err := imageio.EncodePNG(noisy)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", img.Name, err)
		}
		s.data = data
		path := filepath.Join(c.out, stem(img.Name)+".noisy.png")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		rec, err := pub.Publish(ctx, ingest.Image{ID: s.id, Data: data, Source: "demo",
			NoiseSigma: c.sigma})
		if err != nil {
			return nil, fmt.Errorf("demo: publish %s: %w", img.Name, err)
		}
		fmt.Fprintf(w, "published %-16s %4dx%-4d %7d bytes -> %s/%d@%d\n", img.Name,
			s.size.X, s.size.Y, len(data), rec.Topic, rec.Partition, rec.Offset)
		samples = append(samples, s)
	}
	return samples, nil
}

// collectOutputs reads the denoised topic until every sample has come out.
func collectOutputs(ctx context.Context, pc *pipeline.Config, samples []*sample) error {
	c, err := pipeline.NewGroupConsumer(pc, "demo-reader-"+samples[0].id,
		pc.Topics().Denoised)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer c.Close()
	byID := make(map[string]*sample)
	for _, s := range samples {
		byID[s.id] = s
	}
	for left := len(samples); left > 0; {
		rec, err := c.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("demo: waiting for %d denoised images: %w", left, err)
		}
		if s := byID[string(rec.Key)]; s != nil && s.out.Value == nil {
			s.out = rec
			left--
		}
	}
	return nil
}

// writeTable scores each output, writes it to the output folder and prints
// one row per image plus the means.
func writeTable(w io.Writer, samples []*sample, c demoConfig) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nimage\tsize\tnoisy dB\tcleaned dB\tgain dB\tmodel version\n")
	var sumNoisy, sumClean float64
	for _, s := range samples {
		img, _, err := imageio.Decode(s.out.Value, 0)
		if err != nil {
			return fmt.Errorf("demo: output of %s: %w", s.name, err)
		}
		path := filepath.Join(c.out, stem(s.name)+".denoised.png")
		if err := os.WriteFile(path, s.out.Value, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		got := ae.ImagePlanes(img)
		if len(got) != len(s.clean) || img.Bounds().Size() != s.size {
			return fmt.Errorf("demo: output of %s is %v with %d channels, want %v with %d",
				s.name, img.Bounds().Size(), len(got), s.size, len(s.clean))
		}
		noisy, clean := evaluate.PSNR(s.noisy, s.clean), evaluate.PSNR(got, s.clean)
		sumNoisy, sumClean = sumNoisy+noisy, sumClean+clean
		fmt.Fprintf(tw, "%s\t%dx%d\t%.2f\t%.2f\t%+.2f\t%s\n", s.name, s.size.X, s.size.Y,
			noisy, clean, clean-noisy, s.out.HeaderString(pipeline.HeaderModelVersion))
	}
	n := float64(len(samples))
	fmt.Fprintf(tw, "mean (sigma %g, seed %d)\t\t%.2f\t%.2f\t%+.2f\t\n", c.sigma, c.seed,
		sumNoisy/n, sumClean/n, (sumClean-sumNoisy)/n)
	return tw.Flush()
}

// trainRound runs one short fine-tuning round of the trainer on the clean
// samples, validated on their centres; a candidate that beats the shipped
// model is published to the models topic, where the denoiser picks it up.
// It returns the published version, or "" when the gate kept the model.
func trainRound(ctx context.Context, pc *pipeline.Config, m *ae.Model, imgs []dataset.Image,
	c demoConfig, log *slog.Logger, w io.Writer) (string, error) {
	var valid []dataset.Image
	for _, img := range imgs {
		valid = append(valid, dataset.Image{Name: img.Name, Image: centre(img.Image, 96)})
	}
	svc, err := newTrainer(pc, m, valid, c, log)
	if err != nil {
		return "", err
	}
	for _, img := range imgs {
		svc.AddImage(img.Image)
	}
	pub, err := pipeline.NewModelPublisher(pc)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	defer pub.Close()
	out, err := svc.Round(ctx, pub)
	if err != nil {
		return "", fmt.Errorf("demo: trainer round: %w", err)
	}
	verdict, version := "the gate kept the shipped model", ""
	if out.Published {
		version = out.Candidate.Version()
		verdict = "published " + version + " to " + pc.Topics().Models
	}
	fmt.Fprintf(w, "\ntrainer round: %d steps in %.1fs on the clean photographs; PSNR on "+
		"their centres %.2f dB serving, %.2f dB candidate; %s\n"+
		"(validated on the photographs it trained on: a demonstration of the loop, "+
		"not a quality claim)\n", c.trainSteps, out.TrainSeconds, out.ServingPSNR,
		out.CandPSNR, verdict)
	return version, nil
}

// afterSwap sends the smallest sample again until an output made by version
// comes back, showing the denoiser's hot swap, and prints its row.
func afterSwap(ctx context.Context, pc *pipeline.Config, samples []*sample, version string,
	sigma float64, w io.Writer) error {
	s := samples[0]
	for _, t := range samples {
		if t.size.X*t.size.Y*len(t.clean) < s.size.X*s.size.Y*len(s.clean) {
			s = t
		}
	}
	prod, err := pipeline.NewProducer(pc)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer prod.Close()
	pub := &ingest.Publisher{Producer: prod, Topics: pc.Topics(), MaxBytes: pc.MaxValueBytes()}
	for try := 1; ; try++ {
		again := &sample{name: s.name, id: fmt.Sprintf("%s-again-%d", s.id, try),
			clean: s.clean, noisy: s.noisy, size: s.size}
		_, err := pub.Publish(ctx, ingest.Image{ID: again.id, Data: s.data, Source: "demo",
			NoiseSigma: sigma})
		if err != nil {
			return fmt.Errorf("demo: publish %s again: %w", s.name, err)
		}
		if err := collectOutputs(ctx, pc, []*sample{again}); err != nil {
			return err
		}
		if again.out.HeaderString(pipeline.HeaderModelVersion) != version {
			continue // the denoiser has not swapped yet
		}
		img, _, err := imageio.Decode(again.out.Value, 0)
		if err != nil {
			return fmt.Errorf("demo: output of %s: %w", s.name, err)
		}
		fmt.Fprintf(w, "after the hot swap: %s %.2f dB with %s (try %d)\n", s.name,
			evaluate.PSNR(ae.ImagePlanes(img), s.clean), version, try)
		return nil
	}
}

// centre crops the middle n x n of img (or less, for smaller images).
func centre(img image.Image, n int) image.Image {
	b := img.Bounds()
	w, h := min(n, b.Dx()), min(n, b.Dy())
	r := image.Rect(0, 0, w, h).Add(b.Min).Add(image.Pt((b.Dx()-w)/2, (b.Dy()-h)/2))
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return img
}

func clonePlanes(ps []ae.Plane) []ae.Plane {
	out := make([]ae.Plane, len(ps))
	for i, p := range ps {
		out[i] = ae.Plane{W: p.W, H: p.H, Pix: append([]float32(nil), p.Pix...)}
	}
	return out
}

func stem(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name))
}

// decodeModel adapts ae.Decode to worker.Decoder.
func decodeModel(data []byte) (worker.Model, error) {
	m, err := ae.Decode(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}
