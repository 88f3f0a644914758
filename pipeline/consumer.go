package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumer reads records as a member of a consumer group and commits only
// when told to.
//
// Fetch blocks until a record is available or ctx ends; records of one
// partition come in offset order. Commit stores, for each partition of the
// given records, the offset after the highest one, synchronously; commit a
// record only once everything it caused is acknowledged, and commit the
// records of a partition in order. Fetch and Commit may be called from
// different goroutines. Close leaves the group; records fetched but not
// committed are delivered again to whichever member owns their partition
// next.
type Consumer interface {
	Fetch(ctx context.Context) (Record, error)
	Commit(ctx context.Context, recs ...Record) error
	Close() error
}

// fetchMaxWait is kafka-go's MaxWait for every reader; see NewGroupConsumer.
const fetchMaxWait = 2 * time.Second

// GroupConsumer is a [Consumer] on a kafka-go Reader.
type GroupConsumer struct {
	r *kafka.Reader
}

var _ Consumer = (*GroupConsumer)(nil)

// NewGroupConsumer joins group to consume topic. Settings, with the Kafka
// consumer property each stands for:
//
//   - enable.auto.commit=false: commits happen only in Commit;
//   - auto.offset.reset=earliest: a new group starts at the first record;
//   - fetch.max.bytes and max.partition.fetch.bytes = MaxBytes, so that the
//     largest record the topics accept always fits one fetch;
//   - fetch.min.bytes=1: a fetch answers as soon as one record is there;
//   - fetch.max.wait.ms=1000: how long an idle fetch waits. kafka-go's
//     MaxWait is 2 s, of which it keeps 1 s as slack for the answer to
//     arrive; MaxWait under 1 s leaves it a quarter of the wait as slack,
//     which a busy machine (the denoiser keeps every core busy) overruns,
//     turning fetches into i/o timeouts and reconnects. Close waits up to
//     MaxWait for a fetch in flight;
//   - session.timeout.ms=10000, heartbeat.interval.ms=1000,
//     max.poll.interval.ms (rebalance timeout)=30000;
//   - 8 records queued ahead of the caller at most, to bound memory with
//     records of several MB.
func NewGroupConsumer(cfg *Config, group, topic string) (*GroupConsumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, errors.New("new consumer: empty group id")
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:                cfg.Brokers,
		GroupID:                group,
		Topic:                  topic,
		Dialer:                 cfg.dialer(),
		QueueCapacity:          8,
		MinBytes:               1,
		MaxBytes:               cfg.MaxBytes(),
		MaxWait:                fetchMaxWait,
		ReadLagInterval:        -1,
		HeartbeatInterval:      time.Second,
		CommitInterval:         0,
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       30 * time.Second,
		JoinGroupBackoff:       time.Second,
		StartOffset:            kafka.FirstOffset,
		ReadBackoffMin:         100 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		Logger:                 cfg.kafkaLogger(slog.LevelDebug),
		ErrorLogger:            cfg.kafkaLogger(slog.LevelWarn),
		MaxAttempts:            5,
	})
	return &GroupConsumer{r: r}, nil
}

// Fetch implements [Consumer].
func (c *GroupConsumer) Fetch(ctx context.Context) (Record, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return Record{}, fmt.Errorf("fetch from %s: %w", c.r.Config().Topic, err)
	}
	return fromMessage(m), nil
}

// Commit implements [Consumer].
func (c *GroupConsumer) Commit(ctx context.Context, recs ...Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit %d offsets on %s: %w", len(recs), c.r.Config().Topic, err)
	}
	return nil
}

// Close implements [Consumer].
func (c *GroupConsumer) Close() error {
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("close consumer of %s: %w", c.r.Config().Topic, err)
	}
	return nil
}

// PartitionReader reads one partition from a given offset without a group,
// committing nothing: for following the models topic, for replays and for
// tests.
type PartitionReader struct {
	r *kafka.Reader
}

// NewPartitionReader reads partition of topic from offset; use
// [FirstOffset] or [LastOffset] for the ends.
func NewPartitionReader(cfg *Config, topic string, partition int,
	offset int64) (*PartitionReader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         cfg.Brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          cfg.dialer(),
		QueueCapacity:   8,
		MinBytes:        1,
		MaxBytes:        cfg.MaxBytes(),
		MaxWait:         fetchMaxWait,
		ReadLagInterval: -1,
		ReadBackoffMin:  100 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		Logger:          cfg.kafkaLogger(slog.LevelDebug),
		ErrorLogger:     cfg.kafkaLogger(slog.LevelWarn),
		MaxAttempts:     5,
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, fmt.Errorf("read %s/%d from %d: %w", topic, partition, offset, err)
	}
	return &PartitionReader{r: r}, nil
}

// Offsets understood by NewPartitionReader besides real offsets.
const (
	FirstOffset = kafka.FirstOffset
	LastOffset  = kafka.LastOffset
)

// Read blocks until the next record is available or ctx ends.
func (p *PartitionReader) Read(ctx context.Context) (Record, error) {
	m, err := p.r.ReadMessage(ctx)
	if err != nil {
		cfg := p.r.Config()
		return Record{}, fmt.Errorf("read %s/%d: %w", cfg.Topic, cfg.Partition, err)
	}
	return fromMessage(m), nil
}

// Close stops reading.
func (p *PartitionReader) Close() error {
	return p.r.Close()
}

// EndOffsets returns the next offset to be written of each partition of
// topic (the high watermark), keyed by partition.
func EndOffsets(ctx context.Context, cfg *Config, topic string) (map[int]int64, error) {
	parts, err := partitionsOf(ctx, cfg, topic)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := cfg.admin().ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list end offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// CommittedOffsets returns group's committed offset of each partition of
// topic, keyed by partition; -1 means none.
func CommittedOffsets(ctx context.Context, cfg *Config, group,
	topic string) (map[int]int64, error) {
	parts, err := partitionsOf(ctx, cfg, topic)
	if err != nil {
		return nil, err
	}
	resp, err := cfg.admin().OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: parts},
	})
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, resp.Error)
	}
	out := make(map[int]int64)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.CommittedOffset
	}
	return out, nil
}

// partitionsOf lists the partition ids of topic.
func partitionsOf(ctx context.Context, cfg *Config, topic string) ([]int, error) {
	md, err := cfg.admin().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		ps := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = p.ID
		}
		return ps, nil
	}
	return nil, fmt.Errorf("metadata of %s: topic not found", topic)
}
