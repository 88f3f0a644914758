package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// blur is a fake model: a 3x3 box blur on grey images, a copy on colour.
type blur struct{ version string }

func (b blur) Version() string { return b.version }

func (b blur) DenoiseImage(img image.Image) (image.Image, error) {
	r := img.Bounds()
	out := image.NewGray(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum, n := 0, 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					p := image.Pt(x+dx, y+dy)
					if p.In(r) {
						sum += int(color.GrayModel.Convert(img.At(p.X, p.Y)).(color.Gray).Y)
						n++
					}
				}
			}
			out.SetGray(x, y, color.Gray{Y: uint8((sum + n/2) / n)})
		}
	}
	return out, nil
}

// fakeConsumer serves queued records and checks each commit against the
// outputs acknowledged so far.
type fakeConsumer struct {
	recs  chan pipeline.Record
	acked func(pipeline.Record) bool

	mu        sync.Mutex
	fetched   map[int][]pipeline.Record
	committed map[int]int64
	errs      []error
}

func newFakeConsumer(acked func(pipeline.Record) bool, recs ...pipeline.Record) *fakeConsumer {
	c := &fakeConsumer{recs: make(chan pipeline.Record, len(recs)), acked: acked,
		fetched: map[int][]pipeline.Record{}, committed: map[int]int64{}}
	for _, r := range recs {
		c.recs <- r
	}
	return c
}

func (c *fakeConsumer) Fetch(ctx context.Context) (pipeline.Record, error) {
	select {
	case r := <-c.recs:
		c.mu.Lock()
		c.fetched[r.Partition] = append(c.fetched[r.Partition], r)
		c.mu.Unlock()
		return r, nil
	case <-ctx.Done():
		return pipeline.Record{}, ctx.Err()
	}
}

func (c *fakeConsumer) Commit(_ context.Context, recs ...pipeline.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		next := r.Offset + 1
		if next <= c.committed[r.Partition] {
			c.errs = append(c.errs, fmt.Errorf("commit %d/%d moves backwards from %d",
				r.Partition, next, c.committed[r.Partition]))
		}
		c.committed[r.Partition] = next
		for _, f := range c.fetched[r.Partition] {
			if f.Offset <= r.Offset && !c.acked(f) {
				c.errs = append(c.errs, fmt.Errorf("commit %d/%d before offset %d was acked",
					r.Partition, next, f.Offset))
			}
		}
	}
	return nil
}

func (c *fakeConsumer) Close() error { return nil }

// fakeProducer stores produced records; fail decides per attempt whether a
// produce fails, and delay holds a record back.
type fakeProducer struct {
	fail  func(r *pipeline.Record, attempt int) error
	delay func(r *pipeline.Record) time.Duration

	mu       sync.Mutex
	attempts map[string]int
	out      map[string][]*pipeline.Record // by topic
	ackedIn  map[string]bool               // input image ids with an acked output
}

func newFakeProducer() *fakeProducer {
	return &fakeProducer{attempts: map[string]int{}, out: map[string][]*pipeline.Record{},
		ackedIn: map[string]bool{}}
}

func (p *fakeProducer) Produce(ctx context.Context, recs ...*pipeline.Record) error {
	for _, r := range recs {
		if p.delay != nil {
			sleep(ctx, p.delay(r))
		}
		p.mu.Lock()
		p.attempts[string(r.Key)]++
		n := p.attempts[string(r.Key)]
		p.mu.Unlock()
		if p.fail != nil {
			if err := p.fail(r, n); err != nil {
				return err
			}
		}
		p.mu.Lock()
		p.out[r.Topic] = append(p.out[r.Topic], r)
		p.ackedIn[string(r.Key)] = true
		p.mu.Unlock()
	}
	return nil
}

func (p *fakeProducer) Close() error { return nil }

func (p *fakeProducer) acked(r pipeline.Record) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ackedIn[string(r.Key)]
}

func pngRecord(t *testing.T, partition int, offset int64, id string) pipeline.Record {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 6, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 10)
	}
	b, err := imageio.EncodePNG(img)
	if err != nil {
		t.Fatal(err)
	}
	r := pipeline.Record{Topic: "images.noisy", Partition: partition, Offset: offset,
		Key: []byte(id), Value: b}
	r.SetHeader(pipeline.HeaderID, id)
	r.SetHeader(pipeline.HeaderSource, "test")
	r.SetHeader(pipeline.HeaderIngestedAt, "2026-12-04T16:00:00Z")
	r.SetHeader(pipeline.HeaderTraceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	return r
}

