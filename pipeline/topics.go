package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topics holds the names of cleanframe's topics.
type Topics struct {
	Noisy      string // images to clean, keyed by image id
	Denoised   string // cleaned images (PNG), keyed by the same id
	Clean      string // clean training samples, keyed by sample id
	Models     string // model records, compacted, one partition
	Deadletter string // rejected records with their reason
}

// TopicsFor returns the topic names under prefix; an empty prefix gives the
// plain names of DESIGN.md, and "run7" gives "run7.images.noisy" and so on.
func TopicsFor(prefix string) Topics {
	p := prefix
	if p != "" {
		p += "."
	}
	return Topics{
		Noisy:      p + "images.noisy",
		Denoised:   p + "images.denoised",
		Clean:      p + "images.clean",
		Models:     p + "models",
		Deadletter: p + "deadletter",
	}
}

// All returns every topic name.
func (t Topics) All() []string {
	return []string{t.Noisy, t.Denoised, t.Clean, t.Models, t.Deadletter}
}

// TopicConfigs returns the topic configs EnsureTopics sets on topic: every
// topic gets max.message.bytes from cfg, the models topic also
// cleanup.policy=compact.
func TopicConfigs(cfg *Config, topic string) map[string]string {
	m := map[string]string{"max.message.bytes": strconv.Itoa(cfg.MaxBytes())}
	if topic == cfg.Topics().Models {
		m["cleanup.policy"] = "compact"
	}
	return m
}

// EnsureTopics creates cfg's topics with their configs and partition counts;
// a topic that exists already is left as it is. The models topic has one
// partition so that a model's chunks and its manifest stay in order. It
// returns once every partition of every topic has a leader that answers,
// which on a real broker comes a moment after creation. A topic that
// existed with other settings than ours is logged at Warn with what to
// change (a models topic that is not compacted loses models to retention;
// a smaller max.message.bytes refuses large images).
func EnsureTopics(ctx context.Context, cfg *Config) error {
	if err := createTopics(ctx, cfg); err != nil {
		return err
	}
	if err := waitTopics(ctx, cfg, cfg.Topics().All()); err != nil {
		return err
	}
	warnTopicConfigs(ctx, cfg)
	return nil
}

// warnTopicConfigs logs every topic config that differs from TopicConfigs.
func warnTopicConfigs(ctx context.Context, cfg *Config) {
	log := cfg.logger()
	for _, topic := range cfg.Topics().All() {
		want := TopicConfigs(cfg, topic)
		names := make([]string, 0, len(want))
		for k := range want {
			names = append(names, k)
		}
		got, err := DescribeTopicConfigs(ctx, cfg, topic, names...)
		if err != nil {
			log.Warn("cannot check topic settings", "topic", topic, "err", err)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				log.Warn("topic setting differs from cleanframe's; change it with "+
					"kafka-configs --alter", "topic", topic, "config", k, "value", got[k],
					"want", v)
			}
		}
	}
}

func createTopics(ctx context.Context, cfg *Config) error {
	ts := cfg.Topics()
	req := &kafka.CreateTopicsRequest{}
	for _, name := range ts.All() {
		tc := kafka.TopicConfig{
			Topic:             name,
			NumPartitions:     cfg.partitions(),
			ReplicationFactor: cfg.replicationFactor(),
		}
		if name == ts.Models {
			tc.NumPartitions = 1
		}
		for k, v := range TopicConfigs(cfg, name) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{
				ConfigName: k, ConfigValue: v,
			})
		}
		req.Topics = append(req.Topics, tc)
	}

	resp, err := cfg.admin().CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics on %v: %w", cfg.Brokers, err)
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// waitTopics waits until every partition of topics answers a list-offsets
// request, trying for at most 30 s.
func waitTopics(ctx context.Context, cfg *Config, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		for {
			_, err := EndOffsets(ctx, cfg, topic)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("wait for topic %s to be ready: %w", topic, err)
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}
	return nil
}

// DescribeTopicConfigs returns the named configs of topic as the broker
// reports them.
func DescribeTopicConfigs(ctx context.Context, cfg *Config, topic string,
	names ...string) (map[string]string, error) {
	resp, err := cfg.admin().DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			ConfigNames:  names,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("describe configs of topic %s: %w", topic, err)
	}
	out := make(map[string]string)
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe configs of topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out, nil
}

// checkTopicName applies Kafka's rule for topic names.
func checkTopicName(name string) error {
	if len(name) == 0 || len(name) > 249 {
		return fmt.Errorf("topic name %q: want 1 to 249 characters", name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("topic name %q: only letters, digits, '.', '_', '-'", name)
		}
	}
	return nil
}

// EnsureTopicsRetry is EnsureTopics for services: while the brokers cannot
// be reached it logs the failure and tries again every retry, until it
// succeeds or ctx ends, so that a service started before its brokers waits
// for them (its /readyz says not ready meanwhile) instead of exiting.
func EnsureTopicsRetry(ctx context.Context, cfg *Config, retry time.Duration) error {
	for {
		err := EnsureTopics(ctx, cfg)
		if err == nil || ctx.Err() != nil {
			return err
		}
		cfg.logger().Warn("topics not ready; is a broker listening there? retrying",
			"brokers", strings.Join(cfg.Brokers, ","), "retry_in", retry, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
