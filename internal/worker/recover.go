package worker

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime/debug"

	"github.com/segmentio/kafka-go"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Containment of bad records. A record must never crash the process nor
// come back forever, because a consumer that dies on a record restarts into
// the same record:
//
//   - a panic in the model becomes an error of stage "denoise", any other
//     panic while processing one record an error of stage "panic"; both go
//     to the deadletter topic with the panic value as the reason, and the
//     stack goes to the log;
//   - a model record whose decoder panics is rejected like a bad one;
//   - the broker refusing a record for its content (invalid or corrupt
//     record, bad timestamp) is retried maxRecordAttempts times, then the
//     input is dead-lettered;
//   - a dead letter that is itself too large for the broker (an input at
//     the size limit plus our headers) is sent again without the value: the
//     original bytes stay at the source topic, partition and offset that its
//     headers name.

// maxRecordAttempts bounds the tries of a produce that the broker refuses
// for the record's content.
const maxRecordAttempts = 3

// maxReasonBytes bounds the reason header of a dead letter.
const maxReasonBytes = 2 << 10

// HeaderDLValueDropped is set on a dead letter sent without the original
// value because the value and headers together exceeded the record limit;
// it holds the original value's size in bytes.
const HeaderDLValueDropped = "cf-dl-value-dropped"

// PanicError is a panic recovered while processing one record.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// denoiseSafe is denoiseModel with any panic turned into an error.
func (d *Denoiser) denoiseSafe(ctx context.Context, rec pipeline.Record,
	m Model) (out *pipeline.Record, stage string, err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			d.logRecord(slog.LevelError, "panic while processing image", rec,
				"err", pe, "stack", string(pe.Stack))
			out, stage, err = nil, "panic", pe
		}
	}()
	return d.denoiseModel(ctx, rec, m)
}

// denoiseRecovered runs denoiseWith, turning a panic of the model into an
// error.
func denoiseRecovered(m Model, img image.Image, rec pipeline.Record) (out image.Image,
	err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return denoiseWith(m, img, rec)
}

// decodeRecovered runs a model decoder, turning a panic into an error.
func decodeRecovered(decode Decoder, data []byte) (m Model, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return decode(data)
}

// isRecordRejected reports whether the broker refused a record for its
// content, which retrying the same bytes cannot fix for long.
func isRecordRejected(err error) bool {
	for _, code := range []kafka.Error{kafka.InvalidRecord, kafka.InvalidMessage,
		kafka.InvalidTimestamp} {
		if errors.Is(err, code) {
			return true
		}
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && isRecordRejected(e) {
				return true
			}
		}
	}
	return false
}

// limitReason cuts a dead-letter reason to maxReasonBytes.
func limitReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	return s[:maxReasonBytes] + "…"
}

// produceDeadLetter produces dl, and when it is too large, produces it
// again without its value.
func (d *Denoiser) produceDeadLetter(ctx context.Context, dl *pipeline.Record) error {
	err := d.produce(ctx, dl)
	if !errors.Is(err, pipeline.ErrRecordTooLarge) || len(dl.Value) == 0 {
		return err
	}
	small := *dl
	small.Value = nil
	small.Headers = append([]pipeline.Header(nil), dl.Headers...)
	small.SetHeader(HeaderDLValueDropped, fmt.Sprint(len(dl.Value)))
	return d.produce(ctx, &small)
}
