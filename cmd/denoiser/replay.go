package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/ae/zoo"
	"github.com/cleanframe/cleanframe/internal/cli"
	"github.com/cleanframe/cleanframe/internal/replay"
	"github.com/cleanframe/cleanframe/pipeline"
)

// replayFlags are the settings of denoiser replay.
type replayFlags struct {
	pc            pipeline.Config
	images, topic string
	sel           replay.Selection
	since, until  string
	models        []string
	registry      []string
	registryWait  time.Duration
	sigmas        []float64
	seed          uint64
	refTopic      string
	refDir        string
	blind         bool
	stride        int
	jsonOut       string
	htmlOut       string
	latency       bool
	timestamp     bool
	crop          int
	outputTopic   string
	progress      string
	level         string
	render        string
}

func (f *replayFlags) register(fs *flag.FlagSet) {
	f.pc.RegisterFlags(fs)
	fs.StringVar(&f.images, "images", "", "replay the image files of this `folder` "+
		"(clean images with --sigma, else noisy ones)")
	fs.StringVar(&f.topic, "topic", "", "replay this `topic`, by its full name "+
		"(e.g. images.noisy, or PREFIX.images.noisy)")
	fs.IntVar(&f.sel.Partition, "partition", -1, "replay only this partition; -1: all")
	fs.Int64Var(&f.sel.From, "from-offset", 0, "first offset to replay, inclusive (default: "+
		"the start)")
	fs.Int64Var(&f.sel.To, "to-offset", 0, "offset to stop before, exclusive (default: the end)")
	fs.StringVar(&f.since, "since", "", "replay records at or after this RFC 3339 `time`")
	fs.StringVar(&f.until, "until", "", "replay records before this RFC 3339 `time`")
	fs.Func("model", "model `FILE` or shipped model (fast, balanced, quality), repeatable; "+
		"\"default\" is balanced (default: balanced when no --registry is given)",
		func(s string) error { f.models = append(f.models, s); return nil })
	fs.Func("registry", "model `VERSION` or NAME/VERSION from the models topic, repeatable",
		func(s string) error { f.registry = append(f.registry, s); return nil })
	fs.DurationVar(&f.registryWait, "registry-wait", 30*time.Second,
		"how long to look for --registry models on the models topic")
	fs.Func("sigma", "synthetic noise: corrupt clean inputs at these `sigmas` (0–255, comma "+
		"separated)", func(s string) error {
		v, err := parseSigmas(s)
		f.sigmas = v
		return err
	})
	fs.Uint64Var(&f.seed, "seed", 0, "noise seed of --sigma (the same as denoiser eval's)")
	fs.StringVar(&f.refTopic, "reference-topic", "", "clean `topic` joined by id (cf-id or key)")
	fs.StringVar(&f.refDir, "reference-dir", "", "`folder` of clean images matched by file name")
	fs.BoolVar(&f.blind, "blind", false, "estimate the noise level even when it is known")
	fs.IntVar(&f.stride, "stride", 0, "patch stride (default: each model's)")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON report to `FILE` (\"-\": stdout; "+
		"default stdout when --html is not given)")
	fs.StringVar(&f.htmlOut, "html", "", "write the HTML report to `FILE`")
	fs.BoolVar(&f.latency, "latency", true, "measure seconds per image; false makes the "+
		"output bytes depend on the inputs only")
	fs.BoolVar(&f.timestamp, "timestamp", false, "write the time of the run in the reports")
	fs.IntVar(&f.crop, "crop", 128, "side in pixels of the report's crops")
	fs.StringVar(&f.outputTopic, "output-topic", "", "write reconstructions to this `topic` "+
		"for shadow comparison")
	fs.StringVar(&f.progress, "progress", "auto", "auto (a bar when stderr is a terminal, "+
		"else log lines), bar, log or off")
	fs.StringVar(&f.render, "render", "", "re-render the HTML of this JSON report `FILE`, "+
		"reading only its highlighted images again (needs --html)")
	fs.StringVar(&f.level, "log-level", cli.Env("CF_LOG_LEVEL", "info"),
		"debug, info, warn or error (env CF_LOG_LEVEL)")
}

func parseSigmas(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(v >= 0 && v <= 255) {
			return nil, fmt.Errorf("sigma %q: want numbers in [0, 255]", p)
		}
		out = append(out, v)
	}
	return out, nil
}

