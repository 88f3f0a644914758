package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka-protocol broker (franz-go's kfake) on
// 127.0.0.1, for the local demo and tests. It keeps everything in memory.
type Embedded struct {
	c *kfake.Cluster
}

// StartEmbedded starts a one-broker cluster on a free port of 127.0.0.1 and
// accepts records up to maxMessageBytes (0 means the default 8 MiB). It runs
// until Close or until ctx ends.
func StartEmbedded(ctx context.Context, maxMessageBytes int) (*Embedded, error) {
	if maxMessageBytes == 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ClusterID("cleanframe-embedded"),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": fmt.Sprint(maxMessageBytes),
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	e := &Embedded{c: c}
	context.AfterFunc(ctx, e.Close)
	return e, nil
}

// Brokers returns the host:port addresses to put in [Config.Brokers].
func (e *Embedded) Brokers() []string {
	return e.c.ListenAddrs()
}

// Close stops the broker; it is safe to call more than once.
func (e *Embedded) Close() {
	e.c.Close()
}
