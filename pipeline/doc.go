// Package pipeline is cleanframe's Kafka plumbing: records and their headers,
// a producer and a consumer-group reader on segmentio/kafka-go behind small
// interfaces, topic names and creation, chunked model records on the
// compacted models topic, and an embedded Kafka-protocol broker for local
// runs and tests.
//
// # Sizes
//
// Images make records far larger than Kafka's usual payloads. One setting,
// [Config.MaxMessageBytes], sizes every layer together: the producer's batch
// limit (batch.size / max.request.size), each topic's max.message.bytes set
// when [EnsureTopics] creates it, and the consumer's fetch limit
// (fetch.max.bytes / max.partition.fetch.bytes). A record that does not fit
// fails at the producer with [ErrRecordTooLarge], never silently.
//
// # Delivery
//
// Producers wait for all in-sync replicas (acks=all). The consumer never
// commits by itself: callers commit a record only after its outputs are
// acknowledged, which gives at-least-once delivery. kafka-go has no
// idempotent producer, so a retried produce may write a record twice; every
// record is keyed by its image id, so consumers drop duplicates by key.
//
// The package logs nothing unless handed a [*slog.Logger].
package pipeline