// runReplay replays a folder or a topic range through models and writes
// JSON and HTML reports; it touches no consumer group.
func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var f replayFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay: unexpected arguments %q", fs.Args())
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return fmt.Errorf("replay: log level %q: want debug, info, warn or error", f.level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	f.pc.Logger = log
	if f.render != "" {
		return f.rerender(ctx)
	}
	if err := f.check(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	res, err := f.run(ctx, log)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return f.write(res)
}

func (f *replayFlags) check() error {
	switch {
	case (f.images == "") == (f.topic == ""):
		return errors.New("give exactly one of --images DIR and --topic NAME")
	case f.refTopic != "" && f.refDir != "", len(f.sigmas) > 0 && (f.refTopic != "" ||
		f.refDir != ""):
		return errors.New("give at most one reference: --sigma, --reference-topic or " +
			"--reference-dir")
	case f.images != "" && (f.refTopic != "" || f.outputTopic != "" || len(f.registry) > 0):
		if err := f.pc.Validate(); err != nil {
			return err
		}
	case f.topic != "":
		if err := f.pc.Validate(); err != nil {
			return err
		}
	}
	for _, t := range []*struct {
		s   string
		dst *time.Time
	}{{f.since, &f.sel.Since}, {f.until, &f.sel.Until}} {
		if t.s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.s)
		if err != nil {
			return fmt.Errorf("time %q: want RFC 3339, e.g. 2026-12-04T10:00:00Z", t.s)
		}
		*t.dst = v
	}
	if f.images != "" && (f.since != "" || f.until != "" || f.sel.From != 0 || f.sel.To != 0 ||
		f.sel.Partition >= 0) {
		return errors.New("offset, time and partition flags apply to --topic only")
	}
	return nil
}

// run builds the models, inputs and config, and replays.
func (f *replayFlags) run(ctx context.Context, log *slog.Logger) (*replay.Result, error) {
	models, err := f.loadModels(ctx)
	if err != nil {
		return nil, err
	}
	cfg := replay.Config{Models: models, Sigmas: f.sigmas, Seed: f.seed, Blind: f.blind,
		Stride: f.stride, Latency: f.latency, CropSize: f.crop, Log: log}
	if f.timestamp {
		cfg.GeneratedAt = time.Now()
	}
	items, src, err := f.items(ctx)
	if err != nil {
		return nil, err
	}
	defer items.Close()
	if cfg.Reference, err = f.reference(ctx); err != nil {
		return nil, err
	}
	if c, ok := cfg.Reference.(io.Closer); ok {
		defer c.Close()
	}
	if f.outputTopic != "" {
		p, err := pipeline.NewProducer(&f.pc)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		cfg.Output, cfg.OutputTopic = p, f.outputTopic
	}
	prog := f.progressFor(log)
	if prog != nil {
		cfg.Progress = prog.Update
		defer prog.Done()
	}
	log.Info("replay starting", "source", src.Kind, "topic", src.Topic, "images", f.images,
		"models", len(models), "expected", items.Len()*max(1, len(f.sigmas)))
	return replay.Run(ctx, items, cfg, src)
}

func (f *replayFlags) loadModels(ctx context.Context) ([]replay.Model, error) {
	var out []replay.Model
	paths := f.models
	if len(paths) == 0 && len(f.registry) == 0 {
		paths = []string{"default"}
	}
	for _, p := range paths {
		var m *ae.Model
		var err error
		src := "file:" + p
		if zoo.Shipped(p) {
			src = p
		}
		m, err = zoo.Load(p)
		if err != nil {
			return nil, fmt.Errorf("load model %s: %w", p, err)
		}
		out = append(out, replay.Model{Model: m, Source: src})
	}
	reg, err := replay.RegistryModels(ctx, &f.pc, f.registry, f.registryWait)
	if err != nil {
		return nil, err
	}
	out = append(out, reg...)
	replay.UniqueLabels(out)
	return out, nil
}

func (f *replayFlags) items(ctx context.Context) (replay.Items, replay.SourceInfo, error) {
	if f.images != "" {
		d, err := replay.NewDirItems(f.images)
		return d, replay.SourceInfo{Kind: "images", Images: f.images}, err
	}
	ranges, err := replay.ResolveRanges(ctx, &f.pc, f.topic, f.sel)
	if err != nil {
		return nil, replay.SourceInfo{}, err
	}
	src := replay.SourceInfo{Kind: "kafka", Topic: f.topic, Ranges: ranges}
	return replay.NewKafkaItems(&f.pc, f.topic, ranges), src, nil
}

