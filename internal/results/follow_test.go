package results

import (
	"context"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// TestFollow starts a follower before its topics exist, then checks that
// it becomes ready once they do, and that inputs become pending and
// outputs results.
func TestFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := &pipeline.Config{Brokers: b.Brokers(), TopicPrefix: "f", Partitions: 2}
	s := NewStore(StoreConfig{})
	f := Follow(ctx, cfg, s, FollowConfig{})
	defer f.Close()
	if f.Ready() == nil {
		t.Error("ready before the topics exist")
	}

	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	in := &pipeline.Record{Topic: cfg.Topics().Noisy, Key: []byte("a"), Value: []byte("x")}
	out := &pipeline.Record{Topic: cfg.Topics().Denoised, Key: []byte("b"),
		Value: []byte("png")}
	out.SetHeader(pipeline.HeaderModelVersion, "v1")
	if err := prod.Produce(ctx, in, out); err != nil {
		t.Fatal(err)
	}

	for ctx.Err() == nil {
		_, sa := s.Get("a")
		r, sb := s.Get("b")
		if sa == Pending && sb == Ready {
			if string(r.Data) != "png" || r.ModelVersion != "v1" ||
				r.ContentType != "image/png" {
				t.Errorf("result %+v, want png from v1", r)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("input and output not followed within a minute")
}
