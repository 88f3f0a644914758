// Package retrain is the trainer service: it collects clean samples from the
// images.clean topic and from folders, fine-tunes the serving model on them
// every round, scores the candidate against the serving model on a fixed
// validation set, and publishes it to the models topic only when it wins.
package retrain

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Config sets up the service. Zero fields take the defaults noted.
type Config struct {
	Pipeline *pipeline.Config
	Group    string        // consumer group on images.clean; default "cleanframe-trainer"
	Interval time.Duration // time between rounds; default 10m
	MinNew   int           // new samples that start a round early; default 100
	MaxKeep  int           // samples kept, oldest dropped; default 2000
	// MaxPixels bounds the plane pixels of the samples held in memory
	// (4 bytes each), oldest dropped first; default 64 Mi (256 MiB).
	MaxPixels int64

	// Store, when set, keeps the samples on disk as well, so that a
	// restarted service starts with them (see OpenStore); open it with the
	// same limit as MaxKeep.
	Store *Store

	Steps  int     // Adam steps per round; default 2000
	Batch  int     // patches per step; default 256
	LR     float64 // peak learning rate of a fine-tuning round; default 1e-4
	Sigma  float64 // validation noise, 0–255 scale; default 25
	Margin float64 // dB by which a candidate must beat the serving model; default 0.05

	// Corruption, when set, is what training adds to the samples instead
	// of Gaussian noise over the model's range (see ae.ParseCorruption).
	Corruption ae.Corruption
	// ValidCorruption, when set, is what the validation images get instead
	// of Gaussian noise of deviation Sigma; see validate.
	ValidCorruption ae.Corruption

	Validation []dataset.Image // fixed validation set (required)
	Seed       uint64
	Logger     *slog.Logger
	// Telemetry receives the training loss, validation PSNR and serving
	// model version as metrics. Default: none.
	Telemetry *telemetry.Telemetry
}

func (c *Config) fill() error {
	if c.Pipeline == nil {
		return errors.New("retrain: no pipeline config")
	}
	if len(c.Validation) == 0 {
		return errors.New("retrain: no validation images; pass a folder of clean images")
	}
	if c.Group == "" {
		c.Group = "cleanframe-trainer"
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Minute
	}
	if c.MinNew == 0 {
		c.MinNew = 100
	}
	if c.MaxKeep == 0 {
		c.MaxKeep = 2000
	}
	if c.MaxPixels == 0 {
		c.MaxPixels = 64 << 20
	}
	if c.Steps == 0 {
		c.Steps = 2000
	}
	if c.Batch == 0 {
		c.Batch = 256
	}
	if c.LR == 0 {
		c.LR = 1e-4
	}
	if c.Sigma == 0 {
		c.Sigma = 25
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Service runs training rounds. Create it with New; Run drives it.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	samples []sample        // oldest first, at most MaxKeep
	seen    map[string]bool // content hashes of samples
	pixels  int64           // plane pixels of samples
	fresh   int             // samples added since the last round
	serving *ae.Model
	pinned  string // version a pin record holds the serving model's name at
}

// sample is one clean image's planes.
type sample struct {
	hash   string
	planes []ae.Plane
}

// New returns a service that starts from model m (the serving model until a
// newer one is seen on the models topic) and with the samples in
// cfg.Store, if any.
func New(cfg Config, m *ae.Model) (*Service, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, seen: make(map[string]bool), serving: m}
	if cfg.Store != nil {
		err := cfg.Store.Each(func(hash string, img image.Image) {
			s.keep(sample{hash, ae.ImagePlanes(img)})
		})
		if err != nil {
			s.log.Warn("some stored samples could not be read", "err", err)
		}
		s.fresh = 0
	}
	return s, nil
}

// AddImage adds one clean sample unless one with the same content (see
// ContentHash) is held. It reports whether the sample was new.
func (s *Service) AddImage(img image.Image) bool {
	hash := ContentHash(img)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[hash] {
		return false
	}
	if s.cfg.Store != nil {
		if _, err := s.cfg.Store.Add(img); err != nil {
			s.log.Warn("sample kept in memory only", "err", err)
		}
	}
	s.keep(sample{hash, ae.ImagePlanes(img)})
	return true
}

