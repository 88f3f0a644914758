package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/evaluate"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Model is one model of a replay.
type Model struct {
	Label  string // unique name in reports; default: the model's version
	Source string // where it came from: "default", "file:PATH", "registry:NAME/VERSION"
	Model  *ae.Model
}

// Config sets up a replay. Its zero value needs only Models.
type Config struct {
	Models []Model

	// Sigmas, when set, make the replay synthetic: every item is a clean
	// image, corrupted once per sigma (0–255 scale) with Gaussian noise
	// from evaluate.NoiseRand(Seed, item index), exactly as denoiser eval
	// does, so that a sigma's mean PSNR equals eval's.
	Sigmas []float64
	Seed   uint64

	// Reference finds the clean image of a noisy item by id; nil means
	// none (no PSNR or SSIM), unless Sigmas are set.
	Reference Reference

	// Blind asks each model to estimate the noise level even when it is
	// known (synthetic, or from cf-noise-sigma).
	Blind bool
	// Stride is the patch stride; 0 is each model's default.
	Stride int
	// Latency measures each model's seconds per image. Off, every seconds
	// field is 0 and the output bytes depend on the inputs only.
	Latency bool
	// CropSize is the side of the crops of the HTML report; default 128.
	CropSize int
	// GeneratedAt, when not zero, is written to the report.
	GeneratedAt time.Time
	// MaxErrors bounds the failures listed in the report (all are
	// counted); default 1000.
	MaxErrors int

	// Output, when set, receives every reconstruction as a PNG record on
	// OutputTopic, keyed by id (with the sigma for synthetic inputs), with
	// cf-model-version saying which model made it.
	Output      pipeline.Producer
	OutputTopic string

	// Progress, when set, is called after each item with the items done
	// and the expected total.
	Progress func(done, total int)
	// Log receives failures at Warn; default none.
	Log *slog.Logger
}

// Result is a replay's report and the crops for the HTML page.
type Result struct {
	Report *Report
	Crops  []CropSet // in the order of Report.Highlights
}

// CropSet holds same-region PNG crops of one highlighted image.
type CropSet struct {
	Highlight Highlight
	Noisy     []byte
	Models    [][]byte // in the order of Report.Models
	Clean     []byte
	Rect      image.Rectangle
}

// input is one image to score: noisy planes and, when known, clean ones.
type input struct {
	pos   Pos
	id    string
	sigma float64 // < 0: unknown
	noisy []ae.Plane
	clean []ae.Plane
}

// Run replays items through every model and scores the outputs. A bad
// item is recorded in the report's errors and skipped; Run fails only on
// a source, sink or context error.
func Run(ctx context.Context, items Items, cfg Config, src SourceInfo) (*Result, error) {
	if len(cfg.Models) == 0 {
		return nil, errors.New("replay: no models")
	}
	rep := newReport(cfg, src)
	run := &runner{cfg: cfg, rep: rep, log: cfg.Log}
	if run.log == nil {
		run.log = slog.New(slog.DiscardHandler)
	}
	total := items.Len() * max(1, len(cfg.Sigmas))
	done := 0
	for {
		it, err := items.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := run.item(ctx, it); err != nil {
			return nil, err
		}
		done += max(1, len(cfg.Sigmas))
		if cfg.Progress != nil {
			cfg.Progress(done, max(total, done))
		}
	}
	rep.aggregate()
	crops, err := run.crops(ctx, items)
	if err != nil {
		return nil, err
	}
	return &Result{Report: rep, Crops: crops}, nil
}

