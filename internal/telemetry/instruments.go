package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Metric names; docs/telemetry.md lists them with their units and the
// names Prometheus gives them.
const (
	MetricImagesIn       = "cleanframe.images.in"
	MetricImagesOut      = "cleanframe.images.out"
	MetricBytesIn        = "cleanframe.images.in.bytes"
	MetricBytesOut       = "cleanframe.images.out.bytes"
	MetricEndToEnd       = "cleanframe.end_to_end.duration"
	MetricStage          = "cleanframe.stage.duration"
	MetricDeadLetters    = "cleanframe.deadletter.records"
	MetricConsumerLag    = "cleanframe.consumer.lag"
	MetricModel          = "cleanframe.model.info"
	MetricTrainLoss      = "cleanframe.train.loss"
	MetricValidPSNR      = "cleanframe.validation.psnr"
	MetricGemmOps        = "cleanframe.gemm.operations"
	MetricBatchRows      = "cleanframe.denoise.batch.rows"
	MetricBatches        = "cleanframe.denoise.batches"
	attrStage            = "cleanframe.stage"
	attrModelVersion     = "cleanframe.model.version"
	attrModelRole        = "cleanframe.model.role"
	attrPartition        = "messaging.destination.partition.id"
	stageDecode, stageDo = "decode", "denoise"
)

// Instruments are the tracer, propagator and metrics of one service. Get
// them from [Telemetry.Instruments]; they are safe for concurrent use.
type Instruments struct {
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Meter      metric.Meter

	imagesIn, imagesOut, bytesIn, bytesOut metric.Int64Counter
	deadLetters                            metric.Int64Counter
	endToEnd, stage                        metric.Float64Histogram
	trainLoss, validPSNR                   metric.Float64Gauge

	topics sync.Map // topic name to *topicInfo
	stages sync.Map // stage name to metric.MeasurementOption
}

// topicInfo is what the instruments compute once per topic.
type topicInfo struct {
	attrs         metric.MeasurementOption
	send, process string // span names
}

// Instruments returns t's instruments, creating them on the first call; a
// nil t gives no-op instruments that still pass trace context on.
func (t *Telemetry) Instruments() *Instruments {
	if t == nil {
		t = nop
	}
	t.once.Do(func() { t.ins = newInstruments(t) })
	return t.ins
}

// nop backs the instruments of a nil *Telemetry.
var nop = Nop()

// latencyBuckets are histogram bounds in seconds, 1 ms to 2 min.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120}