// keep appends smp and drops the oldest samples past MaxKeep or
// MaxPixels (never smp itself); s.mu is held or s is not shared yet.
func (s *Service) keep(smp sample) {
	s.seen[smp.hash] = true
	s.samples = append(s.samples, smp)
	s.pixels += smp.size()
	s.fresh++
	over := 0
	for len(s.samples)-over > 1 && (len(s.samples)-over > s.cfg.MaxKeep ||
		s.pixels > s.cfg.MaxPixels) {
		old := s.samples[over]
		delete(s.seen, old.hash)
		s.pixels -= old.size()
		over++
	}
	if over > 0 {
		s.samples = append([]sample(nil), s.samples[over:]...)
	}
}

// size is the number of plane pixels of smp.
func (smp sample) size() int64 {
	var n int64
	for _, p := range smp.planes {
		n += int64(len(p.Pix))
	}
	return n
}

// Samples is the number of samples held.
func (s *Service) Samples() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.samples)
}

// Serving returns the model the service currently considers serving.
func (s *Service) Serving() *ae.Model {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving
}

// Run consumes clean samples and runs rounds until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	pub, err := pipeline.NewModelPublisher(s.cfg.Pipeline)
	if err != nil {
		return err
	}
	defer pub.Close()
	defer s.cfg.Telemetry.Instruments().ObserveModel(func() string {
		return s.Serving().Version()
	})()
	if err := s.catchUp(ctx); err != nil {
		s.log.Warn("read the models topic before the first round", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.followModels(ctx) }()
	go func() { defer wg.Done(); s.consume(ctx) }()
	defer wg.Wait()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, postponed := time.Now(), ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s.mu.Lock()
		fresh, total, pinned := s.fresh, len(s.samples), s.pinned
		s.mu.Unlock()
		due := fresh >= s.cfg.MinNew || (fresh > 0 && time.Since(last) >= s.cfg.Interval)
		if !due || total == 0 {
			continue
		}
		if pinned != "" {
			// Denoisers would refuse a new version; wait for the unpin.
			if postponed != pinned {
				s.log.Info("training rounds postponed: model pinned", "model_version", pinned,
					"samples", total)
				postponed = pinned
			}
			continue
		}
		postponed = ""
		last = time.Now()
		if _, err := s.Round(ctx, pub); err != nil && ctx.Err() == nil {
			s.log.Error("training round failed", "err", err)
		}
	}
}

// Outcome describes one round.
type Outcome struct {
	Candidate    *ae.Model
	ServingPSNR  float64
	CandPSNR     float64
	Published    bool
	TrainSeconds float64
}

// Publisher is the part of pipeline.ModelPublisher a round needs.
type Publisher interface {
	PublishModel(ctx context.Context, name, version string,
		data []byte) (pipeline.ModelManifest, error)
}

// Round fine-tunes the serving model on the samples, validates, and
// publishes the candidate through pub when it beats the serving model by
// the margin.
func (s *Service) Round(ctx context.Context, pub Publisher) (Outcome, error) {
	s.mu.Lock()
	var samples []ae.Plane
	for _, smp := range s.samples {
		samples = append(samples, smp.planes...)
	}
	s.fresh = 0
	serving := s.serving
	s.mu.Unlock()

	start := time.Now()
	s.log.Info("training round", "samples", len(samples), "steps", s.cfg.Steps,
		"parent", serving.Version())
	ins := s.cfg.Telemetry.Instruments()
	tc := ae.TrainConfig{Steps: s.cfg.Steps,
		Batch: s.cfg.Batch, LR: s.cfg.LR, Seed: s.cfg.Seed + uint64(serving.Header.Steps),
		Corruption: s.cfg.Corruption,
		Progress:   func(p ae.Progress) { ins.TrainProgress(ctx, p.MSE) }}
	if serving.Pilot != nil {
		// A guided model learns from its pilot's refined estimates of
		// noisy copies of the samples, made here, under Gaussian noise.
		if s.cfg.Corruption != nil {
			return Outcome{}, fmt.Errorf("retrain guided model %s: only Gaussian noise is "+
				"supported; serve a plain model to retrain on %s", serving.Version(),
				s.cfg.Corruption)
		}
		n := serving.Header.TrainNoise
		var err error
		if tc.Guided, err = serving.GuidedSamples(ctx, samples, 1, n.SigmaMin, n.SigmaMax,
			tc.Seed); err != nil {
			return Outcome{}, err
		}
		samples = nil
	}
	cand, err := ae.Train(ctx, serving, samples, tc)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Candidate: cand, TrainSeconds: time.Since(start).Seconds()}
	rs, err := s.validate(ctx, serving)
	if err != nil {
		return out, fmt.Errorf("validate serving model: %w", err)
	}
	rc, err := s.validate(ctx, cand)
	if err != nil {
		return out, fmt.Errorf("validate candidate: %w", err)
	}
	out.ServingPSNR, out.CandPSNR = rs.PSNR, rc.PSNR
	ins.Validated(ctx, "serving", rs.PSNR)
	ins.Validated(ctx, "candidate", rc.PSNR)
	log := s.log.With("candidate", cand.Version(), "serving", serving.Version(),
		"candidate_psnr_db", rc.PSNR, "serving_psnr_db", rs.PSNR, "margin_db", s.cfg.Margin)
	if rc.PSNR < rs.PSNR+s.cfg.Margin {
		log.Info("candidate rejected by the validation gate")
		return out, nil
	}
	if cand.Header.Metrics == nil {
		cand.Header.Metrics = map[string]float64{}
	}
	cand.Header.Metrics[s.metricName()] = rc.PSNR
	cand.Header.Metrics["valid_images"] = float64(len(s.cfg.Validation))
	cand.Stamp()
	data, err := cand.MarshalBinary()
	if err != nil {
		return out, err
	}
	if _, err := pub.PublishModel(ctx, cand.Header.Name, cand.Version(), data); err != nil {
		return out, err
	}
	s.mu.Lock()
	s.serving = cand
	s.mu.Unlock()
	out.Published = true
	// The metrics went into the header, so the stamp made a new version: it
	// names the published model; the "candidate" above named the weights.
	s.log.Info("candidate published", "model_version", cand.Version(),
		"serving_before", serving.Version(), "candidate_psnr_db", rc.PSNR,
		"serving_psnr_db", rs.PSNR)
	return out, nil
}