func newReport(cfg Config, src SourceInfo) *Report {
	rep := &Report{SchemaVersion: SchemaVersion, Source: src, PerImage: []ImageResult{},
		Errors: []ImageError{}}
	if !cfg.GeneratedAt.IsZero() {
		rep.GeneratedAt = cfg.GeneratedAt.UTC().Format(time.RFC3339)
	}
	switch {
	case len(cfg.Sigmas) > 0:
		rep.Source.Reference = "synthetic"
	case cfg.Reference != nil:
		rep.Source.Reference = cfg.Reference.String()
	default:
		rep.Source.Reference = "none"
	}
	rep.Settings = Settings{Sigmas: cfg.Sigmas, Seed: cfg.Seed, Blind: cfg.Blind,
		Stride: cfg.Stride, Latency: cfg.Latency, CropSize: cfg.cropSize(),
		RankedBy: "psnr_db of the first model"}
	for _, m := range cfg.Models {
		rep.Models = append(rep.Models, modelInfo(m))
	}
	return rep
}

func (c Config) cropSize() int {
	if c.CropSize <= 0 {
		return 128
	}
	return c.CropSize
}

func modelInfo(m Model) ModelInfo {
	info := ModelInfo{Label: m.Label, Name: m.Model.Header.Name, Version: m.Model.Version(),
		Source: m.Source}
	if info.Label == "" {
		info.Label = info.Version
	}
	if b, err := m.Model.MarshalBinary(); err == nil {
		sum := sha256.Sum256(b)
		info.SHA256 = hex.EncodeToString(sum[:])
	}
	return info
}

type runner struct {
	cfg Config
	rep *Report
	log *slog.Logger
}

