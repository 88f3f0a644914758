package integration

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// env is one scenario's view of the broker: a config with a topic prefix of
// its own, topics created.
type env struct {
	cfg *pipeline.Config
	log *slog.Logger
}

func newEnv(t *testing.T, ctx context.Context, b broker, name string) *env {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("CF_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	prefix := fmt.Sprintf("it-%s-%s-%s", uniqueID(), b.name, strings.ToLower(name))
	cfg := &pipeline.Config{Brokers: b.brokers, TopicPrefix: prefix, Partitions: 4,
		Logger: log}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, log: log}
}

// testWriter sends logs to t.Log, so that they show with the failing test.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// publisher returns ingest's publisher on e's topics; it closes with the test.
func (e *env) publisher(t *testing.T) *ingest.Publisher {
	t.Helper()
	prod, err := pipeline.NewProducer(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	return &ingest.Publisher{Producer: prod, Topics: e.cfg.Topics(),
		MaxBytes: e.cfg.MaxValueBytes()}
}

// defaultModel is the shipped model, loaded once.
var defaultModel = sync.OnceValues(ae.Default)

func model(t *testing.T) *ae.Model {
	t.Helper()
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeModel adapts ae.Decode to worker.Decoder.
func decodeModel(data []byte) (worker.Model, error) {
	m, err := ae.Decode(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// counter counts "image denoised" and "reject model record" logs of one
// denoiser.
type counter struct {
	slog.Handler
	n, rejects *atomic.Int64
}

func (c counter) Enabled(context.Context, slog.Level) bool { return true }

func (c counter) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Message == "image denoised":
		c.n.Add(1)
	case strings.HasPrefix(r.Message, "reject model record"):
		c.rejects.Add(1)
	}
	if c.Handler.Enabled(ctx, r.Level) {
		return c.Handler.Handle(ctx, r)
	}
	return nil
}

// denoiser is a running worker.Serve.
type denoiser struct {
	stop    context.CancelFunc
	done    chan error
	images  *atomic.Int64 // outputs it produced
	rejects *atomic.Int64 // model records it refused
}

// startDenoiser runs a denoiser in group until stopped or the test ends.
func (e *env) startDenoiser(t *testing.T, ctx context.Context, group string) *denoiser {
	t.Helper()
	dctx, stop := context.WithCancel(ctx)
	d := &denoiser{stop: stop, done: make(chan error, 1), images: new(atomic.Int64),
		rejects: new(atomic.Int64)}
	log := slog.New(counter{e.log.Handler(), d.images, d.rejects})
	cfg := worker.Config{Workers: 2, Logger: log,
		DrainTimeout: 10 * time.Second}
	go func() { d.done <- worker.Serve(dctx, e.cfg, group, cfg, model(t), decodeModel) }()
	t.Cleanup(func() { d.shutdown(t) })
	return d
}

// shutdown stops d and checks that it stopped cleanly and in time.
func (d *denoiser) shutdown(t *testing.T) {
	t.Helper()
	if d.stop == nil {
		return
	}
	d.stop()
	d.stop = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("denoiser stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("denoiser did not stop within 30 s")
	}
}

// collector reads every partition of a topic from the start.
type collector struct {
	recs chan pipeline.Record
	got  map[string]pipeline.Record // by key, the latest; owned by the test
}

func collect(t *testing.T, ctx context.Context, cfg *pipeline.Config, topic string) *collector {
	t.Helper()
	end, err := pipeline.EndOffsets(ctx, cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{recs: make(chan pipeline.Record, 64), got: map[string]pipeline.Record{}}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for p := range end {
		wg.Go(func() { c.follow(cctx, cfg, topic, p) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

// follow reads one partition until ctx ends, starting a new reader where the
// last one stopped if it fails (as it may while a broker restarts).
func (c *collector) follow(ctx context.Context, cfg *pipeline.Config, topic string, p int) {
	next := int64(pipeline.FirstOffset)
	for ctx.Err() == nil {
		r, err := pipeline.NewPartitionReader(cfg, topic, p, next)
		if err != nil {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		for {
			rec, err := r.Read(ctx)
			if err != nil {
				break
			}
			next = rec.Offset + 1
			select {
			case c.recs <- rec:
			case <-ctx.Done():
			}
		}
		r.Close()
	}
}

// until gathers records by key, adding to those of earlier calls, until
// done says so or ctx ends, and returns them all.
func (c *collector) until(t *testing.T, ctx context.Context,
	done func(map[string]pipeline.Record) bool) map[string]pipeline.Record {
	t.Helper()
	for !done(c.got) {
		select {
		case r := <-c.recs:
			c.got[string(r.Key)] = r
		case <-ctx.Done():
			t.Fatalf("gave up with %d records: %v", len(c.got), ctx.Err())
		}
	}
	return c.got
}

// has returns a condition for until: every id of ids has a record.
func has(ids ...string) func(map[string]pipeline.Record) bool {
	return func(m map[string]pipeline.Record) bool {
		for _, id := range ids {
			if _, ok := m[id]; !ok {
				return false
			}
		}
		return true
	}
}

// waitCommitted waits until group has committed the end of every partition
// of topic.
func waitCommitted(t *testing.T, ctx context.Context, cfg *pipeline.Config, group,
	topic string) {
	t.Helper()
	var committed, end map[int]int64
	for ctx.Err() == nil {
		var err error
		if end, err = pipeline.EndOffsets(ctx, cfg, topic); err != nil {
			t.Fatal(err)
		}
		if committed, err = pipeline.CommittedOffsets(ctx, cfg, group, topic); err != nil {
			t.Fatal(err)
		}
		same := len(committed) == len(end)
		for p, o := range end {
			c := committed[p]
			same = same && (c == o || c == -1 && o == 0)
		}
		if same {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("committed offsets %v, want the end offsets %v", committed, end)
}

// photo returns a w x h image that looks roughly like a photograph: smooth
// shading, a few shapes with edges, texture and sensor noise.
func photo(w, h int, seed uint64, grey bool) image.Image {
	r := rand.New(rand.NewPCG(seed, 7))
	type disc struct{ x, y, rad, v float64 }
	discs := make([]disc, 6)
	for i := range discs {
		discs[i] = disc{r.Float64() * float64(w), r.Float64() * float64(h),
			(0.05 + 0.2*r.Float64()) * float64(min(w, h)), 40 + 180*r.Float64()}
	}
	level := func(x, y int, ch int) uint8 {
		fx, fy := float64(x)/float64(w), float64(y)/float64(h)
		v := 60 + 100*fx + 40*math.Sin(6*fy+float64(ch))
		for _, d := range discs {
			if math.Hypot(float64(x)-d.x, float64(y)-d.y) < d.rad {
				v = 0.3*v + 0.7*d.v
			}
		}
		v += 10*math.Sin(float64(x)/3) + r.NormFloat64()*8
		return uint8(max(0, min(255, math.Round(v))))
	}
	if grey {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetGray(x, y, color.Gray{Y: level(x, y, 0)})
			}
		}
		return img
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{level(x, y, 0), level(x, y, 1), level(x, y, 2), 255})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	b, err := imageio.EncodePNG(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
