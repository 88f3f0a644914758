package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/dataset"
)

// runTrain trains a model from a folder of clean images, locally, without
// Kafka: the way the shipped default model is made.
func runTrain(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	images := fs.String("images", "",
		"folder of clean training images, or several separated by commas (required)")
	out := fs.String("o", "model.cfm", "where to write the trained model")
	from := fs.String("model", "", "model file or shipped model (fast, balanced, "+
		"quality) to continue from (default: a new model)")
	arch := fs.String("arch", "17:9:3:512,512,512",
		"new model's patch-in:patch-out:stride:hidden widths")
	sigmaIn := fs.Bool("sigma-input", true, "new model takes the noise level as an input")
	name := fs.String("name", "grey", "new model's name")
	steps := fs.Int("steps", 20000, "Adam steps")
	batch := fs.Int("batch", 256, "patches per step")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	lrFinal := fs.Float64("lr-final", 0, "final learning rate of the cosine decay (default lr/50)")
	warmup := fs.Int("warmup", -1, "warm-up steps: -1 for min(500, steps/10), 0 for none")
	smin := fs.Float64("sigma-min", 0, "lowest training noise deviation, 0–255 scale "+
		"(default: the model's, for a new model 2)")
	smax := fs.Float64("sigma-max", 0, "highest training noise deviation (default: the "+
		"model's, for a new model 55)")
	corruption := fs.String("corruption", "", "training corruption: one or more of "+
		"gaussian:MIN-MAX, poisson:GAINMIN-GAINMAX[:READMIN-READMAX] and jpeg:QMIN-QMAX, "+
		"comma-separated, each optionally weighted *WEIGHT, e.g. gaussian:2-55,jpeg:30-90*0.5 "+
		"(sigmas and gains 0–255 scale, qualities 1–100; default: gaussian over "+
		"-sigma-min..-sigma-max)")
	seed := fs.Uint64("seed", 1, "random seed")
	every := fs.Int("checkpoint-every", 2000, "steps between checkpoints written to -o "+
		"(with the optimiser state beside it in -o.state)")
	resume := fs.Bool("resume", false, "continue the stopped run in -o and -o.state, "+
		"with the settings it recorded")
	guided := fs.Bool("guided", false, "train a guided (quality) model: -model, or the "+
		"shipped model, becomes the pilot whose estimate, refined by collaborative Wiener "+
		"filtering, guides the new net; a guided -model trains further")
	perImage := fs.Int("guides-per-image", 4, "with -guided: noisy copies of each training "+
		"image, each with its guide, made before training")
	chroma := fs.Bool("chroma", false, "colour images also give their two opponent "+
		"chroma planes, which colour denoising cleans with the same net, besides the "+
		"luminance")
	if err := fs.Parse(args); err != nil {
		return err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if st, err := os.Stat(filepath.Dir(*out)); err != nil || !st.IsDir() {
		return fmt.Errorf("train: the folder of -o %s does not exist; create it first", *out)
	}
	for _, p := range []string{*out, *out + ".state"} {
		if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() {
			return fmt.Errorf("train: %s is not a file; -o names the model file to write", p)
		}
	}
	if *resume && *from != "" {
		return errors.New("train: -resume continues the model in -o; drop -model (or drop " +
			"-resume to start a new run from -model)")
	}
	// Locked first, so that a run still going is not taken for a stopped one.
	unlock, err := lockRun(*out)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(*out + ".state"); err == nil && !*resume {
		return fmt.Errorf("train: %s holds a stopped run (%s.state); continue it with "+
			"trainer train -o %s -resume, or start over after rm %s", *out, *out,
			shellQuote(*out), shellQuote(*out+".state"))
	}
	var m *ae.Model
	var state *ae.TrainState
	if *resume {
		if m, state, err = loadResume(*out); err != nil {
			return err
		}
		if err := applyRecorded(fs, state.Settings, explicit, log); err != nil {
			return err
		}
		if err := checkResume(m, state, *steps, *arch, explicit["arch"]); err != nil {
			return err
		}
	}
	if *images == "" {
		return errors.New("train: -images is required")
	}
	if *batch < 1 || !(*lr > 0) {
		return fmt.Errorf("train: -batch %d and -lr %v: want at least 1 and above 0", *batch,
			*lr)
	}
	if *warmup < -1 || (*steps >= 1 && *warmup > *steps) {
		return fmt.Errorf("train: -warmup %d: want -1 (the default, min(500, steps/10)), 0 "+
			"(none) or a step count up to -steps %d", *warmup, *steps)
	}
	// Settings are checked before images load and guides are made.
	if err := (ae.TrainConfig{Steps: *steps, Batch: *batch, LR: *lr, LRFinal: *lrFinal,
		Warmup: warmupSteps(*warmup), SigmaMin: *smin, SigmaMax: *smax,
		CheckpointEvery: *every}).Validate(); err != nil {
		return err
	}
	// Found now, not at the first checkpoint or after the whole run.
	probe, err := os.CreateTemp(filepath.Dir(*out), ".cf-train-*")
	if err != nil {
		return fmt.Errorf("train: cannot write beside -o %s: %w", *out, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	// A resumed run has its recorded -arch, which its model has.
	if explicit["arch"] && !*resume && (*guided || *from != "") {
		return errors.New("train: -arch shapes a new model only; a guided model takes its " +
			"pilot's shape, and -model keeps its own")
	}

	switch {
	case *resume:
	case *from != "":
		m, err = zoo.Load(*from)
	case *guided:
		m, err = ae.Default()
	default:
		m, err = newModel(*name, *arch, *sigmaIn)
	}
	if err != nil {
		return err
	}
	if *guided && m.Pilot == nil {
		if m, err = ae.NewGuided(*name, m); err != nil {
			return err
		}
	}
	settings := recordFlags(fs, m)
	if *corruption != "" && m.Pilot != nil {
		return errors.New("train: a guided model trains on Gaussian noise only; drop " +
			"-corruption, or train a plain model")
	}
	var corrupt ae.Corruption
	if *corruption != "" {
		if corrupt, err = ae.ParseCorruption(*corruption); err != nil {
			return err
		}
	}
	var planes []ae.Plane
	for _, dir := range strings.Split(*images, ",") {
		ps, err := loadPlanes(dir, *chroma)
		if err != nil && *resume && !explicit["images"] {
			return fmt.Errorf("train: the stopped run's -images: %w; if they moved, give "+
				"-images with their new place", err)
		}
		if err != nil {
			return err
		}
		planes = append(planes, ps...)
	}
	var samples []ae.GuidedSample
	if m.Pilot != nil {
		lo, hi := ae.TrainConfig{SigmaMin: *smin, SigmaMax: *smax}.NoiseRange(m)
		log.Info("making guides", "planes", len(planes), "per_image", *perImage,
			"sigma_min", lo, "sigma_max", hi)
		t := time.Now()
		if samples, err = m.GuidedSamples(ctx, planes, *perImage, lo, hi, *seed); err != nil {
			return err
		}
		log.Info("guides made", "samples", len(samples), "elapsed", time.Since(t).Round(time.Second))
		planes = nil
	}
	log.Info("training", "planes", len(planes)+len(samples), "params", len(m.Net.Params),
		"arch", fmt.Sprint(m.Header.Arch), "steps", *steps, "batch", *batch)

	var snap *ae.Model
	cfg := ae.TrainConfig{Steps: *steps, Batch: *batch, LR: *lr, LRFinal: *lrFinal,
		Warmup: warmupSteps(*warmup), SigmaMin: *smin, SigmaMax: *smax, Seed: *seed,
		Corruption: corrupt, CheckpointEvery: *every,
		// The checkpoint is written with its state, as a pair.
		Checkpoint: func(c *ae.Model) error { snap = c; return nil },
		SaveState: func(st ae.TrainState) error {
			st.Settings = settings
			return saveCheckpoint(*out, snap, st)
		},
		Resume:   state,
		Guided:   samples,
		Progress: newProgress(os.Stderr, log).report}
	trained, err := ae.Train(ctx, m, planes, cfg)
	if trained != nil {
		if serr := trained.Save(*out); serr != nil {
			return serr
		}
		log.Info("model written", "path", *out, "version", trained.Version(),
			"steps", trained.Header.Steps)
	}
	if trained != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("train: stopped, with a checkpoint in %s; trainer train -o %s "+
			"-resume goes on from there with the same settings: %w", *out, shellQuote(*out),
			err)
	}
	if err == nil {
		// The run is complete: its state would resume nothing.
		if rerr := os.Remove(*out + ".state"); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) {
			return fmt.Errorf("train: remove the finished run's state: %w", rerr)
		}
	}
	return err
}

// newModel builds an untrained model from "in:out:stride:h1,h2,...".
func newModel(name, spec string, sigmaInput bool) (*ae.Model, error) {
	a, err := parseArch(spec)
	if err != nil {
		return nil, err
	}
	a.SigmaInput = sigmaInput
	m, err := ae.NewModel(name, a, 51)
	if err != nil {
		return nil, err
	}
	m.Net.InitHe(newRand(1), 0.1)
	return m, nil
}

// parseArch reads "in:out:stride:h1,h2,..." into a shape.
func parseArch(spec string) (ae.Arch, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 4 {
		return ae.Arch{}, fmt.Errorf("arch %q: want in:out:stride:h1,h2,...", spec)
	}
	var nums [3]int
	for i := range nums {
		v, err := strconv.Atoi(parts[i])
		if err != nil {
			return ae.Arch{}, fmt.Errorf("arch %q: %w", spec, err)
		}
		nums[i] = v
	}
	var hidden []int
	for _, h := range strings.Split(parts[3], ",") {
		v, err := strconv.Atoi(h)
		if err != nil {
			return ae.Arch{}, fmt.Errorf("arch %q: hidden width: %w", spec, err)
		}
		hidden = append(hidden, v)
	}
	return ae.Arch{PatchIn: nums[0], PatchOut: nums[1], Stride: nums[2], Hidden: hidden}, nil
}

// loadPlanes decodes a folder of images into training planes: grey images
// as they are, colour ones as their luminance, and with chroma also as their
// two opponent chroma planes, which the denoiser cleans like grey ones.
func loadPlanes(dir string, chroma bool) ([]ae.Plane, error) {
	imgs, err := dataset.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	var planes []ae.Plane
	for _, img := range imgs {
		ps := ae.ImagePlanes(img.Image)
		if len(ps) == 3 {
			opp := ae.OpponentPlanes(ps[0], ps[1], ps[2])
			ps = opp[:1]
			if chroma {
				ps = opp[:]
			}
		}
		planes = append(planes, ps...)
	}
	return planes, nil
}
