package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/retrain"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestHotSwapLoad runs the hot-swap load test against the embedded broker
// and, when KAFKA_BROKERS is set, the real one. It is a top-level test of
// its own (not a runSuite entry) so that it can be run and timed alone:
//
//	go test ./test/integration -run TestHotSwapLoad -v
//
// CF_HOTSWAP_IMAGES sets the image count (default hotswapImages).
func TestHotSwapLoad(t *testing.T) {
	n := hotswapImages
	if v := os.Getenv("CF_HOTSWAP_IMAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			t.Fatalf("CF_HOTSWAP_IMAGES=%q: want a count of at least 10", v)
		}
	}
	t.Run("embedded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		e, err := pipeline.StartEmbedded(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		b := broker{name: "embedded", brokers: e.Brokers()}
		testHotSwapLoad(t, ctx, newEnv(t, ctx, b, "hotswapload"), b, n)
	})
	t.Run("kafka", func(t *testing.T) {
		addrs := os.Getenv("KAFKA_BROKERS")
		if addrs == "" {
			t.Skip("KAFKA_BROKERS not set")
		}
		b := broker{name: "kafka", brokers: strings.Split(addrs, ",")}
		for _, a := range b.brokers {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("KAFKA_BROKERS=%s: the suite talks only to 127.0.0.1", addrs)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		testHotSwapLoad(t, ctx, newEnv(t, ctx, b, "hotswapload"), b, n)
	})
}

// hotswapImages is the load test's default image count, sent over
// hotswapFlow.
var hotswapImages = 2000

const hotswapFlow = 20 * time.Second

// swapDenoiser is a worker.Denoiser run the way worker.Serve runs it, with
// the handles the load test inspects.
type swapDenoiser struct {
	d     *worker.Denoiser
	swaps *swapLog
	fails *atomic.Int64 // "image not processed" and "dead-lettered" logs
	stop  context.CancelFunc
	done  chan struct{}
}

// swapLog keeps the versions a denoiser swapped to, in order.
type swapLog struct {
	mu       sync.Mutex
	versions []string
}

// swapHandler records "model swapped" and failed-image logs.
type swapHandler struct {
	slog.Handler
	swaps *swapLog
	fails *atomic.Int64
}

func (h swapHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h swapHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "model swapped":
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "model_version" {
				h.swaps.mu.Lock()
				h.swaps.versions = append(h.swaps.versions, a.Value.String())
				h.swaps.mu.Unlock()
			}
			return true
		})
	case "image not processed, offset left uncommitted", "image dead-lettered":
		h.fails.Add(1)
	}
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return swapHandler{h.Handler.WithAttrs(as), h.swaps, h.fails}
}

func (h swapHandler) WithGroup(name string) slog.Handler {
	return swapHandler{h.Handler.WithGroup(name), h.swaps, h.fails}
}

// startSwapDenoiser runs a denoiser in group reading e's noisy topic and
// following e's models topic, writing to the denoised and deadletter topics
// of out (e itself, or another env for a denoiser whose outputs are kept
// apart).
func startSwapDenoiser(t *testing.T, ctx context.Context, e, out *env, group string,
	wcfg worker.Config) *swapDenoiser {
	t.Helper()
	sd := &swapDenoiser{swaps: &swapLog{}, fails: new(atomic.Int64), done: make(chan struct{})}
	wcfg.Topics = e.cfg.Topics()
	wcfg.Topics.Denoised = out.cfg.Topics().Denoised
	wcfg.Topics.Deadletter = out.cfg.Topics().Deadletter
	wcfg.Logger = slog.New(swapHandler{e.log.Handler(), sd.swaps, sd.fails})
	wcfg.DrainTimeout = 10 * time.Second
	in, err := pipeline.NewGroupConsumer(e.cfg, group, wcfg.Topics.Noisy)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sd.d, err = worker.New(wcfg, in, prod, model(t)); err != nil {
		t.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	sd.stop = stop
	var wg sync.WaitGroup
	wg.Go(func() { sd.d.FollowModels(dctx, e.cfg, decodeModel) })
	wg.Go(func() { sd.d.Run(dctx) })
	go func() { wg.Wait(); in.Close(); prod.Close(); close(sd.done) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-sd.done:
		case <-time.After(30 * time.Second):
			t.Error("denoiser did not stop within 30 s")
		}
	})
	return sd
}

