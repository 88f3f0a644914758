// Package integration holds cleanframe's end-to-end suite: ingest, the
// denoiser and the model topic running against a Kafka broker over TCP on
// 127.0.0.1. The same suite runs against the embedded broker always and
// against a real Apache Kafka when KAFKA_BROKERS is set; in CI (CI set)
// a missing or unreachable real broker fails the suite instead of
// skipping it. Every run uses its own topic prefix, and every test its own
// context deadline.
package integration
