// Package telemetry sets up OpenTelemetry for cleanframe's services and
// holds the instruments they share: the tracer, the W3C trace context
// carried in Kafka record headers, the metrics listed in docs/telemetry.md,
// and a slog handler that stamps records with trace_id and span_id.
//
// Setup reads the standard OTEL_* variables. Traces and metrics are sent by
// OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT, or the per-signal
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
// is set; the protocol comes from OTEL_EXPORTER_OTLP_PROTOCOL (grpc or
// http/protobuf, the default), and OTEL_TRACES_EXPORTER=none or
// OTEL_METRICS_EXPORTER=none turn a signal's export off. Metrics are always
// kept for the Prometheus handler, which collects only when scraped. With
// nothing configured the tracer is a no-op that still passes an incoming
// trace context on, and no goroutine runs in the background.
//
// The resource is service.name (OTEL_SERVICE_NAME, else the service's
// default) plus OTEL_RESOURCE_ATTRIBUTES and the SDK's own attributes.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Config sets up telemetry. The zero value is usable.
type Config struct {
	// ServiceName is service.name when OTEL_SERVICE_NAME is unset, e.g.
	// "cleanframe-denoiser". Default "cleanframe".
	ServiceName string

	// Logger receives OpenTelemetry's own errors (at Warn) and logs (at
	// Debug). Default: none.
	Logger *slog.Logger

	// SpanProcessor, when set, receives every span besides any OTLP export
	// and turns tracing on: tests pass a tracetest.SpanRecorder here.
	SpanProcessor sdktrace.SpanProcessor

	// Reader, when set, is one more metric reader: tests pass a
	// sdkmetric.ManualReader here.
	Reader sdkmetric.Reader
}

// Telemetry holds a service's providers. Its methods are safe for
// concurrent use; Shutdown flushes and stops the exporters.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator

	registry *prometheus.Registry
	stops    []func(context.Context) error
	once     sync.Once
	ins      *Instruments
}

// Setup builds the providers that the environment asks for; see the
// package doc. It does not touch OpenTelemetry's globals: call SetGlobal
// for that.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
			propagation.Baggage{}),
		registry: prometheus.NewRegistry(),
	}
	t.registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		t.TracerProvider, t.MeterProvider = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		return t, nil
	}

	res, err := newResource(ctx, cfg.ServiceName)
	if err != nil {
		return nil, err
	}
	if err := t.setupMetrics(ctx, cfg, res); err != nil {
		return nil, err
	}
	if err := t.setupTraces(ctx, cfg, res); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	return t, nil
}

// Nop returns telemetry that records nothing and passes trace context on.
func Nop() *Telemetry {
	return &Telemetry{
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  metricnoop.NewMeterProvider(),
		Propagator:     propagation.TraceContext{},
		registry:       prometheus.NewRegistry(),
	}
}

func newResource(ctx context.Context, service string) (*resource.Resource, error) {
	if service == "" {
		service = "cleanframe"
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	// A partly bad OTEL_RESOURCE_ATTRIBUTES still gives the good part.
	return res, nil
}

// setupMetrics creates the meter provider with the Prometheus reader, an
// OTLP periodic reader when configured, and cfg.Reader.
func (t *Telemetry) setupMetrics(ctx context.Context, cfg Config, res *resource.Resource) error {
	prom, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return fmt.Errorf("prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	if cfg.Reader != nil {
		opts = append(opts, sdkmetric.WithReader(cfg.Reader))
	}
	if otlpWanted("METRICS") {
		exp, err := newMetricExporter(ctx)
		if err != nil {
			return err
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.MeterProvider = mp
	t.stops = append(t.stops, mp.Shutdown)
	return nil
}

// setupTraces creates an SDK tracer provider when spans go anywhere, a
// no-op one otherwise. The sampler comes from OTEL_TRACES_SAMPLER.
func (t *Telemetry) setupTraces(ctx context.Context, cfg Config, res *resource.Resource) error {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.SpanProcessor != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(cfg.SpanProcessor))
	}
	if otlpWanted("TRACES") {
		exp, err := newTraceExporter(ctx)
		if err != nil {
			return err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if len(opts) == 1 {
		t.TracerProvider = tracenoop.NewTracerProvider()
		return nil
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider = tp
	t.stops = append(t.stops, tp.Shutdown)
	return nil
}

// otlpWanted reports whether signal (TRACES or METRICS) is to be sent by
// OTLP: an endpoint is set and OTEL_<signal>_EXPORTER is not "none".
func otlpWanted(signal string) bool {
	if strings.Contains(os.Getenv("OTEL_"+signal+"_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// protocol returns the OTLP protocol of signal: grpc or http/protobuf.
func protocol(signal string) (string, error) {
	p := os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if p == "" {
		p = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch p {
	case "", "http/protobuf":
		return "http/protobuf", nil
	case "grpc":
		return p, nil
	}
	return "", fmt.Errorf("OTLP protocol %q: want grpc or http/protobuf", p)
}

func newTraceExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	p, err := protocol("TRACES")
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if p == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return exp, nil
}

func newMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	p, err := protocol("METRICS")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if p == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metric exporter: %w", err)
	}
	return exp, nil
}

// SetGlobal makes t's providers and propagator OpenTelemetry's globals and
// sends OpenTelemetry's own logs and errors to log (nil: nowhere).
func (t *Telemetry) SetGlobal(log *slog.Logger) {
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(t.Propagator)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// logr verbosity v is slog level -v: SDK info (v=1) and debug (v=8)
	// become slog Debug and below.
	otel.SetLogger(logr.FromSlogHandler(levelShift{log.Handler()}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
}

// levelShift lowers records by 4 levels so that logr's V(1) lands on slog
// Debug rather than Info-1.
type levelShift struct{ slog.Handler }

func (h levelShift) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, shift(l))
}

func (h levelShift) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	r.Message = "opentelemetry: " + r.Message
	return h.Handler.Handle(ctx, r)
}

func (h levelShift) WithAttrs(as []slog.Attr) slog.Handler {
	return levelShift{h.Handler.WithAttrs(as)}
}

func (h levelShift) WithGroup(name string) slog.Handler {
	return levelShift{h.Handler.WithGroup(name)}
}

func shift(l slog.Level) slog.Level {
	if l < slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

// MetricsHandler serves the metrics in Prometheus text format, with the Go
// runtime's and the process's.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Tracer returns cleanframe's tracer.
func (t *Telemetry) Tracer() trace.Tracer {
	return t.TracerProvider.Tracer(scope, trace.WithSchemaURL(semconv.SchemaURL))
}

// Shutdown flushes what is buffered and stops the exporters, within ctx.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, stop := range t.stops {
		errs = append(errs, stop(ctx))
	}
	t.stops = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shut down telemetry: %w", err)
	}
	return nil
}

// scope is the instrumentation scope of cleanframe's tracer and meter.
const scope = "github.com/cleanframe/cleanframe"
