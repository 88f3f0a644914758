package replay

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/evaluate"
	"github.com/cleanframe/cleanframe/pipeline"
)

// publish writes n noisy records (sigma 20, the header on even ids only),
// one undecodable record, and the n clean images on the clean topic.
func publish(t *testing.T, ctx context.Context, cfg *pipeline.Config, n int) {
	t.Helper()
	p, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var noisy, clean []*pipeline.Record
	for i := range n {
		id := fmt.Sprintf("img%d", i)
		img := testImage(32, 28, i, false)
		planes := ae.ImagePlanes(img)
		evaluate.AddNoise(planes, 20, evaluate.NoiseRand(1, i))
		noisyImg, _ := ae.PlanesImage(planes, nil) // rounds and clamps
		rec := &pipeline.Record{Topic: cfg.Topics().Noisy, Key: []byte(id), Value: pngBytes(t,
			noisyImg)}
		rec.SetHeader(pipeline.HeaderID, id)
		if i%2 == 0 {
			rec.SetHeader(pipeline.HeaderNoiseSigma, "20")
		}
		noisy = append(noisy, rec)
		clean = append(clean, &pipeline.Record{Topic: cfg.Topics().Clean, Key: []byte(id),
			Value: pngBytes(t, img)})
	}
	noisy = append(noisy, &pipeline.Record{Topic: cfg.Topics().Noisy, Key: []byte("junk"),
		Value: []byte("not an image")})
	if err := p.Produce(ctx, append(noisy, clean...)...); err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// groups lists the consumer groups the broker knows.
func listGroups(t *testing.T, ctx context.Context, cfg *pipeline.Config) []string {
	t.Helper()
	resp, err := adminClient(cfg).ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil || resp.Error != nil {
		t.Fatalf("list groups: %v %v", err, resp.Error)
	}
	var ids []string
	for _, g := range resp.Groups {
		ids = append(ids, g.GroupID)
	}
	slices.Sort(ids)
	return ids
}

// A replay over an offset range of every partition, joined to a clean
// topic, reads what it should, writes its reconstructions, and leaves the
// production group's offsets alone and creates no group of its own.
func TestKafkaReplayLeavesGroupsAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "t", Partitions: 2}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	const n = 8
	publish(t, ctx, cfg, n)
	topic := cfg.Topics().Noisy

	// The production group consumes and commits a few records.
	c, err := pipeline.NewGroupConsumer(cfg, "prod", topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec, err := c.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Commit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	committed, err := pipeline.CommittedOffsets(ctx, cfg, "prod", topic)
	if err != nil {
		t.Fatal(err)
	}
	groupsBefore := listGroups(t, ctx, cfg)

	// Replay every partition from offset 1: the first record of each is
	// left out.
	ranges, err := ResolveRanges(ctx, cfg, topic, Selection{Partition: -1, From: 1})
	if err != nil {
		t.Fatal(err)
	}
	ends, _ := pipeline.EndOffsets(ctx, cfg, topic)
	var want int
	for _, r := range ranges {
		if r.Start != 1 || r.End != ends[r.Partition] {
			t.Errorf("range %+v, end offset %d", r, ends[r.Partition])
		}
		want += int(r.End - r.Start)
	}
	if len(ranges) != 2 || want != n+1-2 {
		t.Fatalf("ranges %+v: %d records, want %d", ranges, want, n+1-2)
	}
	ref, err := NewTopicReference(ctx, cfg, cfg.Topics().Clean)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	out, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	items := NewKafkaItems(cfg, topic, ranges)
	items.Idle = 3 * time.Second
	defer items.Close()
	res, err := Run(ctx, items, Config{Models: twoModels(t), Reference: ref, Output: out,
		OutputTopic: cfg.Topics().Denoised}, SourceInfo{Kind: "kafka", Topic: topic,
		Ranges: ranges})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report

	// What was read: every record in range, the junk one as a failure.
	if r.Images+r.Failed != want || r.Source.Reference != "topic:t.images.clean" {
		t.Fatalf("images %d + failed %d, want %d; reference %q", r.Images, r.Failed, want,
			r.Source.Reference)
	}
	for _, im := range r.PerImage {
		if *im.Offset < 1 || math.IsNaN(float64(im.Models[0].PSNR)) || im.Noisy == nil {
			t.Errorf("image %+v", im)
		}
		i, _ := strconv.Atoi(im.ID[3:])
		if (im.Sigma != nil) != (i%2 == 0) {
			t.Errorf("%s: sigma %v, want known for even ids only", im.ID, im.Sigma)
		}
		if im.Models[0].PSNR < im.Noisy.PSNR+1 {
			t.Errorf("%s: default %.2f dB vs noisy %.2f dB", im.ID, im.Models[0].PSNR,
				im.Noisy.PSNR)
		}
	}
	if g := r.BySigma; len(g) != 2 || *g[0].Sigma != 20 || g[1].Sigma != nil {
		t.Errorf("groups %+v: want sigma 20 and unknown", g)
	}
	if len(res.Crops) != 3 {
		t.Errorf("%d crop sets, want 3", len(res.Crops))
	}

	// The reference reads any id in any order: backwards means seeking.
	for i := n - 1; i >= 0; i-- {
		img, err := ref.Clean(ctx, fmt.Sprintf("img%d", i))
		if err != nil || img.Bounds().Dx() != 32 {
			t.Fatalf("reference img%d: %v", i, err)
		}
	}
	if _, err := ref.Clean(ctx, "junk"); err == nil {
		t.Error("no error for an id without a reference")
	}

	// Reconstructions: one per image and model, tagged with the version.
	outEnds, err := pipeline.EndOffsets(ctx, cfg, cfg.Topics().Denoised)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for _, o := range outEnds {
		written += o
	}
	if written != int64(2*r.Images) {
		t.Errorf("%d reconstructions written, want %d", written, 2*r.Images)
	}

	// No group moved, none created.
	after, err := pipeline.CommittedOffsets(ctx, cfg, "prod", topic)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(committed, after) {
		t.Errorf("group offsets moved: %v, then %v", committed, after)
	}
	if g := listGroups(t, ctx, cfg); !slices.Equal(g, groupsBefore) || !slices.Equal(g,
		[]string{"prod"}) {
		t.Errorf("groups %v after the replay, %v before; want [prod]", g, groupsBefore)
	}

	// A registry version comes back by version or name/version.
	id := identityModel(t)
	data, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	if _, err := mp.PublishModel(ctx, "identity", "identity-1", data); err != nil {
		t.Fatal(err)
	}
	reg, err := RegistryModels(ctx, cfg, []string{"identity/identity-1", "identity-1"},
		20*time.Second)
	if err != nil || len(reg) != 2 || reg[0].Source != "registry:identity/identity-1" ||
		reg[1].Model.Version() != "identity-1" {
		t.Errorf("registry models %+v, %v", reg, err)
	}
	if _, err := RegistryModels(ctx, cfg, []string{"nope"}, time.Second); err == nil {
		t.Error("a missing registry version gave no error")
	}

	// Time ranges: nothing after an hour from now or before the records.
	for _, sel := range []Selection{
		{Partition: -1, Since: time.Now().Add(time.Hour)},
		{Partition: 1, Until: before.Add(-time.Minute)},
	} {
		rs, err := ResolveRanges(ctx, cfg, topic, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.End != r.Start {
				t.Errorf("selection %+v gave range %+v, want empty", sel, r)
			}
		}
	}
	rs, err := ResolveRanges(ctx, cfg, topic, Selection{Partition: 1, Since: before,
		To: 2})
	if err != nil || len(rs) != 1 || rs[0] != (Range{Partition: 1, Start: 0,
		End: min(2, ends[1])}) {
		t.Errorf("partition 1 since the start, to offset 2: %+v, %v", rs, err)
	}
}
