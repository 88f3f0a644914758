package pipeline

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record. Producers read Topic, Key, Value and Headers
// and, once the broker acknowledges it, fill in Partition and Offset.
// Consumers fill in every field.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

// Header returns the value of the first header named key and whether it
// was present.
func (r *Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// HeaderString returns the first header named key as a string, or "" if it
// is absent.
func (r *Record) HeaderString(key string) string {
	v, _ := r.Header(key)
	return string(v)
}

// SetHeader replaces every header named key with one holding value.
func (r *Record) SetHeader(key, value string) {
	hs := r.Headers[:0:0]
	for _, h := range r.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	r.Headers = append(hs, Header{Key: key, Value: []byte(value)})
}

func toMessage(r *Record) kafka.Message {
	m := kafka.Message{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Time:      r.Time,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

func fromMessage(m kafka.Message) Record {
	r := Record{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Time:      m.Time,
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}
