package telemetry

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Carrier carries trace context in a record's headers (traceparent,
// tracestate, baggage), as a propagation.TextMapCarrier.
type Carrier struct{ Rec *pipeline.Record }

var _ propagation.TextMapCarrier = Carrier{}

// Get returns the first header named key, or "".
func (c Carrier) Get(key string) string { return c.Rec.HeaderString(key) }

// Set replaces the headers named key with one holding value.
func (c Carrier) Set(key, value string) { c.Rec.SetHeader(key, value) }

// Keys lists the header names.
func (c Carrier) Keys() []string {
	ks := make([]string, len(c.Rec.Headers))
	for i, h := range c.Rec.Headers {
		ks[i] = h.Key
	}
	return ks
}

// Producer wraps p so that each record gets a producer span ("send
// TOPIC"), a child of the context passed to Produce, whose context is
// written into the record's headers; acknowledged records are counted in
// cleanframe.images.out. The wrapper keeps p's contract.
func (ins *Instruments) Producer(p pipeline.Producer) pipeline.Producer {
	return &producer{p: p, ins: ins}
}

type producer struct {
	p   pipeline.Producer
	ins *Instruments
}

func (p *producer) Produce(ctx context.Context, recs ...*pipeline.Record) error {
	var one [1]trace.Span
	spans := one[:0]
	for _, r := range recs {
		sctx, span := p.ins.Tracer.Start(ctx, p.ins.topic(r.Topic).send,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(semconv.MessagingSystemKafka,
				semconv.MessagingOperationTypeSend,
				semconv.MessagingOperationName("send"),
				semconv.MessagingDestinationName(r.Topic),
				semconv.MessagingKafkaMessageKey(string(r.Key)),
				semconv.MessagingMessageBodySize(len(r.Value))))
		p.ins.Propagator.Inject(sctx, Carrier{r})
		spans = append(spans, span)
	}

	start := time.Now()
	err := p.p.Produce(ctx, recs...)
	p.ins.Stage(ctx, "produce", start)
	for i, r := range recs {
		span := spans[i]
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			p.ins.published(ctx, r.Topic, len(r.Value))
			if span.IsRecording() {
				span.SetAttributes(
					semconv.MessagingDestinationPartitionID(strconv.Itoa(r.Partition)),
					semconv.MessagingKafkaOffset(int(r.Offset)))
			}
		}
		span.End()
	}
	return err
}

func (p *producer) Close() error { return p.p.Close() }

// StartProcess starts the consumer span ("process TOPIC") of a fetched
// record and counts the record in cleanframe.images.in. The span is a child
// of the trace context in the record's headers, so that one trace runs from
// upload to output, and links to that producer span too. group is the
// consumer group. End the span with [EndSpan].
func (ins *Instruments) StartProcess(ctx context.Context, rec *pipeline.Record,
	group string) (context.Context, trace.Span) {
	ins.Received(ctx, rec.Topic, len(rec.Value))
	ctx = ins.Propagator.Extract(ctx, Carrier{rec})
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, span := ins.Tracer.Start(ctx, ins.topic(rec.Topic).process, opts...)
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(rec.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(rec.Partition)),
			semconv.MessagingKafkaOffset(int(rec.Offset)),
			semconv.MessagingConsumerGroupName(group),
			semconv.MessagingKafkaMessageKey(string(rec.Key)),
			semconv.MessagingMessageBodySize(len(rec.Value)))
	}
	return ctx, span
}

// EndSpan sets span's status from err and ends it.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// ObserveLag reports the consumer lag of group on topic per partition, the
// high watermark less the committed offset, as cleanframe.consumer.lag. The
// offsets are asked of the brokers when the metrics are collected (a scrape
// or an OTLP export), at most every 5 s, so nothing runs in between. Stop
// with the returned function.
func (ins *Instruments) ObserveLag(pc *pipeline.Config, group, topic string) (stop func()) {
	g, _ := ins.Meter.Int64ObservableGauge(MetricConsumerLag, metric.WithUnit("{record}"),
		metric.WithDescription("Records of a partition not yet committed by the consumer group."))
	var mu sync.Mutex // readers may collect at the same time
	var last time.Time
	var lags map[int]int64
	reg, err := ins.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			lags = groupLag(ctx, pc, group, topic)
		}
		for p, lag := range lags {
			o.ObserveInt64(g, lag, metric.WithAttributes(
				semconv.MessagingDestinationName(topic),
				attribute.String(attrPartition, strconv.Itoa(p)),
				semconv.MessagingConsumerGroupName(group)))
		}
		return nil
	}, g)
	return unregister(reg, err)
}

// groupLag asks the brokers for the lag of each partition; nil when they
// cannot answer within 3 s.
func groupLag(ctx context.Context, pc *pipeline.Config, group, topic string) map[int]int64 {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	end, err := pipeline.EndOffsets(ctx, pc, topic)
	if err != nil {
		return nil
	}
	done, err := pipeline.CommittedOffsets(ctx, pc, group, topic)
	if err != nil {
		return nil
	}
	lags := make(map[int]int64, len(end))
	for p, e := range end {
		c := done[p]
		if c < 0 {
			c = 0 // nothing committed: the group starts at the first record
		}
		lags[p] = max(e-c, 0)
	}
	return lags
}