func newInstruments(t *Telemetry) *Instruments {
	m := t.MeterProvider.Meter(scope, metric.WithSchemaURL(semconv.SchemaURL))
	ins := &Instruments{Tracer: t.Tracer(), Propagator: t.Propagator, Meter: m}
	// The SDK returns a working no-op instrument along with any error, and
	// reports the error through otel.Handle; nothing more to do here.
	ins.imagesIn, _ = m.Int64Counter(MetricImagesIn, metric.WithUnit("{image}"),
		metric.WithDescription("Images taken in: uploads received by ingest, records consumed by the denoiser."))
	ins.imagesOut, _ = m.Int64Counter(MetricImagesOut, metric.WithUnit("{image}"),
		metric.WithDescription("Records published and acknowledged, by topic."))
	ins.bytesIn, _ = m.Int64Counter(MetricBytesIn, metric.WithUnit("By"),
		metric.WithDescription("Bytes of the images taken in."))
	ins.bytesOut, _ = m.Int64Counter(MetricBytesOut, metric.WithUnit("By"),
		metric.WithDescription("Bytes of the record values published."))
	ins.deadLetters, _ = m.Int64Counter(MetricDeadLetters, metric.WithUnit("{record}"),
		metric.WithDescription("Records sent to the deadletter topic, by stage and reason."))
	ins.endToEnd, _ = m.Float64Histogram(MetricEndToEnd, metric.WithUnit("s"),
		metric.WithDescription("Time from ingest (cf-ingested-at) to the acknowledged output."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	ins.stage, _ = m.Float64Histogram(MetricStage, metric.WithUnit("s"),
		metric.WithDescription("Time spent in each stage of one image."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	ins.trainLoss, _ = m.Float64Gauge(MetricTrainLoss, metric.WithUnit("1"),
		metric.WithDescription("Training loss: mean squared error of the noise estimate, 0-255 scale."))
	ins.validPSNR, _ = m.Float64Gauge(MetricValidPSNR, metric.WithUnit("dB"),
		metric.WithDescription("Validation PSNR of the last round, by model role (serving, candidate)."))
	return ins
}

// topic returns the cached attributes and span names of topic.
func (ins *Instruments) topic(topic string) *topicInfo {
	if ti, ok := ins.topics.Load(topic); ok {
		return ti.(*topicInfo)
	}
	ti, _ := ins.topics.LoadOrStore(topic, &topicInfo{
		attrs: metric.WithAttributeSet(attribute.NewSet(semconv.MessagingDestinationName(topic))),
		send:  "send " + topic, process: "process " + topic})
	return ti.(*topicInfo)
}

func (ins *Instruments) topicAttrs(topic string) metric.MeasurementOption {
	return ins.topic(topic).attrs
}

func (ins *Instruments) stageAttrs(stage string) metric.MeasurementOption {
	if o, ok := ins.stages.Load(stage); ok {
		return o.(metric.MeasurementOption)
	}
	o, _ := ins.stages.LoadOrStore(stage,
		metric.WithAttributeSet(attribute.NewSet(attribute.String(attrStage, stage))))
	return o.(metric.MeasurementOption)
}

// Received counts one image of n bytes taken in from topic.
func (ins *Instruments) Received(ctx context.Context, topic string, n int) {
	o := ins.topicAttrs(topic)
	ins.imagesIn.Add(ctx, 1, o)
	ins.bytesIn.Add(ctx, int64(n), o)
}

// published counts one acknowledged record of n bytes on topic.
func (ins *Instruments) published(ctx context.Context, topic string, n int) {
	o := ins.topicAttrs(topic)
	ins.imagesOut.Add(ctx, 1, o)
	ins.bytesOut.Add(ctx, int64(n), o)
}

// Stage records the time since start as the duration of stage.
func (ins *Instruments) Stage(ctx context.Context, stage string, start time.Time) {
	ins.stage.Record(ctx, time.Since(start).Seconds(), ins.stageAttrs(stage))
}

// Delivered records the end-to-end latency of an acknowledged output from
// its cf-ingested-at header; a record without one is skipped.
func (ins *Instruments) Delivered(ctx context.Context, out *pipeline.Record) {
	v, ok := out.Header(pipeline.HeaderIngestedAt)
	if !ok {
		return
	}
	at, err := pipeline.ParseTime(v)
	if err != nil {
		return
	}
	ins.endToEnd.Record(ctx, time.Since(at).Seconds())
}

// DeadLettered counts a record dead-lettered at stage because of err.
func (ins *Instruments) DeadLettered(ctx context.Context, stage string, err error) {
	ins.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String(attrStage, stage),
		semconv.ErrorTypeKey.String(Reason(err))))
}

// Reason classifies a rejection for the error.type attribute: too_large,
// unsupported or invalid. Free-form messages would make too many series.
func Reason(err error) string {
	var ue *imageio.UnsupportedError
	var te *imageio.TooLargeError
	switch {
	case errors.Is(err, pipeline.ErrRecordTooLarge), errors.As(err, &te):
		return "too_large"
	case errors.As(err, &ue):
		return "unsupported"
	}
	return "invalid"
}

// TrainProgress records a training step's loss.
func (ins *Instruments) TrainProgress(ctx context.Context, mse float64) {
	ins.trainLoss.Record(ctx, mse)
}

// Validated records the validation PSNR of a model in role (serving or
// candidate).
func (ins *Instruments) Validated(ctx context.Context, role string, psnr float64) {
	ins.validPSNR.Record(ctx, psnr, metric.WithAttributes(attribute.String(attrModelRole, role)))
}

// ObserveModel reports the version that version returns as the model in use
// (a gauge of 1 labelled with the version) until the returned function is
// called.
func (ins *Instruments) ObserveModel(version func() string) (stop func()) {
	g, _ := ins.Meter.Int64ObservableGauge(MetricModel, metric.WithUnit("{model}"),
		metric.WithDescription("The model in use: 1, labelled with its version."))
	reg, err := ins.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1, metric.WithAttributes(attribute.String(attrModelVersion, version())))
		return nil
	}, g)
	return unregister(reg, err)
}

func unregister(reg metric.Registration, err error) func() {
	if err != nil || reg == nil {
		return func() {}
	}
	return func() { reg.Unregister() }
}

// EngineStats are running totals of the compute engine (see ae.ReadStats).
type EngineStats struct{ Flops, Rows, Batches uint64 }

// ObserveEngine reports the totals that read returns as the counters
// cleanframe.gemm.operations (whose rate is the GEMM throughput),
// cleanframe.denoise.batch.rows and cleanframe.denoise.batches (whose
// ratio is the mean batch size) until the returned function is called.
func (ins *Instruments) ObserveEngine(read func() EngineStats) (stop func()) {
	ops, _ := ins.Meter.Int64ObservableCounter(MetricGemmOps, metric.WithUnit("{flop}"),
		metric.WithDescription("Floating-point operations of matrix products (2·m·n·k each); its rate is the GEMM throughput."))
	rows, _ := ins.Meter.Int64ObservableCounter(MetricBatchRows, metric.WithUnit("{row}"),
		metric.WithDescription("Patch rows run through the network while denoising."))
	batches, _ := ins.Meter.Int64ObservableCounter(MetricBatches, metric.WithUnit("{batch}"),
		metric.WithDescription("Batches of patch rows; rows per batch is the batch size."))
	reg, err := ins.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := read()
		o.ObserveInt64(ops, int64(s.Flops))
		o.ObserveInt64(rows, int64(s.Rows))
		o.ObserveInt64(batches, int64(s.Batches))
		return nil
	}, ops, rows, batches)
	return unregister(reg, err)
}
