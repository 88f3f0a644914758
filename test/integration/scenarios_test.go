package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/pipeline"
)

// testTopicSettings checks that EnsureTopics made every topic with the
// agreed size limit, the models topic compacted with one partition, and
// that running it again changes nothing.
func testTopicSettings(t *testing.T, ctx context.Context, e *env) {
	ts := e.cfg.Topics()
	for _, topic := range ts.All() {
		got, err := pipeline.DescribeTopicConfigs(ctx, e.cfg, topic, "cleanup.policy",
			"max.message.bytes")
		if err != nil {
			t.Fatal(err)
		}
		policy, parts := "delete", 4
		if topic == ts.Models {
			policy, parts = "compact", 1
		}
		want := strconv.Itoa(pipeline.DefaultMaxMessageBytes)
		if got["cleanup.policy"] != policy || got["max.message.bytes"] != want {
			t.Errorf("%s: configs %v, want cleanup.policy=%s max.message.bytes=%s", topic,
				got, policy, want)
		}
		end, err := pipeline.EndOffsets(ctx, e.cfg, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(end) != parts {
			t.Errorf("%s: %d partitions, want %d", topic, len(end), parts)
		}
	}
	if err := pipeline.EnsureTopics(ctx, e.cfg); err != nil {
		t.Errorf("EnsureTopics on existing topics: %v", err)
	}
}

// testTwentyImages sends 20 images through ingest's publisher and expects 20
// outputs with the same ids and a model version, and the group's offsets
// committed to the end of the input topic.
func testTwentyImages(t *testing.T, ctx context.Context, e *env) {
	const n, group = 20, "denoisers"
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	e.startDenoiser(t, ctx, group)

	sizes := map[string]image2{}
	for i := range n {
		w, h := 24+i, 40-i
		img := photo(w, h, uint64(i), i%2 == 0)
		id := fmt.Sprintf("img-%02d", i)
		rec, err := pub.Publish(ctx, ingest.Image{ID: id, Data: encodePNG(t, img),
			Source: "integration"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Topic != e.cfg.Topics().Noisy || rec.Offset < 0 {
			t.Fatalf("published %s to %s at %d", id, rec.Topic, rec.Offset)
		}
		sizes[id] = image2{w, h}
	}

	got := out.until(t, ctx, func(m map[string]pipeline.Record) bool { return len(m) >= n })
	version := model(t).Version()
	for id, want := range sizes {
		r, ok := got[id]
		if !ok {
			t.Errorf("no output for %s", id)
			continue
		}
		checkOutput(t, r, id, version, want)
	}
	if len(got) != n {
		t.Errorf("%d distinct outputs, want %d", len(got), n)
	}
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
}

type image2 struct{ w, h int }

// checkOutput checks an output record's key, headers and image size.
func checkOutput(t *testing.T, r pipeline.Record, id, version string, size image2) {
	t.Helper()
	if r.HeaderString(pipeline.HeaderID) != id ||
		r.HeaderString(pipeline.HeaderModelVersion) != version ||
		r.HeaderString(pipeline.HeaderContentType) != "image/png" {
		t.Errorf("output %s headers %v, want cf-id %s, version %s, image/png", r.Key,
			r.Headers, id, version)
	}
	img, format, err := imageio.Decode(r.Value, 0)
	if err != nil || format != "png" || img.Bounds().Dx() != size.w ||
		img.Bounds().Dy() != size.h {
		t.Errorf("output %s: %s %v, %v; want a %dx%d PNG", id, format, img, err, size.w,
			size.h)
	}
}

// testDeadLetter sends corrupt bytes (which ingest itself refuses, so they
// come from another producer) followed by a good image on the same key's
// partition: the bytes go to deadletter unchanged with their reason and
// source, and the good image still comes out.
func testDeadLetter(t *testing.T, ctx context.Context, e *env) {
	const group = "denoisers"
	pub := e.publisher(t)
	corrupt := []byte("\x89PNG\r\n\x1a\nthis is not a png")
	_, err := pub.Publish(ctx, ingest.Image{ID: "bad-1", Data: corrupt})
	var ie *ingest.Error
	if !errors.As(err, &ie) || ie.Status != http.StatusBadRequest {
		t.Errorf("ingest took corrupt bytes: %v, want a 400 error", err)
	}

	prod, err := pipeline.NewProducer(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	bad := &pipeline.Record{Topic: e.cfg.Topics().Noisy, Key: []byte("bad-1"), Value: corrupt,
		Headers: []pipeline.Header{{Key: pipeline.HeaderSource, Value: []byte("rogue")}}}
	if err := prod.Produce(ctx, bad); err != nil {
		t.Fatal(err)
	}
	// The same key, so the same partition, right behind the corrupt record.
	good := &pipeline.Record{Topic: e.cfg.Topics().Noisy, Key: []byte("bad-1"),
		Value: encodePNG(t, photo(30, 20, 1, true))}
	if err := prod.Produce(ctx, good); err != nil {
		t.Fatal(err)
	}
	if good.Partition != bad.Partition || good.Offset != bad.Offset+1 {
		t.Fatalf("good record at %d/%d, want right after %d/%d", good.Partition, good.Offset,
			bad.Partition, bad.Offset)
	}

	dl := collect(t, ctx, e.cfg, e.cfg.Topics().Deadletter)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	e.startDenoiser(t, ctx, group)

	d := dl.until(t, ctx, has("bad-1"))["bad-1"]
	if !bytes.Equal(d.Value, corrupt) {
		t.Errorf("dead letter value %q, want the original bytes %q", d.Value, corrupt)
	}
	want := map[string]string{
		pipeline.HeaderDLStage:     "decode",
		pipeline.HeaderDLTopic:     e.cfg.Topics().Noisy,
		pipeline.HeaderDLPartition: strconv.Itoa(bad.Partition),
		pipeline.HeaderDLOffset:    strconv.FormatInt(bad.Offset, 10),
		pipeline.HeaderSource:      "rogue",
	}
	for k, v := range want {
		if got := d.HeaderString(k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	if r := d.HeaderString(pipeline.HeaderDLReason); !strings.Contains(r, "malformed png") {
		t.Errorf("dead letter reason %q, want it to say malformed png", r)
	}
	if _, err := pipeline.ParseTime([]byte(d.HeaderString(pipeline.HeaderDLTime))); err != nil {
		t.Errorf("dead letter time: %v", err)
	}

	o := out.until(t, ctx, has("bad-1"))
	checkOutput(t, o["bad-1"], "bad-1", model(t).Version(), image2{30, 20})
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
}

// testModelChunks publishes the shipped model (about 3 MB, over Kafka's
// default 1 MB record limit) and follows it back checksum-verified; no
// record on the topic is larger than a chunk.
func testModelChunks(t *testing.T, ctx context.Context, e *env) {
	data, err := model(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= 1<<20 {
		t.Fatalf("model of %d bytes; this test wants one over 1 MiB", len(data))
	}
	mp, err := pipeline.NewModelPublisher(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	man, err := mp.PublishModel(ctx, "dae", model(t).Version(), data)
	if err != nil {
		t.Fatal(err)
	}

	raw := collect(t, ctx, e.cfg, e.cfg.Topics().Models)
	recs := raw.until(t, ctx, func(m map[string]pipeline.Record) bool {
		return len(m) == man.Chunks+1
	})
	for k, r := range recs {
		if len(r.Value) > pipeline.ModelChunkBytes {
			t.Errorf("record %s of %d bytes, want at most a chunk", k, len(r.Value))
		}
	}

	fctx, stop := context.WithCancel(ctx)
	var got []byte
	err = pipeline.FollowModels(fctx, e.cfg, func(_ context.Context, m pipeline.ModelManifest,
		b []byte) {
		got = b
		stop()
	})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("followed %d bytes (%v), want the %d published", len(got), err, len(data))
	}
	if m, err := ae.Decode(got); err != nil || m.Version() != model(t).Version() {
		t.Errorf("followed model does not decode: %v", err)
	}
}

// testHotSwap publishes a new model version while a denoiser runs: later
// outputs carry the new version, and a record that fails validation is
// refused while the new model stays in use.
func testHotSwap(t *testing.T, ctx context.Context, e *env) {
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	d := e.startDenoiser(t, ctx, "denoisers")
	mp, err := pipeline.NewModelPublisher(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()

	next := model(t).Clone()
	next.Header.Version = model(t).Version() + "-it2"
	data, err := next.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mp.PublishModel(ctx, "dae", next.Version(), data); err != nil {
		t.Fatal(err)
	}

	// Send images until one comes out made by the new model.
	img := encodePNG(t, photo(20, 20, 3, true))
	for i := 0; ; i++ {
		id := fmt.Sprintf("swap-%d", i)
		if _, err := pub.Publish(ctx, ingest.Image{ID: id, Data: img}); err != nil {
			t.Fatal(err)
		}
		r := out.until(t, ctx, has(id))[id]
		if r.HeaderString(pipeline.HeaderModelVersion) == next.Version() {
			break
		}
	}

	// Bytes that pass the chunk checksum but not the model's own checks.
	junk := bytes.Repeat([]byte("not a model "), 200000)
	if _, err := mp.PublishModel(ctx, "dae", "junk", junk); err != nil {
		t.Fatal(err)
	}
	for d.rejects.Load() == 0 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := pub.Publish(ctx, ingest.Image{ID: "after-junk", Data: img}); err != nil {
		t.Fatal(err)
	}
	r := out.until(t, ctx, has("after-junk"))
	checkOutput(t, r["after-junk"], "after-junk", next.Version(), image2{20, 20})
}

// testTwoDenoisers runs two denoisers in one group sharing the partitions:
// every image comes out, both members do work, and offsets are committed.
func testTwoDenoisers(t *testing.T, ctx context.Context, e *env) {
	const n, group = 40, "pair"
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	d1 := e.startDenoiser(t, ctx, group)
	d2 := e.startDenoiser(t, ctx, group)

	// Wait until the group is stable with both members holding partitions.
	for {
		gs, err := pipeline.DescribeGroup(ctx, e.cfg, group, e.cfg.Topics().Noisy)
		if err == nil && gs.State == "Stable" && len(gs.Assigned) == 2 {
			ok := true
			for _, ps := range gs.Assigned {
				ok = ok && len(ps) > 0
			}
			if ok {
				t.Logf("group %s stable: %v", group, gs.Assigned)
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("group never stable with two members: %+v, %v", gs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	img := encodePNG(t, photo(16, 16, 5, false))
	for i := range n {
		if _, err := pub.Publish(ctx, ingest.Image{ID: fmt.Sprintf("pair-%02d", i),
			Data: img}); err != nil {
			t.Fatal(err)
		}
	}
	got := out.until(t, ctx, func(m map[string]pipeline.Record) bool { return len(m) >= n })
	for i := range n {
		id := fmt.Sprintf("pair-%02d", i)
		checkOutput(t, got[id], id, model(t).Version(), image2{16, 16})
	}
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
	a, b := d1.images.Load(), d2.images.Load()
	t.Logf("denoiser outputs: %d and %d (duplicates after a rebalance allowed)", a, b)
	if a == 0 || b == 0 || a+b < n {
		t.Errorf("outputs per denoiser %d and %d, want both working and %d in all", a, b, n)
	}
}

// testLargeImage sends a 1500x1500 photograph-like image whose record is
// over 1 MB: it goes through with the agreed limits (on a real broker whose
// own message.max.bytes is about 1 MB, the topic setting is what lets it
// in), and with a 1 MiB limit ingest refuses it with a clear error.
func testLargeImage(t *testing.T, ctx context.Context, e *env) {
	data := encodePNG(t, photo(1500, 1500, 9, true))
	if len(data) <= 1<<20 {
		t.Fatalf("image of %d bytes; this test wants one over 1 MiB", len(data))
	}
	t.Logf("1500x1500 image: %d bytes", len(data))

	small := *e.cfg
	small.MaxMessageBytes = 1 << 20
	prod, err := pipeline.NewProducer(&small)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	refuser := &ingest.Publisher{Producer: prod, Topics: small.Topics(),
		MaxBytes: small.MaxValueBytes()}
	_, err = refuser.Publish(ctx, ingest.Image{ID: "too-big", Data: data})
	var ie *ingest.Error
	if !errors.As(err, &ie) || ie.Status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(err.Error(), "exceeds the record limit") {
		t.Errorf("publish with a 1 MiB limit: %v, want a 413 saying the limit", err)
	}
	big := &pipeline.Record{Topic: small.Topics().Noisy, Key: []byte("too-big"), Value: data}
	if err := prod.Produce(ctx, big); !errors.Is(err, pipeline.ErrRecordTooLarge) {
		t.Errorf("produce with a 1 MiB limit: %v, want ErrRecordTooLarge", err)
	}

	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	e.startDenoiser(t, ctx, "denoisers")
	if _, err := e.publisher(t).Publish(ctx, ingest.Image{ID: "big", Data: data}); err != nil {
		t.Fatal(err)
	}
	got := out.until(t, ctx, has("big"))
	checkOutput(t, got["big"], "big", model(t).Version(), image2{1500, 1500})
	waitCommitted(t, ctx, e.cfg, "denoisers", e.cfg.Topics().Noisy)
}