// item scores one item, or records why it could not be.
func (r *runner) item(ctx context.Context, it Item) error {
	ins, err := r.inputs(ctx, it)
	if err != nil {
		r.fail(it, err)
		return nil
	}
	for _, in := range ins {
		res, outs, err := r.score(in, r.cfg.Latency)
		if err != nil {
			r.fail(it, err)
			continue
		}
		r.rep.PerImage = append(r.rep.PerImage, res)
		if err := r.publish(ctx, in, outs); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) fail(it Item, err error) {
	r.rep.Failed++
	r.log.Warn("replay skipped an image", "image_id", it.ID, "partition", it.Pos.Partition,
		"offset", it.Pos.Offset, "err", err)
	limit := r.cfg.MaxErrors
	if limit <= 0 {
		limit = 1000
	}
	if len(r.rep.Errors) >= limit {
		return
	}
	e := ImageError{Index: it.Pos.Index, ID: it.ID, Err: err.Error()}
	e.Partition, e.Offset = kafkaPos(it.Pos)
	r.rep.Errors = append(r.rep.Errors, e)
}

func kafkaPos(p Pos) (*int, *int64) {
	if p.Partition < 0 {
		return nil, nil
	}
	part, off := p.Partition, p.Offset
	return &part, &off
}

// inputs pairs an item with its reference: one input per sigma for
// synthetic replays, else the item as the noisy input.
func (r *runner) inputs(ctx context.Context, it Item) ([]input, error) {
	if it.Err != nil {
		return nil, it.Err
	}
	planes := ae.ImagePlanes(it.Image)
	if len(r.cfg.Sigmas) > 0 {
		ins := make([]input, len(r.cfg.Sigmas))
		for k, s := range r.cfg.Sigmas {
			noisy := clonePlanes(planes)
			evaluate.AddNoise(noisy, s, evaluate.NoiseRand(r.cfg.Seed, it.Pos.Index))
			ins[k] = input{pos: it.Pos, id: it.ID, sigma: s, noisy: noisy, clean: planes}
		}
		return ins, nil
	}
	in := input{pos: it.Pos, id: it.ID, sigma: it.Sigma, noisy: planes}
	if r.cfg.Reference == nil {
		return []input{in}, nil
	}
	ref, err := r.cfg.Reference.Clean(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	in.clean = ae.ImagePlanes(ref)
	if len(in.clean) != len(planes) || in.clean[0].W != planes[0].W ||
		in.clean[0].H != planes[0].H {
		return nil, fmt.Errorf("reference of %q is %dx%d with %d planes, the image %dx%d "+
			"with %d", it.ID, in.clean[0].W, in.clean[0].H, len(in.clean), planes[0].W,
			planes[0].H, len(planes))
	}
	return []input{in}, nil
}

// score runs every model on one input; it returns the result and each
// model's quantized output.
func (r *runner) score(in input, timed bool) (ImageResult, [][]ae.Plane, error) {
	p0 := in.noisy[0]
	res := ImageResult{Index: in.pos.Index, ID: in.id, Width: p0.W, Height: p0.H,
		Channels: len(in.noisy)}
	res.Partition, res.Offset = kafkaPos(in.pos)
	if in.sigma >= 0 {
		s := in.sigma
		res.Sigma = &s
	}
	if in.clean != nil {
		// PSNR of the noisy input before rounding, as evaluate.Run reports
		// it; SSIM on the 8-bit noisy image.
		q := clonePlanes(in.noisy)
		evaluate.Quantize(q)
		res.Noisy = &Quality{PSNR: Num(evaluate.PSNR(in.noisy, in.clean)),
			SSIM: Num(SSIM(q, in.clean))}
	}
	sigma := float32(in.sigma)
	if r.cfg.Blind || in.sigma < 0 {
		sigma = -1
	}
	outs := make([][]ae.Plane, len(r.cfg.Models))
	for m, mod := range r.cfg.Models {
		out := newPlanes(in.noisy)
		t := time.Now()
		if err := mod.Model.DenoisePlanes(out, in.noisy, sigma, r.cfg.Stride); err != nil {
			return res, nil, fmt.Errorf("denoise with %s: %w", r.rep.Models[m].Label, err)
		}
		var secs float64
		if timed {
			secs = time.Since(t).Seconds()
		}
		evaluate.Quantize(out)
		im := ImageModel{PSNR: Num(math.NaN()), SSIM: Num(math.NaN()), Seconds: Num(secs)}
		if in.clean != nil {
			im.PSNR, im.SSIM = Num(evaluate.PSNR(out, in.clean)), Num(SSIM(out, in.clean))
		}
		res.Models = append(res.Models, im)
		outs[m] = out
	}
	return res, outs, nil
}

// publish writes each model's output to the output topic, if any.
func (r *runner) publish(ctx context.Context, in input, outs [][]ae.Plane) error {
	if r.cfg.Output == nil {
		return nil
	}
	key := in.id
	if len(r.cfg.Sigmas) > 0 {
		key += ":sigma" + strconv.FormatFloat(in.sigma, 'g', -1, 64)
	}
	recs := make([]*pipeline.Record, 0, len(outs))
	for m, out := range outs {
		img, err := ae.PlanesImage(out, nil)
		if err != nil {
			return err
		}
		b, err := imageio.EncodePNG(img)
		if err != nil {
			return err
		}
		rec := &pipeline.Record{Topic: r.cfg.OutputTopic, Key: []byte(key), Value: b}
		rec.SetHeader(pipeline.HeaderID, key)
		rec.SetHeader(pipeline.HeaderContentType, "image/png")
		rec.SetHeader(pipeline.HeaderSource, "replay")
		rec.SetHeader(pipeline.HeaderModelVersion, r.rep.Models[m].Version)
		if in.sigma >= 0 {
			rec.SetHeader(pipeline.HeaderNoiseSigma, strconv.FormatFloat(in.sigma, 'g', -1, 64))
		}
		recs = append(recs, rec)
	}
	if err := r.cfg.Output.Produce(ctx, recs...); err != nil {
		return fmt.Errorf("replay: write reconstructions: %w", err)
	}
	return nil
}

// crops re-reads each highlighted image, runs the models again (the
// outputs are deterministic) and cuts the same centre region of the noisy
// input, every output and the reference.
func (r *runner) crops(ctx context.Context, items Items) ([]CropSet, error) {
	var out []CropSet
	for _, h := range r.rep.Highlights {
		res := r.rep.PerImage[h.Image]
		pos := Pos{Index: res.Index, Partition: -1}
		if res.Partition != nil {
			pos.Partition, pos.Offset = *res.Partition, *res.Offset
		}
		it, err := items.At(ctx, pos)
		if err != nil {
			return nil, fmt.Errorf("replay: read highlighted image %q again: %w", h.ID, err)
		}
		ins, err := r.inputs(ctx, it)
		if err != nil {
			return nil, fmt.Errorf("replay: highlighted image %q: %w", h.ID, err)
		}
		in := ins[0]
		if res.Sigma != nil && len(r.cfg.Sigmas) > 0 {
			for _, c := range ins {
				if c.sigma == *res.Sigma {
					in = c
				}
			}
		}
		_, outs, err := r.score(in, false)
		if err != nil {
			return nil, err
		}
		cs, err := r.cut(h, in, outs)
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

func (r *runner) cut(h Highlight, in input, outs [][]ae.Plane) (CropSet, error) {
	w, hh := in.noisy[0].W, in.noisy[0].H
	n := r.cfg.cropSize()
	cw, ch := min(n, w), min(n, hh)
	rect := image.Rect((w-cw)/2, (hh-ch)/2, (w-cw)/2+cw, (hh-ch)/2+ch)
	cs := CropSet{Highlight: h, Rect: rect}
	enc := func(p []ae.Plane) ([]byte, error) {
		q := clonePlanes(p)
		evaluate.Quantize(q)
		img, err := ae.PlanesImage(q, nil)
		if err != nil {
			return nil, err
		}
		sub := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(rect)
		return imageio.EncodePNG(sub)
	}
	var err error
	if cs.Noisy, err = enc(in.noisy); err != nil {
		return cs, err
	}
	for _, o := range outs {
		b, err := enc(o)
		if err != nil {
			return cs, err
		}
		cs.Models = append(cs.Models, b)
	}
	if in.clean != nil {
		cs.Clean, err = enc(in.clean)
	}
	return cs, err
}

func clonePlanes(ps []ae.Plane) []ae.Plane {
	out := make([]ae.Plane, len(ps))
	for i, p := range ps {
		out[i] = ae.Plane{W: p.W, H: p.H, Pix: append([]float32(nil), p.Pix...)}
	}
	return out
}

func newPlanes(ps []ae.Plane) []ae.Plane {
	out := make([]ae.Plane, len(ps))
	for i, p := range ps {
		out[i] = ae.Plane{W: p.W, H: p.H, Pix: make([]float32, len(p.Pix))}
	}
	return out
}

// Render rebuilds the HTML material of a finished report: it reads only
// the highlighted images again from items and cuts their crops, so that a
// report can be re-rendered without replaying the whole range. cfg must
// hold the report's models, in order (their SHA-256 is checked), and the
// reference and settings that produced it.
func Render(ctx context.Context, rep *Report, items Items, cfg Config) (*Result, error) {
	if rep.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("replay: report schema version %d, want %d", rep.SchemaVersion,
			SchemaVersion)
	}
	if len(cfg.Models) != len(rep.Models) {
		return nil, fmt.Errorf("replay: %d models for a report of %d", len(cfg.Models),
			len(rep.Models))
	}
	for i, m := range cfg.Models {
		if got := modelInfo(m).SHA256; got != rep.Models[i].SHA256 {
			return nil, fmt.Errorf("replay: model %d (%s) has SHA-256 %.12s…, the report's "+
				"%.12s…", i, rep.Models[i].Label, got, rep.Models[i].SHA256)
		}
	}
	for _, h := range rep.Highlights {
		if h.Image < 0 || h.Image >= len(rep.PerImage) {
			return nil, fmt.Errorf("replay: highlight %s points at image %d of %d", h.Rank,
				h.Image, len(rep.PerImage))
		}
	}
	run := &runner{cfg: cfg, rep: rep, log: slog.New(slog.DiscardHandler)}
	crops, err := run.crops(ctx, items)
	if err != nil {
		return nil, err
	}
	return &Result{Report: rep, Crops: crops}, nil
}

// ReadReport decodes a JSON report written by [Report.WriteJSON].
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("replay: read report: %w", err)
	}
	return &rep, nil
}
