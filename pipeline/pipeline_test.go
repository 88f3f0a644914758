package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// embedded starts a broker for one test and returns a config pointing at it.
func embedded(t *testing.T, ctx context.Context) *Config {
	t.Helper()
	e, err := StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return &Config{Brokers: e.Brokers(), TopicPrefix: "t", Partitions: 3}
}

func TestProduceConsumeCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := embedded(t, ctx)
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	topic := cfg.Topics().Noisy

	p, err := NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 10
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = &Record{Topic: topic, Key: fmt.Appendf(nil, "id-%d", i),
			Value: []byte("v"), Headers: []Header{{HeaderID, fmt.Appendf(nil, "id-%d", i)}}}
	}
	if err := p.Produce(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]bool{}
	for _, r := range recs {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
	}
	if len(seen) != n {
		t.Fatalf("produced positions %v, want %d distinct", seen, n)
	}

	c, err := NewGroupConsumer(cfg, "g1", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := map[string]bool{}
	for len(got) < n {
		r, err := c.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.HeaderString(HeaderID) != string(r.Key) {
			t.Errorf("header %s = %q, want key %q", HeaderID, r.HeaderString(HeaderID), r.Key)
		}
		got[string(r.Key)] = true
		if err := c.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	end, err := EndOffsets(ctx, cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := CommittedOffsets(ctx, cfg, "g1", topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range committed {
		if o == -1 && end[p] == 0 {
			committed[p] = 0 // nothing to commit on an empty partition
		}
	}
	if fmt.Sprint(committed) != fmt.Sprint(end) {
		t.Errorf("committed %v, want end offsets %v", committed, end)
	}
}

func TestTopicConfigsOnBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := embedded(t, ctx)
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, topic := range cfg.Topics().All() {
		got, err := DescribeTopicConfigs(ctx, cfg, topic, "cleanup.policy", "max.message.bytes")
		if err != nil {
			t.Fatal(err)
		}
		want := "delete"
		if topic == cfg.Topics().Models {
			want = "compact"
		}
		if got["cleanup.policy"] != want || got["max.message.bytes"] != "8388608" {
			t.Errorf("topic %s configs = %v, want cleanup.policy=%s max.message.bytes=8388608",
				topic, got, want)
		}
	}
}

func TestProduceTooLarge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := embedded(t, ctx)
	cfg.MaxMessageBytes = 1 << 20
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	big := &Record{Topic: cfg.Topics().Noisy, Key: []byte("big"), Value: make([]byte, 2<<20)}
	if err := p.Produce(ctx, big); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("Produce(2 MiB) with a 1 MiB limit = %v, want ErrRecordTooLarge", err)
	}
	fits := &Record{Topic: cfg.Topics().Noisy, Key: []byte("fits"),
		Value: make([]byte, cfg.MaxValueBytes())}
	if err := p.Produce(ctx, fits); err != nil {
		t.Errorf("Produce(MaxValueBytes) = %v, want success", err)
	}
}

// TestEnsureTopicsWarnsOnOtherSettings creates the models topic without
// compaction, as someone else might have, and expects EnsureTopics to leave
// it but warn.
func TestEnsureTopicsWarnsOnOtherSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := embedded(t, ctx)
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := cfg.admin().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topics().Models, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	want := "topic=t.models config=cleanup.policy value=delete want=compact"
	if !strings.Contains(logs.String(), want) {
		t.Errorf("logs %q lack %q", logs.String(), want)
	}
	if strings.Count(logs.String(), "level=WARN") != 2 {
		t.Errorf("logs %q: want two warnings (policy and size) for the models topic only",
			logs.String())
	}
}
