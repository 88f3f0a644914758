package worker

import (
	"context"
	"image"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// ins returns the denoiser's instruments: Config.Telemetry's, or no-ops
// that still pass trace context from input to output.
func (d *Denoiser) ins() *telemetry.Instruments {
	return d.cfg.Telemetry.Instruments()
}

// observe reports the model in use and the group's lag on the noisy topic
// as metrics until the returned function is called.
func (d *Denoiser) observe(pc *pipeline.Config, group string) (stop func()) {
	stopModel := d.ins().ObserveModel(func() string { return d.Model().Version() })
	stopLag := d.ins().ObserveLag(pc, group, d.cfg.Topics.Noisy)
	return func() { stopModel(); stopLag() }
}

// decode decodes rec's image, whose header imageio.Config has accepted,
// timing the decode stage.
func (d *Denoiser) decode(ctx context.Context, rec pipeline.Record) (image.Image, error) {
	start := time.Now()
	img, _, err := imageio.DecodeChecked(rec.Value) // denoiseModel ran imageio.Config
	d.ins().Stage(ctx, "decode", start)
	return img, err
}

// denoiseTraced runs m on img in a "denoise" span, timing the stage.
func (d *Denoiser) denoiseTraced(ctx context.Context, m Model, img image.Image,
	rec pipeline.Record) (image.Image, error) {
	ins := d.ins()
	ctx, span := ins.Tracer.Start(ctx, "denoise")
	if span.IsRecording() {
		b := img.Bounds()
		span.SetAttributes(attribute.String("cleanframe.model.version", m.Version()),
			attribute.Int("cleanframe.image.width", b.Dx()),
			attribute.Int("cleanframe.image.height", b.Dy()))
	}
	start := time.Now()
	clean, err := denoiseRecovered(m, img, rec)
	ins.Stage(ctx, "denoise", start)
	telemetry.EndSpan(span, err)
	return clean, err
}

// encode encodes the output PNG, timing the encode stage.
func (d *Denoiser) encode(ctx context.Context, img image.Image) ([]byte, error) {
	start := time.Now()
	body, err := imageio.EncodePNG(img)
	d.ins().Stage(ctx, "encode", start)
	return body, err
}

// logCtx is logRecord with the context of the record's span, so that the
// log carries trace_id and span_id.
func (d *Denoiser) logCtx(ctx context.Context, level slog.Level, msg string,
	rec pipeline.Record, args ...any) {
	d.log.Log(ctx, level, msg, append([]any{"topic", rec.Topic,
		"partition", rec.Partition, "offset", rec.Offset, "image_id", imageID(rec)},
		args...)...)
}
