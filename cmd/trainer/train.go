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
	"slices"
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
	warmup := fs.Int("warmup", -1, "warm-up steps; 0 for none (default -1: min(500, steps/10))")
	smin := fs.Float64("sigma-min", 0, "lowest training noise deviation, 0–255 scale")
	smax := fs.Float64("sigma-max", 0, "highest training noise deviation (default: model's)")
	corruption := fs.String("corruption", "", "training corruption, e.g. "+
		"gaussian:5-50,poisson:0.5-4:0-5,jpeg:30-90 (see ae.ParseCorruption; "+
		"default: gaussian over -sigma-min..-sigma-max)")
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
	var m *ae.Model
	var state *ae.TrainState
	var err error
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
	settings := recordFlags(fs)
	if *guided && m.Pilot == nil {
		if m, err = ae.NewGuided(*name, m); err != nil {
			return err
		}
	}
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
		lo, hi := *smin, *smax
		if hi == 0 {
			lo, hi = m.Header.TrainNoise.SigmaMin, m.Header.TrainNoise.SigmaMax
		}
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

	cfg := ae.TrainConfig{Steps: *steps, Batch: *batch, LR: *lr, LRFinal: *lrFinal,
		Warmup: warmupSteps(*warmup), SigmaMin: *smin, SigmaMax: *smax, Seed: *seed,
		Corruption: corrupt, CheckpointEvery: *every,
		Checkpoint: func(c *ae.Model) error { return c.Save(*out) },
		SaveState: func(st ae.TrainState) error {
			st.Settings = settings
			return saveState(*out+".state", st)
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
			"-resume goes on from there with the same settings: %w", *out, *out, err)
	}
	if err == nil {
		// The run is complete: its state would resume nothing.
		if rerr := os.Remove(*out + ".state"); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) {
			return fmt.Errorf("train: remove the finished run's state: %w", rerr)
		}
	}
	return err
}

// runFlags are the flags that define a training run. Its state records
// them, and a resumed run takes them from there.
var runFlags = []string{"images", "arch", "sigma-input", "name", "steps", "batch", "lr",
	"lr-final", "warmup", "sigma-min", "sigma-max", "corruption", "seed", "guided",
	"guides-per-image", "chroma"}

// recordFlags writes the values of runFlags, one name=quoted value a line.
func recordFlags(fs *flag.FlagSet) string {
	var b strings.Builder
	for _, name := range runFlags {
		fmt.Fprintf(&b, "%s=%s\n", name, strconv.Quote(fs.Lookup(name).Value.String()))
	}
	return b.String()
}

// applyRecorded sets the flags of a resumed run to the values its stopped
// run recorded. A flag given again with another value is refused, except
// -images (the folder may have moved), which is logged; a state from before
// settings were recorded leaves the flags as given.
func applyRecorded(fs *flag.FlagSet, rec string, explicit map[string]bool,
	log *slog.Logger) error {
	var differ []string
	for _, line := range strings.Split(rec, "\n") {
		if line == "" {
			continue
		}
		name, quoted, _ := strings.Cut(line, "=")
		val, err := strconv.Unquote(quoted)
		f := fs.Lookup(name)
		if err != nil || f == nil || !slices.Contains(runFlags, name) {
			return fmt.Errorf("resume: the state records an unknown setting %q; was it "+
				"written by a newer trainer?", line)
		}
		switch got := f.Value.String(); {
		case !explicit[name]:
			if err := fs.Set(name, val); err != nil {
				return fmt.Errorf("resume: the recorded -%s %s: %w", name, val, err)
			}
		case got == val:
		case name == "images":
			log.Warn("resuming on other images than the run started with", "images", got,
				"recorded", val)
		default:
			differ = append(differ, fmt.Sprintf("-%s %s (the run has %s)", name, got, val))
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("resume: %s; a resumed run keeps the settings it started with, "+
			"so drop these flags (or start a new run)", strings.Join(differ, ", "))
	}
	return nil
}

// warmupSteps maps the -warmup flag (-1 default, 0 none) to TrainConfig's.
func warmupSteps(flagValue int) int {
	switch flagValue {
	case -1:
		return 0
	case 0:
		return ae.NoWarmup
	}
	return flagValue
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

// loadResume reads the checkpoint at path and the state beside it, refusing
// a pair that does not belong together.
func loadResume(path string) (*ae.Model, *ae.TrainState, error) {
	m, err := ae.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	st, err := ae.LoadTrainState(path+".state", len(m.Net.Params))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil, fmt.Errorf("resume: %s has no stopped run to continue (no %s.state: "+
			"a run that finished removes it); train it further with -model %s", path, path, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	if st.Version != m.Version() {
		return nil, nil, fmt.Errorf("resume: %s.state belongs to model %s, but %s is %s; "+
			"continue with -model %s instead (a new optimiser state)", path, st.Version,
			path, m.Version(), path)
	}
	return m, &st, nil
}

// checkResume refuses flags that cannot continue the stopped run of m: a
// step count it has already reached, or another shape.
func checkResume(m *ae.Model, st *ae.TrainState, steps int, arch string, archSet bool) error {
	if steps <= st.Step {
		return fmt.Errorf("resume: the stopped run has done %d steps already, and -steps is "+
			"%d; repeat the first run's -steps (its state is kept)", st.Step, steps)
	}
	if !archSet {
		return nil
	}
	a, err := parseArch(arch)
	if err != nil {
		return err
	}
	b := m.Header.Arch
	if a.PatchIn != b.PatchIn || a.PatchOut != b.PatchOut || a.Stride != b.Stride ||
		!slices.Equal(a.Hidden, b.Hidden) {
		widths := make([]string, len(b.Hidden))
		for i, h := range b.Hidden {
			widths[i] = strconv.Itoa(h)
		}
		return fmt.Errorf("resume: -arch %s, but the stopped run's model is %d:%d:%d:%s",
			arch, b.PatchIn, b.PatchOut, b.Stride, strings.Join(widths, ","))
	}
	return nil
}

// saveState writes the training state atomically.
func saveState(path string, st ae.TrainState) error {
	data, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("save training state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save training state: %w", err)
	}
	return nil
}
