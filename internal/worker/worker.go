// Package worker is the denoiser's consumer loop: it fetches images from the
// noisy topic, decodes them, denoises them with the current model, encodes
// the result as PNG and publishes it keyed by the same image id, then
// commits the input offset once the output is acknowledged. Input that
// cannot be processed goes to the deadletter topic with its reason, and its
// offset is committed as well, so a partition never stalls on a bad record.
//
// Work is done by a small pool of goroutines with a bound on records in
// flight; offsets are committed in order per partition, so a committed
// offset never passes an image whose output is not acknowledged. The model
// is held in an atomic pointer and swapped between images by
// [Denoiser.FollowModels]; every output names the version that made it.
package worker

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Model denoises one image. Implementations are safe for concurrent use.
type Model interface {
	Version() string
	// DenoiseImage returns an image of the same size: grey in gives
	// *image.Gray out, colour gives *image.NRGBA or *image.RGBA.
	DenoiseImage(img image.Image) (image.Image, error)
}

// SigmaModel is a Model that can also be told the noise deviation of an
// image (0-255 scale) instead of estimating it. The denoiser uses it when an
// input carries a valid cf-noise-sigma header.
type SigmaModel interface {
	Model
	DenoiseImageSigma(img image.Image, sigma float64) (image.Image, error)
}

// WeightedModel is a Model whose pixels take more (or less) memory than a
// plain model's while it denoises them; the pixel budget charges them so.
type WeightedModel interface {
	Model
	PixelWeight() float64
}

// pixelCost is what an image of px pixels takes from the pixel budget under
// m: px times m's weight, but never more than the whole budget, so that an
// image that fits alone always runs.
func pixelCost(m Model, px, budget int64) int64 {
	w, ok := m.(WeightedModel)
	if !ok || !(w.PixelWeight() > 0) {
		return px
	}
	cost := int64(float64(px) * w.PixelWeight())
	if budget > 0 {
		cost = min(cost, budget)
	}
	return max(cost, 1)
}

// Decoder turns a model record's bytes into a Model, validating it
// (checksum, shape, NaN).
type Decoder func(data []byte) (Model, error)

