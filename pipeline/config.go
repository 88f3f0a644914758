package pipeline

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Defaults of [Config]. A zero field means its default.
const (
	// DefaultMaxMessageBytes is the default of Config.MaxMessageBytes: 8 MiB.
	DefaultMaxMessageBytes = 8 << 20
	// DefaultPartitions is the default partition count of the image topics.
	DefaultPartitions = 4
	// DefaultReplicationFactor is the default replication factor of created
	// topics: 1, right for a single local broker; use 3 in production.
	DefaultReplicationFactor = 1
	// recordHeadroom is what MaxValueBytes leaves of MaxMessageBytes for the
	// key, the headers and the record batch framing.
	recordHeadroom = 64 << 10
)

// Config says how to reach Kafka and how to size and name topics. Its zero
// value is usable except for Brokers; [Config.Validate] reports problems.
type Config struct {
	// Brokers are the bootstrap host:port addresses (bootstrap.servers).
	// Flag --brokers, environment KAFKA_BROKERS, comma separated.
	Brokers []string

	// TopicPrefix is prepended, with a dot, to every topic name so that
	// several pipelines can share a cluster. Default none. Flag
	// --topic-prefix, environment CF_TOPIC_PREFIX.
	TopicPrefix string

	// Partitions is the partition count of the image topics that
	// EnsureTopics creates: the ceiling on denoiser parallelism (num.partitions).
	// Default 4. The models topic always has one partition. Flag
	// --partitions, environment CF_PARTITIONS.
	Partitions int

	// ReplicationFactor of created topics (replication.factor). Default 1.
	// Flag --replication-factor, environment CF_REPLICATION_FACTOR.
	ReplicationFactor int

	// MaxMessageBytes is the largest record batch any layer accepts, in
	// bytes. It sets the topics' max.message.bytes, the producer's batch
	// limit (max.request.size) and the consumer's fetch limit
	// (fetch.max.bytes, max.partition.fetch.bytes) together. Default 8 MiB.
	// Flag --max-message-bytes, environment CF_MAX_MESSAGE_BYTES.
	MaxMessageBytes int

	// ClientID names this process to the brokers (client.id). Default
	// "cleanframe".
	ClientID string

	// TLS, when set, encrypts connections to the brokers
	// (security.protocol=SSL or SASL_SSL).
	TLS *tls.Config

	// SASL, when set, authenticates to the brokers (sasl.mechanism).
	SASL sasl.Mechanism

	// Security is the SASL and TLS settings of flags and environment;
	// the first Validate builds TLS and SASL from it when both are nil.
	// Call Validate before sharing the Config between goroutines.
	Security Security

	// Logger receives the package's logs and kafka-go's. Default: none.
	Logger *slog.Logger

	envErr error // a bad environment value seen by RegisterFlags
}

// RegisterFlags defines the flags of c on fs, taking their defaults from the
// environment variables named in the field docs. A bad environment value is
// reported by Validate.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		c.Brokers = splitList(v)
	}
	fs.Func("brokers", "Kafka bootstrap `host:port` list, comma separated (env KAFKA_BROKERS)",
		func(s string) error { c.Brokers = splitList(s); return nil })

	c.TopicPrefix = envOr("CF_TOPIC_PREFIX", c.TopicPrefix)
	fs.StringVar(&c.TopicPrefix, "topic-prefix", c.TopicPrefix,
		"`prefix` for every topic name (env CF_TOPIC_PREFIX)")

	c.Partitions = c.envInt("CF_PARTITIONS", c.Partitions)
	fs.IntVar(&c.Partitions, "partitions", c.Partitions,
		"partitions of created image topics; 0 means 4 (env CF_PARTITIONS)")

	c.ReplicationFactor = c.envInt("CF_REPLICATION_FACTOR", c.ReplicationFactor)
	fs.IntVar(&c.ReplicationFactor, "replication-factor", c.ReplicationFactor,
		"replication factor of created topics; 0 means 1 (env CF_REPLICATION_FACTOR)")

	c.MaxMessageBytes = c.envInt("CF_MAX_MESSAGE_BYTES", c.MaxMessageBytes)
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes,
		"largest record `bytes` for producer, topics and consumer; 0 means 8 MiB "+
			"(env CF_MAX_MESSAGE_BYTES)")

	c.Security.registerFlags(fs, c)
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.envErr != nil {
		return c.envErr
	}
	if len(c.Brokers) == 0 {
		return errors.New("no Kafka brokers: set --brokers or KAFKA_BROKERS to host:port")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("broker %q: want host:port: %w", b, err)
		}
	}
	if err := checkTopicName(c.TopicPrefix + ".images.denoised"); err != nil {
		return fmt.Errorf("topic prefix %q: %w", c.TopicPrefix, err)
	}
	if c.Partitions < 0 || c.Partitions > 10000 {
		return fmt.Errorf("partitions %d: want 1 to 10000, or 0 for the default", c.Partitions)
	}
	if c.ReplicationFactor < 0 || c.ReplicationFactor > 32 {
		return fmt.Errorf("replication factor %d: want 1 to 32, or 0 for the default",
			c.ReplicationFactor)
	}
	const lo, hi = 1 << 20, 1 << 30
	if c.MaxMessageBytes != 0 && (c.MaxMessageBytes < lo || c.MaxMessageBytes > hi) {
		return fmt.Errorf("max message bytes %d: want %d to %d, or 0 for 8 MiB",
			c.MaxMessageBytes, lo, hi)
	}
	return c.applySecurity()
}

// MaxBytes returns MaxMessageBytes or its default.
func (c *Config) MaxBytes() int {
	if c.MaxMessageBytes == 0 {
		return DefaultMaxMessageBytes
	}
	return c.MaxMessageBytes
}

// MaxValueBytes is the largest record value that fits under MaxBytes with
// room left for a key, headers and framing: 64 KiB less than MaxBytes.
// Ingest refuses larger images and the denoiser dead-letters larger outputs.
func (c *Config) MaxValueBytes() int {
	return c.MaxBytes() - recordHeadroom
}

// Topics returns the topic names under c's prefix.
func (c *Config) Topics() Topics {
	return TopicsFor(c.TopicPrefix)
}

func (c *Config) partitions() int {
	if c.Partitions == 0 {
		return DefaultPartitions
	}
	return c.Partitions
}

func (c *Config) replicationFactor() int {
	if c.ReplicationFactor == 0 {
		return DefaultReplicationFactor
	}
	return c.ReplicationFactor
}

func (c *Config) clientID() string {
	if c.ClientID == "" {
		return "cleanframe"
	}
	return c.ClientID
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// transport is the kafka-go transport of producers and admin clients.
func (c *Config) transport() *kafka.Transport {
	return &kafka.Transport{
		ClientID:    c.clientID(),
		DialTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// dialer is the kafka-go dialer of consumers.
func (c *Config) dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.clientID(),
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

func (c *Config) admin() *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(c.Brokers...),
		Timeout:   15 * time.Second,
		Transport: c.transport(),
	}
}

// kafkaLogger bridges kafka-go's loggers to slog: chatter at Debug, errors
// at Warn since kafka-go retries them.
func (c *Config) kafkaLogger(level slog.Level) kafka.Logger {
	l := c.logger()
	return kafka.LoggerFunc(func(format string, args ...any) {
		l.Log(nil, level, "kafka-go: "+fmt.Sprintf(format, args...))
	})
}

func (c *Config) envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		c.envErr = errors.Join(c.envErr, fmt.Errorf("environment %s=%q: want an integer", name, v))
		return def
	}
	return n
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
