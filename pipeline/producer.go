package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrRecordTooLarge is returned, wrapped, for a record larger than the
// configured MaxMessageBytes (or than the broker accepts). Retrying does not
// help; callers reject the input instead.
var ErrRecordTooLarge = errors.New("record too large")

// Producer writes records to Kafka.
//
// Produce blocks until every record is acknowledged by all in-sync replicas
// or has failed, then fills in each record's Partition and Offset. It
// returns an error if any record failed; the others may have been written.
// Implementations are safe for concurrent use; concurrent calls share
// batches. Close waits for in-flight produces and releases connections.
type Producer interface {
	Produce(ctx context.Context, recs ...*Record) error
	Close() error
}

// KafkaProducer is a [Producer] on a kafka-go Writer.
type KafkaProducer struct {
	w *kafka.Writer
}

var _ Producer = (*KafkaProducer)(nil)

// NewProducer returns a producer for cfg's brokers. Settings, with the
// Kafka producer property each stands for:
//
//   - acks=all: wait for every in-sync replica;
//   - linger.ms=5: a batch waits at most 5 ms for more records;
//   - batch.size=100 records, max.request.size=MaxBytes less framing room;
//   - retries: 10 attempts, backoff 100 ms to 2 s, on retriable errors only;
//   - partitioner: murmur2 of the key, as the Java client's default, so
//     that every client puts an image id on the same partition;
//   - compression.type=none: images are compressed already.
//
// kafka-go has no idempotent producer (enable.idempotence), so a retry after
// a lost acknowledgement can duplicate a record; records are keyed by id
// so that consumers drop duplicates.
func NewProducer(cfg *Config) (*KafkaProducer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newProducer(cfg, &kafka.Murmur2Balancer{Consistent: true}), nil
}

func newProducer(cfg *Config, b kafka.Balancer) *KafkaProducer {
	w := &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Balancer:        b,
		MaxAttempts:     10,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
		BatchSize:       100,
		BatchBytes:      int64(cfg.MaxBytes() - recordHeadroom/2),
		BatchTimeout:    5 * time.Millisecond,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    30 * time.Second,
		RequiredAcks:    kafka.RequireAll,
		Transport:       cfg.transport(),
		Logger:          cfg.kafkaLogger(slog.LevelDebug),
		ErrorLogger:     cfg.kafkaLogger(slog.LevelWarn),
		Completion:      complete,
	}
	return &KafkaProducer{w: w}
}

// complete copies the broker's partition and offset back into the records
// that Produce passed in through WriterData.
func complete(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	for _, m := range msgs {
		if r, ok := m.WriterData.(*Record); ok {
			r.Partition = m.Partition
			r.Offset = m.Offset
		}
	}
}

// Produce implements [Producer].
func (p *KafkaProducer) Produce(ctx context.Context, recs ...*Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = toMessage(r)
		msgs[i].Partition = 0
		msgs[i].Offset = 0
		msgs[i].WriterData = r
	}
	err := p.w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}

	if isTooLarge(err) {
		return fmt.Errorf("produce to %s: %w (limit %d bytes): %w",
			recs[0].Topic, ErrRecordTooLarge, p.w.BatchBytes, err)
	}
	return fmt.Errorf("produce %d records to %s: %w", len(recs), recs[0].Topic, err)
}

// Close implements [Producer].
func (p *KafkaProducer) Close() error {
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("close producer: %w", err)
	}
	return nil
}

// isTooLarge reports whether err says a record exceeded a size limit, at
// the producer or at the broker.
func isTooLarge(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge) ||
		errors.Is(err, kafka.RecordListTooLarge) {
		return true
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && isTooLarge(e) {
				return true
			}
		}
	}
	return false
}
