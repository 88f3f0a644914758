package retrain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/pipeline"
)

// embedded starts an embedded broker with the given message.max.bytes and
// returns a config on fresh topics.
func embedded(t *testing.T, ctx context.Context, maxBytes int) *pipeline.Config {
	t.Helper()
	e, err := pipeline.StartEmbedded(ctx, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "reg",
		MaxMessageBytes: maxBytes}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tinyModel is a small model of version v with parent p.
func tinyModel(t *testing.T, v, p string, psnr float64) *ae.Model {
	t.Helper()
	m, err := ae.NewModel("dae", ae.Arch{PatchIn: 5, PatchOut: 3, Stride: 1,
		Hidden: []int{8}}, 51)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Version, m.Header.Parent = v, p
	m.Header.Metrics = map[string]float64{"valid_psnr_db_sigma25": psnr}
	return m
}

func publish(t *testing.T, ctx context.Context, cfg *pipeline.Config, m *ae.Model) {
	t.Helper()
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	if _, err := mp.PublishModel(ctx, m.Header.Name, m.Version(), data); err != nil {
		t.Fatal(err)
	}
}

// TestRegistry publishes three versions, then rolls back, pins and unpins,
// checking after each step what the registry reads and what a follower of
// the topic (as a denoiser follows it) ends up with.
func TestRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := embedded(t, ctx, 0)
	for i, p := range []string{"", "v1", "v2"} {
		publish(t, ctx, cfg, tinyModel(t, fmt.Sprintf("v%d", i+1), p, 30+float64(i)))
	}

	// A record denoisers refuse does not become current.
	bad, _ := tinyModel(t, "vbad", "v3", 0).MarshalBinary()
	bad[len(bad)/2] ^= 1
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	if _, err := mp.PublishModel(ctx, "dae", "vbad", bad); err != nil {
		t.Fatal(err)
	}

	reg, err := ReadRegistry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Entries) != 4 || reg.Current["dae"] != "v3" || len(reg.Pins) != 0 {
		t.Fatalf("registry %+v, want v1..v3 and vbad with v3 current, no pin", reg)
	}
	if e, _ := reg.Find("dae", "vbad"); e.Invalid == "" || e.Complete() {
		t.Errorf("vbad entry %+v, want it marked invalid", e)
	}
	e, _ := reg.Find("dae", "v2")
	if e.Parent != "v1" || e.Metrics["valid_psnr_db_sigma25"] != 31 || !e.Complete() ||
		e.Current || e.Stored.IsZero() {
		t.Errorf("v2 entry %+v, want parent v1, psnr 31, complete, not current", e)
	}

	steps := []struct {
		name    string
		do      func() error
		current string
		pinned  string
		wantErr bool
	}{
		{"rollback to the parent", func() error {
			_, err := Rollback(ctx, cfg, "dae", "")
			return err
		}, "v2", "", false},
		{"rollback to a named version", func() error {
			_, err := Rollback(ctx, cfg, "dae", "v1")
			return err
		}, "v1", "", false},
		{"pin v3 publishes it again", func() error { return Pin(ctx, cfg, "dae", "v3") },
			"v3", "v3", false},
		{"rollback refused while pinned elsewhere", func() error {
			_, err := Rollback(ctx, cfg, "dae", "v1")
			return err
		}, "v3", "v3", true},
		{"pin of an unknown version refused", func() error {
			return Pin(ctx, cfg, "dae", "v9")
		}, "v3", "v3", true},
		{"unpin", func() error { return Pin(ctx, cfg, "dae", "") }, "v3", "", false},
	}
	for _, s := range steps {
		err := s.do()
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: error %v, want error %v", s.name, err, s.wantErr)
		}
		reg, err := ReadRegistry(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if reg.Current["dae"] != s.current || reg.Pins["dae"] != s.pinned {
			t.Errorf("%s: current %q pinned %q, want %q and %q", s.name, reg.Current["dae"],
				reg.Pins["dae"], s.current, s.pinned)
		}
		if got := follow(t, ctx, cfg); got != s.current {
			t.Errorf("%s: a follower ends on %s, want %s", s.name, got, s.current)
		}
	}
}