// Config tunes a Denoiser. The zero value is usable apart from Topics.
type Config struct {
	// Topics names the input (Noisy), output (Denoised) and Deadletter
	// topics.
	Topics pipeline.Topics

	// Workers is how many images are processed at once. Default GOMAXPROCS.
	Workers int

	// MaxInFlight bounds records fetched but not yet committed, and so the
	// memory held. Default 2*Workers+2.
	MaxInFlight int

	// MaxPixels is the largest image decoded, in pixels; larger inputs are
	// dead-lettered. Default imageio.DefaultMaxPixels.
	MaxPixels int64

	// MaxPixelsInFlight bounds the pixels of all images decoded and being
	// denoised at once, and so the memory they take (about 90 bytes a
	// pixel for colour). An image waits until it fits. Default MaxPixels:
	// one largest image, or many small ones.
	MaxPixelsInFlight int64

	// MaxValueBytes is the largest output value; a larger PNG is
	// dead-lettered, never dropped. Default: that of an 8 MiB
	// pipeline.Config.
	MaxValueBytes int

	// ModelName, when set, is the only model name FollowModels accepts.
	ModelName string

	// Pin, when set, is the only model version this denoiser serves: it
	// swaps to that version when it appears on the models topic and refuses
	// every other, and it outranks pin records on the topic (the
	// --pin flag). Default: none, follow the topic.
	Pin string

	// DrainTimeout bounds how long Run finishes in-flight images after its
	// context ends. Default 30 s.
	DrainTimeout time.Duration

	// Logger receives the logs. Default: none.
	Logger *slog.Logger

	// Telemetry receives spans and metrics (see internal/telemetry): a
	// process span per record, continuing the trace in its headers, with
	// denoise and output spans under it. Default: none; trace context is
	// still passed from input to output.
	Telemetry *telemetry.Telemetry

	// Group is the consumer group, for the spans' attributes.
	Group string
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Workers <= 0 {
		d.Workers = runtime.GOMAXPROCS(0)
	}
	if d.MaxInFlight <= 0 {
		d.MaxInFlight = 2*d.Workers + 2
	}
	if d.MaxValueBytes <= 0 {
		d.MaxValueBytes = (&pipeline.Config{}).MaxValueBytes()
	}
	if d.MaxPixels <= 0 {
		d.MaxPixels = imageio.DefaultMaxPixels
	}
	if d.MaxPixelsInFlight < d.MaxPixels {
		d.MaxPixelsInFlight = d.MaxPixels
	}
	if d.DrainTimeout <= 0 {
		d.DrainTimeout = 30 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// Denoiser consumes, denoises and publishes. Create it with New.
type Denoiser struct {
	cfg     Config
	in      pipeline.Consumer
	out     pipeline.Producer
	model   atomic.Pointer[modelRef]
	log     *slog.Logger
	rejects atomic.Int64
	budget  *pixelBudget

	pinMu sync.Mutex
	pin   string // version pinned by a pin record; guarded by pinMu
}

// modelRef boxes a Model so that it can sit in an atomic.Pointer.
type modelRef struct{ m Model }

// New returns a Denoiser reading from in and writing to out, starting with
// model m. It does not own in and out: the caller closes them after Run.
func New(cfg Config, in pipeline.Consumer, out pipeline.Producer, m Model) (*Denoiser, error) {
	if cfg.Topics.Denoised == "" || cfg.Topics.Deadletter == "" {
		return nil, errors.New("new denoiser: output and deadletter topics must be set")
	}
	if m == nil {
		return nil, errors.New("new denoiser: no model")
	}
	c := cfg.withDefaults()
	d := &Denoiser{cfg: c, in: in, out: c.Telemetry.Instruments().Producer(out),
		log: c.Logger, budget: newPixelBudget(c.MaxPixelsInFlight)}
	d.SetModel(m)
	return d, nil
}

// Model returns the model in use.
func (d *Denoiser) Model() Model { return d.model.Load().m }

// SetModel makes m the model for images started from now on.
func (d *Denoiser) SetModel(m Model) { d.model.Store(&modelRef{m}) }

// ModelRejects is how many model records this denoiser refused because
// they failed validation (checksum, shape, NaN or Inf, truncation, format
// version).
func (d *Denoiser) ModelRejects() int64 { return d.rejects.Load() }

// FollowModels follows the models topic of pcfg until ctx ends. Each
// complete model record is decoded off the hot path; a valid one with a new
// version replaces the current model, a bad one is logged and counted and
// the current model kept. A pin record for the model name (see
// [pipeline.ModelPin]) holds the denoiser at the pinned version until it is
// lifted; Config.Pin outranks pin records.
func (d *Denoiser) FollowModels(ctx context.Context, pcfg *pipeline.Config,
	decode Decoder) error {
	return pipeline.FollowModelsAndPins(ctx, pcfg,
		func(_ context.Context, man pipeline.ModelManifest, data []byte) {
			d.offerModel(man, data, decode)
		},
		func(_ context.Context, p pipeline.ModelPin) { d.offerPin(p) })
}

// offerPin records a pin record's version ("" lifts the pin).
func (d *Denoiser) offerPin(p pipeline.ModelPin) {
	if d.cfg.ModelName != "" && p.Name != d.cfg.ModelName {
		return
	}
	d.pinMu.Lock()
	d.pin = p.Version
	d.pinMu.Unlock()
	d.log.Info("model pin", "model_version", p.Version, "serving", d.Model().Version())
}

// pinned is the version this denoiser is held at, or "".
func (d *Denoiser) pinned() string {
	if d.cfg.Pin != "" {
		return d.cfg.Pin
	}
	d.pinMu.Lock()
	defer d.pinMu.Unlock()
	return d.pin
}

func (d *Denoiser) offerModel(man pipeline.ModelManifest, data []byte, decode Decoder) {
	if d.cfg.ModelName != "" && man.Name != d.cfg.ModelName {
		return
	}
	old := d.Model().Version()
	if man.Version == old {
		return
	}
	m, err := decodeRecovered(decode, data)
	if err == nil && m.Version() != man.Version {
		err = fmt.Errorf("record says version %q, model says %q", man.Version, m.Version())
	}
	if err != nil {
		d.rejects.Add(1)
		d.log.Warn("reject model record, keeping the current model", "model_version", old,
			"err", fmt.Errorf("model %s/%s: %w", man.Name, man.Version, err))
		return
	}
	if pin := d.pinned(); pin != "" && man.Version != pin {
		d.log.Info("model not swapped: pinned", "model_version", old, "pinned", pin,
			"offered", man.Version)
		return
	}
	d.SetModel(m)
	d.log.Info("model swapped", "model_version", m.Version(), "previous_version", old)
}

// job is one fetched record on its way through the pool.
type job struct {
	rec   pipeline.Record
	model Model // the model in use when rec was fetched; it makes the output
	done  bool  // processed; guarded by tracker.mu
	ok    bool  // output or dead letter acknowledged; guarded by tracker.mu
}

// Run consumes until ctx ends, then stops fetching, finishes the images in
// flight within DrainTimeout, commits what is acknowledged and returns nil.
// It returns an error only if it cannot start.
func (d *Denoiser) Run(ctx context.Context) error {
	// Work outlives ctx by up to DrainTimeout so that in-flight images finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() {
		time.AfterFunc(d.cfg.DrainTimeout, cancelWork)
	})
	defer stopDrain()

	t := newTracker(d.cfg.MaxInFlight)
	jobs := make(chan *job)
	var workers sync.WaitGroup
	for range d.cfg.Workers {
		workers.Go(func() {
			for j := range jobs {
				err := d.handle(work, j.rec, j.model)
				if err != nil {
					d.logRecord(slog.LevelWarn, "image not processed, offset left uncommitted",
						j.rec, "err", err)
				}
				t.finish(j, err == nil)
			}
		})
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		d.commitLoop(work, t)
	}()

	d.fetchLoop(ctx, t, jobs)
	close(jobs)
	workers.Wait()
	t.close()
	<-committed
	return nil
}

