package replay

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Selection picks what to replay of a topic. Its zero value is not
// usable: set Partition to -1 for every partition. Offsets and times
// combine (the intersection); a bound left at its zero value is open.
type Selection struct {
	Partition int   // -1: all partitions
	From      int64 // first offset, inclusive; 0: the partition's start
	To        int64 // last offset, exclusive; 0: the end (high watermark)
	Since     time.Time
	Until     time.Time // exclusive
}

// ResolveRanges turns sel into one offset range per partition of topic,
// sorted by partition, asking the brokers for the first and end offsets
// and for the first offset at or after Since and Until (ListOffsets by
// timestamp). It reads no records and touches no consumer group.
func ResolveRanges(ctx context.Context, cfg *pipeline.Config, topic string,
	sel Selection) ([]Range, error) {
	ends, err := pipeline.EndOffsets(ctx, cfg, topic)
	if err != nil {
		return nil, err
	}
	var parts []int
	for p := range ends {
		if sel.Partition < 0 || p == sel.Partition {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("replay: topic %s has no partition %d", topic, sel.Partition)
	}
	slices.Sort(parts)

	c := adminClient(cfg)
	var out []Range
	for _, p := range parts {
		first, err := offsetAt(ctx, c, topic, kafka.FirstOffsetOf(p), ends[p])
		if err != nil {
			return nil, err
		}
		r := Range{Partition: p, Start: max(first, sel.From), End: ends[p]}
		if sel.To > 0 {
			r.End = min(r.End, sel.To)
		}
		if !sel.Since.IsZero() {
			o, err := offsetAt(ctx, c, topic, kafka.TimeOffsetOf(p, sel.Since), ends[p])
			if err != nil {
				return nil, err
			}
			r.Start = max(r.Start, o)
		}
		if !sel.Until.IsZero() {
			o, err := offsetAt(ctx, c, topic, kafka.TimeOffsetOf(p, sel.Until), ends[p])
			if err != nil {
				return nil, err
			}
			r.End = min(r.End, o)
		}
		r.End = max(r.End, r.Start)
		out = append(out, r)
	}
	return out, nil
}

// adminClient is a kafka-go client with cfg's brokers, TLS and SASL.
func adminClient(cfg *pipeline.Config) *kafka.Client {
	id := cfg.ClientID
	if id == "" {
		id = "cleanframe"
	}
	return &kafka.Client{
		Addr:    kafka.TCP(cfg.Brokers...),
		Timeout: 15 * time.Second,
		Transport: &kafka.Transport{ClientID: id, DialTimeout: 5 * time.Second,
			TLS: cfg.TLS, SASL: cfg.SASL},
	}
}

// offsetAt asks for one offset; a time after the last record gives end.
func offsetAt(ctx context.Context, c *kafka.Client, topic string, req kafka.OffsetRequest,
	end int64) (int64, error) {
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {req}},
	})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s/%d: %w", topic, req.Partition, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition != req.Partition {
			continue
		}
		if po.Error != nil {
			return 0, fmt.Errorf("list offsets of %s/%d: %w", topic, req.Partition, po.Error)
		}
		if req.Timestamp == kafka.FirstOffset {
			return po.FirstOffset, nil
		}
		for o := range po.Offsets {
			if o >= 0 {
				return o, nil
			}
		}
		return end, nil
	}
	return 0, fmt.Errorf("list offsets of %s/%d: no answer", topic, req.Partition)
}