// catchUp reads the models topic to its end before any round, so that a
// restarted service trains from the current model and honours a pin
// instead of racing the follower.
func (s *Service) catchUp(ctx context.Context) error {
	reg, err := ReadRegistry(ctx, s.cfg.Pipeline)
	if err != nil {
		return err
	}
	name := s.Serving().Header.Name
	var m *ae.Model
	if cur := reg.Current[name]; cur != "" && cur != s.Serving().Version() {
		data, err := FetchModel(ctx, s.cfg.Pipeline, name, cur)
		if err != nil {
			return err
		}
		if m, err = ae.Decode(data); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pinned = reg.Pins[name]
	if m != nil {
		s.serving = m
		s.log.Info("serving model read from the models topic", "model_version", m.Version())
	}
	return nil
}

// followModels keeps the serving model in step with the models topic, so a
// restarted trainer continues from the latest published model.
func (s *Service) followModels(ctx context.Context) {
	err := pipeline.FollowModelsAndPins(ctx, s.cfg.Pipeline,
		func(_ context.Context, man pipeline.ModelManifest, data []byte) {
			m, err := ae.Decode(data)
			if err != nil {
				s.log.Warn("model record refused", "model_version", man.Version, "err", err)
				return
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if m.Header.Name == s.serving.Header.Name && m.Version() != s.serving.Version() {
				s.serving = m
				s.log.Info("serving model followed", "model_version", m.Version())
			}
		},
		func(_ context.Context, p pipeline.ModelPin) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if p.Name == s.serving.Header.Name {
				s.pinned = p.Version
				s.log.Info("model pin followed", "model_version", p.Version)
			}
		})
	if err != nil {
		s.log.Error("following models stopped", "err", err)
	}
}

// consume adds every decodable record of images.clean as a sample and
// commits it; undecodable ones are logged and skipped.
func (s *Service) consume(ctx context.Context) {
	c, err := pipeline.NewGroupConsumer(s.cfg.Pipeline, s.cfg.Group,
		s.cfg.Pipeline.Topics().Clean)
	if err != nil {
		s.log.Error("clean samples consumer", "err", err)
		return
	}
	defer c.Close()
	for {
		rec, err := c.Fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("fetch clean sample", "err", err)
			}
			return
		}
		img, _, err := imageio.Decode(rec.Value, 0)
		if err != nil {
			s.log.Warn("clean sample skipped", "offset", rec.Offset,
				"partition", rec.Partition, "err", err)
		} else if s.AddImage(img) {
			s.log.Debug("clean sample added", "image_id", string(rec.Key))
		}
		if err := c.Commit(ctx, rec); err != nil && ctx.Err() == nil {
			s.log.Warn("commit clean sample", "err", err)
		}
	}
}