// shiftedModel returns the default model with its output biases moved by
// k/50 (about k grey levels of the noise estimate), re-stamped, with parent
// as its parent: a new version whose outputs differ visibly from its
// neighbours', so that an output can be matched to the one version that
// made it.
func shiftedModel(t *testing.T, k int, parent string) *ae.Model {
	t.Helper()
	m := model(t).Clone()
	no := m.Net.Out()
	bias := m.Net.Params[len(m.Net.Params)-no:]
	for i := range bias {
		bias[i] += float32(k) / 50
	}
	m.Header.Parent = parent
	m.Header.Metrics = map[string]float64{"shift": float64(k)}
	m.Stamp()
	m.Header.Version += "-k" + strconv.Itoa(k) // Stamp has one-second resolution
	return m
}

// badModels are model records that pass the chunk checksum but must be
// refused by ae.Decode, by name.
func badModels(t *testing.T) []struct {
	name string
	data []byte
} {
	t.Helper()
	good, err := model(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(edit func(m *ae.Model)) []byte {
		m := model(t).Clone()
		edit(m)
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	future := bytes.Clone(good)
	binary.LittleEndian.PutUint16(future[4:], ae.FormatVersion+1)
	return []struct {
		name string
		data []byte
	}{
		{"bad-checksum", flipped},
		{"wrong-shape", marshal(func(m *ae.Model) { m.Header.Arch.Hidden[0] /= 2 })},
		{"nan", marshal(func(m *ae.Model) { m.Net.Params[7] = float32(math.NaN()) })},
		{"inf", marshal(func(m *ae.Model) { m.Net.Params[9] = float32(math.Inf(-1)) })},
		{"truncated", good[:len(good)-4096]},
		{"format-version", future},
	}
}

// testHotSwapLoad sends n small images through two denoisers in one group
// while a new model version is published every two seconds, with a record
// that must be refused published between each two versions; a third
// denoiser in a group of its own is pinned to the initial version. It
// checks:
//
//   - zero lost: every image has an output; zero failed: no dead letter, no
//     image left unprocessed, offsets committed to the end;
//   - every output carries exactly one cf-model-version, naming the initial
//     version or one that was published, and on a sample of outputs the
//     pixels are exactly those that version makes, so no output mixes
//     versions;
//   - per partition, in input offset order, versions never go backwards;
//     each denoiser's swaps go forward in publication order;
//   - every bad record is refused and counted by every denoiser, and the
//     serving model stays;
//   - the pinned denoiser serves the initial version throughout.
func testHotSwapLoad(t *testing.T, ctx context.Context, e *env, b broker, n int) {
	const group = "load"
	start := time.Now()
	pinnedOut := newEnv(t, ctx, b, "hotswapload-pinned")
	initial := model(t).Version()
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	dead := collect(t, ctx, e.cfg, e.cfg.Topics().Deadletter)
	pinOut := collect(t, ctx, e.cfg, pinnedOut.cfg.Topics().Denoised)
	ds := []*swapDenoiser{
		startSwapDenoiser(t, ctx, e, e, group, worker.Config{Workers: 2}),
		startSwapDenoiser(t, ctx, e, e, group, worker.Config{Workers: 2}),
	}
	pinned := startSwapDenoiser(t, ctx, e, pinnedOut, "pinned",
		worker.Config{Workers: 1, Pin: initial})
	waitStable(t, ctx, e, group, 2)

	// Publish models until every output is in: a good version, then a bad
	// record, one a second.
	mp, err := pipeline.NewModelPublisher(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	order := map[string]int{initial: 0} // version to publication index
	models := map[string]*ae.Model{initial: model(t)}
	bad := badModels(t)
	var badSent int
	allOut := make(chan struct{})
	var pubWG sync.WaitGroup
	var pubErr error
	pubWG.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		parent := initial
		for i := 0; ; i++ {
			var err error
			if i%2 == 0 {
				k := len(order)
				m := shiftedModel(t, k, parent)
				data, _ := m.MarshalBinary()
				_, err = mp.PublishModel(ctx, "dae", m.Version(), data)
				order[m.Version()], models[m.Version()], parent = k, m, m.Version()
			} else {
				r := bad[badSent%len(bad)]
				_, err = mp.PublishModel(ctx, "dae", fmt.Sprintf("%s-%d", r.name, badSent),
					r.data)
				badSent++
			}
			if err != nil {
				pubErr = err
				return
			}
			select {
			case <-allOut:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})

	// Images: four publishers spreading them over hotswapFlow, each image's
	// partition and offset noted.
	type at struct {
		partition int
		offset    int64
	}
	inputs := make([][]byte, 8)
	for i := range inputs {
		inputs[i] = encodePNG(t, photo(12+i%3, 12, uint64(i), i%4 != 3))
	}
	placed := make([]at, n)
	var imgWG sync.WaitGroup
	var imgErrs atomic.Int64
	for w := range 4 {
		imgWG.Go(func() {
			for i := w; i < n; i += 4 {
				time.Sleep(time.Until(start.Add(hotswapFlow * time.Duration(i) /
					time.Duration(n))))
				rec, err := pub.Publish(ctx, ingest.Image{ID: fmt.Sprintf("load-%05d", i),
					Data: inputs[i%len(inputs)], Source: "hotswap"})
				if err != nil {
					imgErrs.Add(1)
					t.Errorf("publish image %d: %v", i, err)
					return
				}
				placed[i] = at{rec.Partition, rec.Offset}
			}
		})
	}
	imgWG.Wait()
	published := time.Since(start)

	// Every output, duplicates included.
	outs := map[string][]pipeline.Record{}
	for len(outs) < n && ctx.Err() == nil && imgErrs.Load() == 0 {
		select {
		case r := <-out.recs:
			outs[string(r.Key)] = append(outs[string(r.Key)], r)
		case <-ctx.Done():
		}
	}
	close(allOut)
	pubWG.Wait()
	if pubErr != nil {
		t.Fatalf("publish model: %v", pubErr)
	}
	flowed := time.Since(start)
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
	waitCommitted(t, ctx, e.cfg, "pinned", e.cfg.Topics().Noisy)

	// Lost and failed.
	if len(outs) != n {
		t.Fatalf("%d of %d images came out", len(outs), n)
	}
	for _, d := range append(ds, pinned) {
		if f := d.fails.Load(); f > 0 {
			t.Errorf("a denoiser failed %d images", f)
		}
	}
	select {
	case r := <-dead.recs:
		t.Errorf("dead letter %s: %s", r.Key, r.HeaderString(pipeline.HeaderDLReason))
	case <-time.After(500 * time.Millisecond):
	}

	// One known version per output, per-partition order, and on a sample
	// the exact pixels of that version.
	byVersion := map[string]int{}
	type seen struct {
		off int64
		v   int
	}
	perPart := map[int][]seen{}
	dups := 0
	for i := range n {
		id := fmt.Sprintf("load-%05d", i)
		recs := outs[id]
		dups += len(recs) - 1
		for _, r := range recs {
			if c := countHeader(r, pipeline.HeaderModelVersion); c != 1 {
				t.Errorf("%s: %d cf-model-version headers, want 1", id, c)
			}
		}
		v := recs[0].HeaderString(pipeline.HeaderModelVersion)
		idx, ok := order[v]
		if !ok {
			t.Errorf("%s: made by %q, which was never published", id, v)
			continue
		}
		byVersion[v]++
		p := placed[i]
		perPart[p.partition] = append(perPart[p.partition], seen{p.offset, idx})
		if i%25 == 0 {
			checkPixels(t, id, recs[0], inputs[i%len(inputs)], models[v])
		}
	}
	for p, ss := range perPart {
		slices.SortFunc(ss, func(a, b seen) int { return int(a.off - b.off) })
		for j := 1; j < len(ss); j++ {
			if ss[j].v < ss[j-1].v {
				t.Errorf("partition %d: offset %d made by version #%d after offset %d by #%d",
					p, ss[j].off, ss[j].v, ss[j-1].off, ss[j-1].v)
				break
			}
		}
	}

	// Swaps forward, rejects counted, pinned stays.
	for i, d := range ds {
		d.swaps.mu.Lock()
		vs := d.swaps.versions
		d.swaps.mu.Unlock()
		for j := 1; j < len(vs); j++ {
			if order[vs[j]] <= order[vs[j-1]] {
				t.Errorf("denoiser %d swapped from %s back to %s", i, vs[j-1], vs[j])
			}
		}
		if len(vs) == 0 {
			t.Errorf("denoiser %d never swapped", i)
		}
		waitRejects(t, ctx, d, badSent)
		t.Logf("denoiser %d: %d swaps, %d records refused, serving %s", i, len(vs),
			d.d.ModelRejects(), d.d.Model().Version())
	}
	waitRejects(t, ctx, pinned, badSent)
	pinnedOuts := 0
	for pinnedOuts < n && ctx.Err() == nil {
		r := <-pinOut.recs
		if v := r.HeaderString(pipeline.HeaderModelVersion); v != initial {
			t.Fatalf("pinned denoiser made %s with %s, want %s", r.Key, v, initial)
		}
		pinnedOuts++
	}
	if v := pinned.d.Model().Version(); v != initial {
		t.Errorf("pinned denoiser serves %s, want %s", v, initial)
	}
	t.Logf("%d images through 2 denoisers (+1 pinned) in %v (published in %v, all out "+
		"after %v); %d versions and %d bad records published; outputs per version %v; "+
		"%d duplicates", n, time.Since(start).Round(time.Millisecond),
		published.Round(time.Millisecond), flowed.Round(time.Millisecond), len(order)-1,
		badSent, byVersion, dups)
	if len(byVersion) < 3 {
		t.Errorf("outputs came from %d versions; the load test wants swaps under load",
			len(byVersion))
	}
}

// waitStable waits until group on e's noisy topic is stable with members
// members, each holding partitions, so that no rebalance moves partitions
// while images flow.
func waitStable(t *testing.T, ctx context.Context, e *env, group string, members int) {
	t.Helper()
	for {
		gs, err := pipeline.DescribeGroup(ctx, e.cfg, group, e.cfg.Topics().Noisy)
		if err == nil && gs.State == "Stable" && len(gs.Assigned) == members {
			ok := true
			for _, ps := range gs.Assigned {
				ok = ok && len(ps) > 0
			}
			if ok {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s never stable with %d members: %+v, %v", group, members, gs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRejects waits until d has refused want model records.
func waitRejects(t *testing.T, ctx context.Context, d *swapDenoiser, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.d.ModelRejects() < int64(want) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if got := d.d.ModelRejects(); got != int64(want) {
		t.Errorf("denoiser refused %d model records, want %d", got, want)
	}
}

func countHeader(r pipeline.Record, key string) int {
	c := 0
	for _, h := range r.Headers {
		if h.Key == key {
			c++
		}
	}
	return c
}

// checkPixels checks that out is exactly what m makes of input.
func checkPixels(t *testing.T, id string, out pipeline.Record, input []byte, m *ae.Model) {
	t.Helper()
	img, _, err := imageio.Decode(input, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.DenoiseImage(img)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := imageio.Decode(out.Value, 0)
	if err != nil {
		t.Fatalf("%s: output: %v", id, err)
	}
	if !samePixels(got, want) {
		t.Errorf("%s: pixels differ from what %s makes: a mixed or mislabelled output", id,
			m.Version())
	}
}

func samePixels(a, b image.Image) bool {
	r := a.Bounds()
	if r != b.Bounds() {
		return false
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 || a1>>8 != a2>>8 {
				return false
			}
		}
	}
	return true
}

// TestPinRollback drives a running denoiser with the registry operations
// that `trainer models` performs: a rollback makes it serve the older
// version again, a pin record holds it at a version while newer ones are
// published, and unpinning lets it follow again. Outputs carry the version
// expected after each step.
func TestPinRollback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emb, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	b := broker{name: "embedded", brokers: emb.Brokers()}
	e := newEnv(t, ctx, b, "pinrollback")
	d := startSwapDenoiser(t, ctx, e, e, "pin", worker.Config{Workers: 1})
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	mp, err := pipeline.NewModelPublisher(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	vs := map[int]*ae.Model{}
	publishK := func(k int) error {
		vs[k] = shiftedModel(t, k, model(t).Version())
		data, _ := vs[k].MarshalBinary()
		_, err := mp.PublishModel(ctx, "dae", vs[k].Version(), data)
		return err
	}
	img := encodePNG(t, photo(12, 12, 1, true))
	sent := 0

	steps := []struct {
		name string
		do   func() error
		want func() string
	}{
		{"publish v1", func() error { return publishK(1) }, func() string { return vs[1].Version() }},
		{"publish v2", func() error { return publishK(2) }, func() string { return vs[2].Version() }},
		{"rollback to v1", func() error {
			_, err := retrain.Rollback(ctx, e.cfg, "dae", vs[1].Version())
			return err
		}, func() string { return vs[1].Version() }},
		{"pin v2", func() error { return retrain.Pin(ctx, e.cfg, "dae", vs[2].Version()) },
			func() string { return vs[2].Version() }},
		{"v3 published while pinned", func() error { return publishK(3) },
			func() string { return vs[2].Version() }},
		{"unpin, v4 published", func() error {
			if err := retrain.Pin(ctx, e.cfg, "dae", ""); err != nil {
				return err
			}
			return publishK(4)
		}, func() string { return vs[4].Version() }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := s.want()
		deadline := time.Now().Add(20 * time.Second)
		for d.d.Model().Version() != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// A settle time so that a swap that should not happen would show.
		time.Sleep(1500 * time.Millisecond)
		if got := d.d.Model().Version(); got != want {
			t.Fatalf("%s: denoiser serves %s, want %s", s.name, got, want)
		}
		id := fmt.Sprintf("pin-%d", sent)
		sent++
		if _, err := pub.Publish(ctx, ingest.Image{ID: id, Data: img}); err != nil {
			t.Fatal(err)
		}
		got := out.until(t, ctx, func(m map[string]pipeline.Record) bool {
			_, ok := m[id]
			return ok
		})
		r := got[id]
		if v := r.HeaderString(pipeline.HeaderModelVersion); v != want {
			t.Errorf("%s: output made by %s, want %s", s.name, v, want)
		}
	}
}
