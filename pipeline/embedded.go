package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka-protocol broker (franz-go's kfake) on
// 127.0.0.1, for the local demo and tests.
type Embedded struct {
	c *kfake.Cluster
}

// EmbeddedConfig sets up an embedded broker. The zero value is usable.
type EmbeddedConfig struct {
	// MaxMessageBytes is the broker's message.max.bytes. Default 8 MiB.
	MaxMessageBytes int
	// Port to listen on, on 127.0.0.1. Default: a free port.
	Port int
	// DataDir, when set, keeps the broker's state on disk there, so that a
	// broker started again on the same folder (and port) carries on where
	// the last one stopped. Default: memory only.
	DataDir string
}

// StartEmbedded starts a one-broker cluster on a free port of 127.0.0.1,
// in memory, accepting records up to maxMessageBytes (0 means the default
// 8 MiB). It runs until Close or until ctx ends.
func StartEmbedded(ctx context.Context, maxMessageBytes int) (*Embedded, error) {
	return StartEmbeddedWith(ctx, EmbeddedConfig{MaxMessageBytes: maxMessageBytes})
}

// StartEmbeddedWith starts a one-broker cluster as cfg says. It runs until
// Close or until ctx ends.
func StartEmbeddedWith(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("cleanframe-embedded"),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": fmt.Sprint(cfg.MaxMessageBytes),
		}),
	}
	if cfg.Port != 0 {
		opts = append(opts, kfake.Ports(cfg.Port))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
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

// Close stops the broker, saving its state first if it has a DataDir; it
// is safe to call more than once.
func (e *Embedded) Close() {
	e.c.Close()
}