func (f *replayFlags) reference(ctx context.Context) (replay.Reference, error) {
	switch {
	case f.refDir != "":
		return replay.NewDirReference(f.refDir)
	case f.refTopic != "":
		return replay.NewTopicReference(ctx, &f.pc, f.refTopic)
	}
	return nil, nil
}

func (f *replayFlags) progressFor(log *slog.Logger) *replay.Progress {
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	switch f.progress {
	case "off":
		return nil
	case "bar":
		tty = true
	case "log":
		tty = false
	}
	return &replay.Progress{W: os.Stderr, TTY: tty, Log: log, Start: time.Now()}
}

// write puts the reports where the flags say.
func (f *replayFlags) write(res *replay.Result) error {
	if f.htmlOut != "" {
		var buf bytes.Buffer
		if err := replay.WriteHTML(&buf, res); err != nil {
			return err
		}
		if err := os.WriteFile(f.htmlOut, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("replay: write html: %w", err)
		}
	}
	if f.jsonOut == "" && f.htmlOut != "" {
		return nil
	}
	var buf bytes.Buffer
	if err := res.Report.WriteJSON(&buf); err != nil {
		return err
	}
	if f.jsonOut == "" || f.jsonOut == "-" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(f.jsonOut, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("replay: write json: %w", err)
	}
	return nil
}

// rerender rebuilds the HTML of a JSON report from the sources it names.
func (f *replayFlags) rerender(ctx context.Context) error {
	if f.htmlOut == "" {
		return errors.New("replay: --render needs --html FILE")
	}
	file, err := os.Open(f.render)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	rep, err := replay.ReadReport(file)
	file.Close()
	if err != nil {
		return err
	}
	cfg, items, err := f.fromReport(ctx, rep)
	if err != nil {
		return fmt.Errorf("replay: render %s: %w", f.render, err)
	}
	defer items.Close()
	if c, ok := cfg.Reference.(io.Closer); ok {
		defer c.Close()
	}
	res, err := replay.Render(ctx, rep, items, cfg)
	if err != nil {
		return err
	}
	f.jsonOut = ""
	return f.write(res)
}

// fromReport rebuilds the models, settings, reference and inputs that a
// report names.
func (f *replayFlags) fromReport(ctx context.Context, rep *replay.Report) (replay.Config,
	replay.Items, error) {
	st := rep.Settings
	cfg := replay.Config{Seed: st.Seed, Blind: st.Blind, Stride: st.Stride,
		CropSize: st.CropSize, Sigmas: st.Sigmas}
	for _, mi := range rep.Models {
		m, err := f.modelFrom(ctx, mi.Source)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Models = append(cfg.Models, replay.Model{Label: mi.Label, Source: mi.Source, Model: m})
	}
	ref, kind, _ := strings.Cut(rep.Source.Reference, ":")
	var err error
	switch ref {
	case "dir":
		cfg.Reference, err = replay.NewDirReference(kind)
	case "topic":
		cfg.Reference, err = replay.NewTopicReference(ctx, &f.pc, kind)
	}
	if err != nil {
		return cfg, nil, err
	}
	if rep.Source.Kind == "images" {
		items, err := replay.NewDirItems(rep.Source.Images)
		return cfg, items, err
	}
	return cfg, replay.NewKafkaItems(&f.pc, rep.Source.Topic, rep.Source.Ranges), nil
}

// modelFrom loads a model from a report's model source.
func (f *replayFlags) modelFrom(ctx context.Context, src string) (*ae.Model, error) {
	kind, arg, _ := strings.Cut(src, ":")
	if zoo.Shipped(kind) {
		return zoo.Load(kind)
	}
	switch kind {
	case "file":
		return ae.Load(arg)
	case "registry":
		ms, err := replay.RegistryModels(ctx, &f.pc, []string{arg}, f.registryWait)
		if err != nil {
			return nil, err
		}
		return ms[0].Model, nil
	}
	return nil, fmt.Errorf("model source %q: want default, file:PATH or registry:NAME/VERSION",
		src)
}
