// Package ingest accepts images and publishes them to Kafka: the HTTP API
// (POST /v1/images) and the file source of cmd/ingest share it, and so do
// the local demo and the integration tests. An image is checked before it
// is published (its format and dimensions are read from its header, its
// size against the record limit), so a bad upload gets a clear error at the
// door instead of failing later in the pipeline.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Publisher validates images and publishes them. It is safe for concurrent
// use; it does not own its producer.
type Publisher struct {
	// Producer writes the records; required.
	Producer pipeline.Producer
	// Topics names the noisy and clean topics; required.
	Topics pipeline.Topics
	// MaxBytes is the largest image accepted, in bytes: the record value
	// limit (pipeline.Config.MaxValueBytes). Required.
	MaxBytes int
	// MaxPixels is the largest image accepted, in pixels. Default
	// imageio.DefaultMaxPixels.
	MaxPixels int64
}

// Image is one image to publish.
type Image struct {
	ID         string  // the record key; empty means a generated id
	Data       []byte  // the encoded image, published unchanged
	Source     string  // where it came from, for the cf-source header
	NoiseSigma float64 // the known noise sigma, or 0 when unknown
	Clean      bool    // publish to the clean (training) topic
	// Traceparent and Tracestate carry the W3C trace context, if any.
	Traceparent, Tracestate string
}

// Error is a rejected image: Status is the HTTP status that fits it.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Publish checks img and publishes it, returning the record with its
// partition and offset once the broker has acknowledged it. A rejected
// image gives an [*Error].
func (p *Publisher) Publish(ctx context.Context, img Image) (*pipeline.Record, error) {
	rec, err := p.record(img)
	if err != nil {
		return nil, err
	}
	if err := p.send(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// send publishes a checked record.
func (p *Publisher) send(ctx context.Context, rec *pipeline.Record) error {
	if err := p.Producer.Produce(ctx, rec); err != nil {
		if errors.Is(err, pipeline.ErrRecordTooLarge) {
			return &Error{http.StatusRequestEntityTooLarge, err}
		}
		return &Error{http.StatusServiceUnavailable,
			fmt.Errorf("publish image %s: %w; retry later", rec.Key, err)}
	}
	return nil
}

// record checks img and builds its record.
func (p *Publisher) record(img Image) (*pipeline.Record, error) {
	id := img.ID
	if id == "" {
		id = NewID()
	}
	if _, err := pipeline.ParseID([]byte(id)); err != nil {
		return nil, &Error{http.StatusBadRequest, err}
	}
	if len(img.Data) > p.MaxBytes {
		return nil, &Error{http.StatusRequestEntityTooLarge, fmt.Errorf(
			"image %s of %d bytes exceeds the record limit of %d bytes; "+
				"send a smaller or more compressed image", id, len(img.Data), p.MaxBytes)}
	}
	if _, _, err := imageio.Config(img.Data, p.MaxPixels); err != nil {
		return nil, &Error{statusOf(err), fmt.Errorf("image %s: %w", id, err)}
	}
	if img.NoiseSigma < 0 || img.NoiseSigma > 255 {
		return nil, &Error{http.StatusBadRequest,
			fmt.Errorf("image %s: noise sigma %g not in [0, 255]", id, img.NoiseSigma)}
	}

	topic := p.Topics.Noisy
	if img.Clean {
		topic = p.Topics.Clean
	}
	rec := &pipeline.Record{Topic: topic, Key: []byte(id), Value: img.Data}
	rec.SetHeader(pipeline.HeaderID, id)
	rec.SetHeader(pipeline.HeaderContentType, imageio.Sniff(img.Data))
	rec.SetHeader(pipeline.HeaderIngestedAt, pipeline.FormatTime(time.Now()))
	if img.Source != "" {
		rec.SetHeader(pipeline.HeaderSource, img.Source)
	}
	if img.NoiseSigma > 0 {
		rec.SetHeader(pipeline.HeaderNoiseSigma, strconv.FormatFloat(img.NoiseSigma, 'g', -1, 64))
	}
	if img.Traceparent != "" {
		rec.SetHeader(pipeline.HeaderTraceparent, img.Traceparent)
		if img.Tracestate != "" {
			rec.SetHeader(pipeline.HeaderTracestate, img.Tracestate)
		}
	}
	return rec, nil
}

// statusOf maps an imageio error to an HTTP status.
func statusOf(err error) int {
	var ue *imageio.UnsupportedError
	var te *imageio.TooLargeError
	switch {
	case errors.As(err, &ue):
		return http.StatusUnsupportedMediaType
	case errors.As(err, &te):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// NewID returns a random image id of 32 hex digits.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