// follow reads the models topic from the start as a denoiser does and
// returns the last version it was handed.
func follow(t *testing.T, ctx context.Context, cfg *pipeline.Config) string {
	t.Helper()
	fctx, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	var last string
	pipeline.FollowModels(fctx, cfg,
		func(_ context.Context, m pipeline.ModelManifest, _ []byte) { last = m.Version })
	return last
}

// TestModel100MB sends a 100 MB model through an embedded broker with
// Kafka's default record limit (message.max.bytes 1048588, topics at 1 MiB)
// and reads it back checksum-verified, decodable, and listed.
func TestModel100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB through a broker; -short skips it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := embedded(t, ctx, 1048588)
	cfg.MaxMessageBytes = 1 << 20

	m, err := ae.NewModel("big", ae.Arch{PatchIn: 17, PatchOut: 9, Stride: 3,
		Hidden: []int{4800, 4800}}, 51)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Net.Params {
		m.Net.Params[i] = float32(i%1009) * 1e-6
	}
	m.Stamp()
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 95e6 {
		t.Fatalf("model of %d bytes, want about 100 MB", len(data))
	}

	start := time.Now()
	publish(t, ctx, cfg, m)
	published := time.Since(start)
	fctx, stop := context.WithCancel(ctx)
	var got []byte
	pipeline.FollowModels(fctx, cfg, func(_ context.Context, _ pipeline.ModelManifest,
		b []byte) {
		got = b
		stop()
	})
	followed := time.Since(start) - published
	if !bytes.Equal(got, data) {
		t.Fatalf("followed %d bytes, want the %d published", len(got), len(data))
	}
	back, err := ae.Decode(got)
	if err != nil || back.Version() != m.Version() {
		t.Fatalf("decode the followed model: %v", err)
	}
	reg, err := ReadRegistry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := reg.Find("big", m.Version())
	if !ok || !e.Complete() || e.Length != int64(len(data)) || !e.Current {
		t.Errorf("registry entry %+v, want the whole model, current", e)
	}
	t.Logf("%.1f MB model in %d chunks of %d bytes: published in %v, followed in %v, "+
		"sha256 %x", float64(len(data))/1e6, e.Chunks, pipeline.ModelChunkBytes,
		published.Round(time.Millisecond), followed.Round(time.Millisecond),
		sha256.Sum256(data))
}

// TestPinPostponesRounds runs the service against an embedded broker: while
// the model is pinned no round runs however many samples arrive, and once
// it is unpinned a round publishes a new version.
func TestPinPostponesRounds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := embedded(t, ctx, 0)
	start := tinyModel(t, "v1", "", 0)
	publish(t, ctx, cfg, start)
	if err := Pin(ctx, cfg, "dae", "v1"); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Pipeline: cfg, Validation: []dataset.Image{{Name: "v",
		Image: smoothImage(9)}}, MinNew: 1, Steps: 5, Batch: 8, Margin: -1000}, start)
	if err != nil {
		t.Fatal(err)
	}
	svc.AddImage(smoothImage(1))
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	defer func() { stop(); <-done }()

	time.Sleep(4 * time.Second)
	if v := svc.Serving().Version(); v != "v1" {
		t.Fatalf("serving %s while pinned to v1: a round ran", v)
	}
	if err := Pin(ctx, cfg, "dae", ""); err != nil {
		t.Fatal(err)
	}
	for svc.Serving().Version() == "v1" && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	reg, err := ReadRegistry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cur := reg.Current["dae"]; cur == "v1" || cur != svc.Serving().Version() {
		t.Errorf("after unpinning: current %s, serving %s; want a new version published",
			cur, svc.Serving().Version())
	}
}

// TestCatchUp checks that a (re)started service takes the current model
// and the pin from the models topic before its first round.
func TestCatchUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := embedded(t, ctx, 0)
	v1 := tinyModel(t, "v1", "", 0)
	publish(t, ctx, cfg, v1)
	publish(t, ctx, cfg, tinyModel(t, "v2", "v1", 0))
	if err := Pin(ctx, cfg, "dae", "v2"); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Pipeline: cfg, Validation: []dataset.Image{{Name: "v",
		Image: smoothImage(9)}}}, v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if v, pin := svc.Serving().Version(), svc.pinned; v != "v2" || pin != "v2" {
		t.Errorf("after catching up: serving %s pinned %q, want v2 and v2", v, pin)
	}
}
