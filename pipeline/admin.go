package pipeline

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Ping checks that cfg's brokers answer a metadata request.
func Ping(ctx context.Context, cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	md, err := cfg.admin().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("reach Kafka at %v: %w", cfg.Brokers, err)
	}
	if len(md.Brokers) == 0 {
		return fmt.Errorf("reach Kafka at %v: no brokers in metadata", cfg.Brokers)
	}
	return nil
}

// GroupState describes a consumer group: its state (Stable, PreparingRebalance,
// Empty, ...) and the partitions of topic assigned to each member.
type GroupState struct {
	State    string
	Assigned map[string][]int // member id to partitions
}

// DescribeGroup returns the state of group and its assignment of topic.
func DescribeGroup(ctx context.Context, cfg *Config, group, topic string) (GroupState, error) {
	resp, err := cfg.admin().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{
		GroupIDs: []string{group},
	})
	if err != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return GroupState{}, fmt.Errorf("describe group %s: %d groups in answer", group,
			len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.Error != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", group, g.Error)
	}
	gs := GroupState{State: g.GroupState, Assigned: make(map[string][]int)}
	for _, m := range g.Members {
		var parts []int
		for _, t := range m.MemberAssignments.Topics {
			if t.Topic == topic {
				parts = append(parts, t.Partitions...)
			}
		}
		gs.Assigned[m.MemberID] = parts
	}
	return gs, nil
}