// runUntil runs d until cond holds or 10 s pass, then stops it.
// committedTo reports, when called, whether partition i has committed
// offset want[i] for every i.
func (c *fakeConsumer) committedTo(want ...int64) func() bool {
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, w := range want {
			if c.committed[i] != w {
				return false
			}
		}
		return true
	}
}

func runUntil(t *testing.T, d *Denoiser, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

func TestDenoiserOutputsDeadLettersAndCommits(t *testing.T) {
	p := newFakeProducer()
	// Slow outputs on partition 0 so that later records finish first.
	p.delay = func(r *pipeline.Record) time.Duration {
		if bytes.HasPrefix(r.Key, []byte("p0-")) {
			return 20 * time.Millisecond
		}
		return 0
	}
	var recs []pipeline.Record
	for part := range 3 {
		for off := range 5 {
			recs = append(recs, pngRecord(t, part, int64(off), fmt.Sprintf("p%d-%d", part, off)))
		}
	}
	corrupt := pipeline.Record{Topic: "images.noisy", Partition: 1, Offset: 5,
		Key: []byte("bad-1"), Value: []byte("\x89PNG\r\n\x1a\ngarbage")}
	recs = append(recs, corrupt, pngRecord(t, 1, 6, "p1-6"))
	c := newFakeConsumer(p.acked, recs...)

	d, err := New(Config{Topics: pipeline.TopicsFor(""), Workers: 3}, c, p, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(5, 7, 5))

	if len(c.errs) > 0 {
		t.Errorf("commit order violations: %v", c.errs)
	}
	if got := fmt.Sprint(c.committed); got != "map[0:5 1:7 2:5]" {
		t.Errorf("committed %s, want map[0:5 1:7 2:5]", got)
	}
	outs := p.out["images.denoised"]
	if len(outs) != 16 {
		t.Fatalf("%d outputs, want 16", len(outs))
	}
	for _, o := range outs {
		want := map[string]string{
			pipeline.HeaderID:           string(o.Key),
			pipeline.HeaderModelVersion: "v1",
			pipeline.HeaderContentType:  "image/png",
			pipeline.HeaderSource:       "test",
			pipeline.HeaderIngestedAt:   "2026-12-04T16:00:00Z",
		}
		for k, v := range want {
			if got := o.HeaderString(k); got != v {
				t.Errorf("output %s header %s = %q, want %q", o.Key, k, got, v)
			}
		}
		img, _, err := imageio.Decode(o.Value, 0)
		if err != nil || img.Bounds().Size() != image.Pt(6, 4) {
			t.Errorf("output %s: %v, %v; want a 6x4 PNG", o.Key, img, err)
		}
	}

	dls := p.out["deadletter"]
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if !bytes.Equal(dl.Key, corrupt.Key) || !bytes.Equal(dl.Value, corrupt.Value) {
		t.Errorf("dead letter %q = %q, want the original key and bytes", dl.Key, dl.Value)
	}
	wantDL := map[string]string{
		pipeline.HeaderDLStage: "decode", pipeline.HeaderDLTopic: "images.noisy",
		pipeline.HeaderDLPartition: "1", pipeline.HeaderDLOffset: "5",
	}
	for k, v := range wantDL {
		if got := dl.HeaderString(k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	if r := dl.HeaderString(pipeline.HeaderDLReason); !bytes.Contains([]byte(r), []byte("png")) {
		t.Errorf("dead letter reason %q does not name the problem", r)
	}
}

func TestDenoiserRetriesAndTooLarge(t *testing.T) {
	p := newFakeProducer()
	p.fail = func(r *pipeline.Record, attempt int) error {
		if string(r.Key) == "flaky" && attempt <= 2 {
			return errors.New("broker not available")
		}
		return nil
	}
	c := newFakeConsumer(p.acked, pngRecord(t, 0, 0, "flaky"), pngRecord(t, 0, 1, "ok"))
	d, err := New(Config{Topics: pipeline.TopicsFor(""), Workers: 2}, c, p, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(2))
	if p.attempts["flaky"] != 3 || c.committed[0] != 2 || len(c.errs) > 0 {
		t.Errorf("attempts %d, committed %d, errors %v; want 3 attempts and offset 2",
			p.attempts["flaky"], c.committed[0], c.errs)
	}

	// An output over the size limit goes to the dead letters, not nowhere.
	p2 := newFakeProducer()
	c2 := newFakeConsumer(p2.acked, pngRecord(t, 0, 0, "big"))
	d2, err := New(Config{Topics: pipeline.TopicsFor(""), MaxValueBytes: 10}, c2, p2,
		blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d2, func() bool { return p2.acked(pngRecord(t, 0, 0, "big")) })
	if n := len(p2.out["deadletter"]); n != 1 {
		t.Fatalf("%d dead letters for an oversize output, want 1", n)
	}
	if s := p2.out["deadletter"][0].HeaderString(pipeline.HeaderDLStage); s != "encode" {
		t.Errorf("dead letter stage %q, want encode", s)
	}
}

func TestShutdownLeavesUnackedUncommitted(t *testing.T) {
	p := newFakeProducer()
	p.fail = func(r *pipeline.Record, _ int) error {
		if string(r.Key) == "stuck" {
			return errors.New("broker not available")
		}
		return nil
	}
	c := newFakeConsumer(p.acked, pngRecord(t, 0, 0, "a"), pngRecord(t, 0, 1, "stuck"),
		pngRecord(t, 0, 2, "b"))
	d, err := New(Config{Topics: pipeline.TopicsFor(""), Workers: 2,
		DrainTimeout: 300 * time.Millisecond}, c, p, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runUntil(t, d, func() bool { return p.acked(pngRecord(t, 0, 2, "b")) })
	if c.committed[0] != 1 || len(c.errs) > 0 {
		t.Errorf("committed %d, errors %v; want 1: nothing past the stuck image", c.committed[0],
			c.errs)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("shutdown took %v, want about the 300 ms drain timeout", el)
	}
}

func TestOfferModel(t *testing.T) {
	d, err := New(Config{Topics: pipeline.TopicsFor(""), ModelName: "dae",
		Logger: slog.New(slog.DiscardHandler)}, nil, nil, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(data []byte) (Model, error) {
		if string(data) == "bad" {
			return nil, errors.New("checksum mismatch")
		}
		return blur{string(data)}, nil
	}
	steps := []struct {
		name, model, version, data, want string
	}{
		{"newer version swaps", "dae", "v2", "v2", "v2"},
		{"corrupt record keeps current", "dae", "v3", "bad", "v2"},
		{"version mismatch keeps current", "dae", "v4", "v5", "v2"},
		{"other model name ignored", "other", "v6", "v6", "v2"},
		{"rollback to an older version", "dae", "v1", "v1", "v1"},
	}
	for _, s := range steps {
		d.offerModel(pipeline.ModelManifest{Name: s.model, Version: s.version}, []byte(s.data),
			decode)
		if got := d.Model().Version(); got != s.want {
			t.Errorf("%s: model %s, want %s", s.name, got, s.want)
		}
	}
}

// sigmaBlur records the sigma it was told.
type sigmaBlur struct {
	blur
	got chan float64
}

func (s sigmaBlur) DenoiseImageSigma(img image.Image, sigma float64) (image.Image, error) {
	s.got <- sigma
	return s.DenoiseImage(img)
}

func TestNoiseSigmaHeader(t *testing.T) {
	tests := []struct {
		header string
		want   float64 // -1: blind
	}{{"25", 25}, {"", -1}, {"-4", -1}, {"abc", -1}, {"0", -1}}
	for _, tt := range tests {
		m := sigmaBlur{blur{"v1"}, make(chan float64, 1)}
		rec := pngRecord(t, 0, 0, "a")
		if tt.header != "" {
			rec.SetHeader(pipeline.HeaderNoiseSigma, tt.header)
		}
		img, _, _ := imageio.Decode(rec.Value, 0)
		if _, err := denoiseWith(m, img, rec); err != nil {
			t.Fatal(err)
		}
		got := -1.0
		select {
		case got = <-m.got:
		default:
		}
		if got != tt.want {
			t.Errorf("cf-noise-sigma %q: model told %v, want %v", tt.header, got, tt.want)
		}
	}
}