// fetchLoop fetches records and hands them to the workers until ctx ends.
func (d *Denoiser) fetchLoop(ctx context.Context, t *tracker, jobs chan<- *job) {
	for {
		if !t.acquire(ctx) {
			return
		}
		rec, err := d.in.Fetch(ctx)
		if err != nil {
			t.release()
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("fetch failed, retrying", "topic", d.cfg.Topics.Noisy, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		// The model is taken in fetch order, so on each partition the
		// versions used never go backwards, whatever the workers' timing.
		j := t.add(rec)
		j.model = d.Model()
		jobs <- j
	}
}

// commitLoop commits finished records in offset order per partition until
// the tracker is closed and drained.
func (d *Denoiser) commitLoop(ctx context.Context, t *tracker) {
	for {
		recs, open := t.ready()
		if len(recs) > 0 {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			if err := d.in.Commit(cctx, recs...); err != nil {
				// The records will be delivered again: duplicates, never loss.
				d.log.Warn("commit failed", "topic", recs[0].Topic, "err", err)
			}
			cancel()
			t.released(len(recs))
		}
		if !open {
			return
		}
	}
}

// handle processes one record to an acknowledged output or dead letter.
func (d *Denoiser) handle(ctx context.Context, rec pipeline.Record, m Model) (err error) {
	ctx, span := d.ins().StartProcess(ctx, &rec, d.cfg.Group)
	defer func() { telemetry.EndSpan(span, err) }()
	out, stage, err := d.denoiseSafe(ctx, rec, m)
	if err != nil && ctx.Err() != nil {
		return err // stopping: the record stays uncommitted, it is not at fault
	}
	if err != nil {
		return d.deadLetter(ctx, rec, stage, err)
	}
	err = d.produce(ctx, out)
	if errors.Is(err, pipeline.ErrRecordTooLarge) || isRecordRejected(err) {
		return d.deadLetter(ctx, rec, "produce", err)
	}
	if err != nil {
		return err
	}
	d.ins().Delivered(ctx, out)
	d.logCtx(ctx, slog.LevelDebug, "image denoised", rec,
		"model_version", out.HeaderString(pipeline.HeaderModelVersion))
	return nil
}

// denoise is denoiseModel with the model in use now. handle passes the
// model taken when the record was fetched instead, which keeps versions in
// offset order on each partition.
func (d *Denoiser) denoise(rec pipeline.Record) (*pipeline.Record, string, error) {
	return d.denoiseModel(context.Background(), rec, d.Model())
}

// denoiseModel turns an input record into the output record made by m, or
// says at which stage and why it cannot.
func (d *Denoiser) denoiseModel(ctx context.Context, rec pipeline.Record,
	m Model) (*pipeline.Record, string, error) {
	id := imageID(rec)
	if _, err := pipeline.ParseID([]byte(id)); err != nil {
		return nil, "validate", fmt.Errorf("image id: %w", err)
	}
	// The header gives the size before any pixel is decoded: wait for room.
	cfg, _, err := imageio.Config(rec.Value, d.cfg.MaxPixels)
	if err != nil {
		return nil, "decode", err
	}
	release, err := d.budget.acquire(ctx, pixelCost(m, int64(cfg.Width)*int64(cfg.Height),
		d.cfg.MaxPixelsInFlight))
	if err != nil {
		return nil, "decode", err
	}
	defer release()
	img, err := d.decode(ctx, rec)
	if err != nil {
		return nil, "decode", err
	}
	clean, err := d.denoiseTraced(ctx, m, img, rec)
	if err != nil {
		return nil, "denoise", fmt.Errorf("model %s: %w", m.Version(), err)
	}
	if clean.Bounds().Size() != img.Bounds().Size() {
		return nil, "denoise", fmt.Errorf("model %s returned %v for a %v image",
			m.Version(), clean.Bounds().Size(), img.Bounds().Size())
	}
	body, err := d.encode(ctx, clean)
	if err != nil {
		return nil, "encode", err
	}
	if len(body) > d.cfg.MaxValueBytes {
		return nil, "encode", fmt.Errorf("%w: output png of %d bytes exceeds %d bytes",
			pipeline.ErrRecordTooLarge, len(body), d.cfg.MaxValueBytes)
	}

	out := &pipeline.Record{Topic: d.cfg.Topics.Denoised, Key: []byte(id), Value: body}
	for _, h := range rec.Headers {
		if propagated[h.Key] {
			out.Headers = append(out.Headers, h)
		}
	}
	out.SetHeader(pipeline.HeaderID, id)
	out.SetHeader(pipeline.HeaderContentType, "image/png")
	out.SetHeader(pipeline.HeaderModelVersion, m.Version())
	return out, "", nil
}

// denoiseWith runs m on img, telling it the noise deviation when the record
// carries one and m can use it.
func denoiseWith(m Model, img image.Image, rec pipeline.Record) (image.Image, error) {
	if sm, ok := m.(SigmaModel); ok {
		if v, ok := rec.Header(pipeline.HeaderNoiseSigma); ok {
			if sigma, err := pipeline.ParseSigma(v); err == nil && sigma > 0 {
				return sm.DenoiseImageSigma(img, sigma)
			}
		}
	}
	return m.DenoiseImage(img)
}

// propagated are the input headers copied to the output.
var propagated = map[string]bool{
	pipeline.HeaderSource:      true,
	pipeline.HeaderIngestedAt:  true,
	pipeline.HeaderNoiseSigma:  true,
	pipeline.HeaderTraceparent: true,
	pipeline.HeaderTracestate:  true,
}

// imageID is the record key, or the cf-id header when the key is empty.
func imageID(rec pipeline.Record) string {
	if len(rec.Key) > 0 {
		return string(rec.Key)
	}
	return rec.HeaderString(pipeline.HeaderID)
}

// deadLetter publishes rec unchanged, with the reason it was rejected.
func (d *Denoiser) deadLetter(ctx context.Context, rec pipeline.Record, stage string,
	reason error) error {
	dl := &pipeline.Record{Topic: d.cfg.Topics.Deadletter, Key: rec.Key, Value: rec.Value}
	dl.Headers = append(dl.Headers, rec.Headers...)
	dl.SetHeader(pipeline.HeaderDLReason, limitReason(reason.Error()))
	dl.SetHeader(pipeline.HeaderDLStage, stage)
	dl.SetHeader(pipeline.HeaderDLTopic, rec.Topic)
	dl.SetHeader(pipeline.HeaderDLPartition, fmt.Sprint(rec.Partition))
	dl.SetHeader(pipeline.HeaderDLOffset, fmt.Sprint(rec.Offset))
	dl.SetHeader(pipeline.HeaderDLTime, pipeline.FormatTime(time.Now()))
	if err := d.produceDeadLetter(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter after %s failed (%v): %w", stage, reason, err)
	}
	d.ins().DeadLettered(ctx, stage, reason)
	d.logCtx(ctx, slog.LevelWarn, "image dead-lettered", rec, "stage", stage, "err", reason)
	return nil
}

// produce writes r, retrying failures other than a size limit until ctx
// ends.
func (d *Denoiser) produce(ctx context.Context, r *pipeline.Record) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := d.out.Produce(ctx, r)
		if err == nil || errors.Is(err, pipeline.ErrRecordTooLarge) ||
			(isRecordRejected(err) && attempt >= maxRecordAttempts) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		}
		d.log.Warn("produce failed, retrying", "topic", r.Topic,
			"image_id", string(r.Key), "err", err)
		sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (d *Denoiser) logRecord(level slog.Level, msg string, rec pipeline.Record, args ...any) {
	d.log.Log(context.Background(), level, msg, append([]any{"topic", rec.Topic,
		"partition", rec.Partition, "offset", rec.Offset, "image_id", imageID(rec)},
		args...)...)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
