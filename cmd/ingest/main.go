// Command ingest publishes images to cleanframe's Kafka topics: as an HTTP
// service (serve: POST /v1/images) or from files and folders (files).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cleanframe/cleanframe/internal/cli"
	"github.com/cleanframe/cleanframe/internal/health"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/results"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

func main() { cli.Main("ingest", run) }

const usage = `usage: ingest COMMAND [flags]

commands:
  serve   HTTP API: POST /v1/images (raw image, Content-Type image/*) -> images.noisy
  files   publish files, or the images in folders: files [--clean] PATH...
  send    upload files or folders to a running API, wait, and write the results:
          send [-o OUTDIR] [--server URL] [--concurrency N] [--wait 30s] FILE|DIR...

Run "ingest COMMAND -h" for a command's flags.`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:])
	case "files":
		return runFiles(ctx, args[1:])
	case "send":
		return runSend(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// common holds what both commands configure.
type common struct {
	pc         pipeline.Config
	maxPixels  int64
	level      string
	noEnsure   bool
	lateTopics bool                 // serve: create topics in the background, retrying
	tel        *telemetry.Telemetry // set by open; shut it down when done
}

func (c *common) register(fs *flag.FlagSet) {
	c.pc.RegisterFlags(fs)
	fs.Int64Var(&c.maxPixels, "max-pixels", 0, "largest image in pixels (default 40000000)")
	fs.StringVar(&c.level, "log-level", cli.Env("CF_LOG_LEVEL", "info"),
		"debug, info, warn or error (env CF_LOG_LEVEL)")
	fs.BoolVar(&c.noEnsure, "no-create-topics", false, "do not create missing topics at start")
}

// open validates the flags and returns a logger and a publisher, and sets
// up c.tel; close the producer and shut c.tel down when done.
func (c *common) open(ctx context.Context) (*slog.Logger, *ingest.Publisher, error) {
	log, err := telemetry.NewLogger(os.Stderr, c.level)
	if err != nil {
		return nil, nil, err
	}
	c.pc.Logger = log
	if err := c.pc.Validate(); err != nil {
		return nil, nil, err
	}
	c.tel, err = telemetry.Setup(ctx, telemetry.Config{ServiceName: "cleanframe-ingest",
		Logger: log})
	if err != nil {
		return nil, nil, err
	}
	c.tel.SetGlobal(log)
	if !c.noEnsure && !c.lateTopics {
		if err := pipeline.EnsureTopics(ctx, &c.pc); err != nil {
			return nil, nil, err
		}
	}
	prod, err := pipeline.NewProducer(&c.pc)
	if err != nil {
		return nil, nil, err
	}
	return log, &ingest.Publisher{Producer: c.tel.Instruments().Producer(prod),
		Topics:   c.pc.Topics(),
		MaxBytes: c.pc.MaxValueBytes(), MaxPixels: c.maxPixels}, nil
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("listen", cli.Env("CF_LISTEN", "127.0.0.1:8080"),
		"HTTP listen `address` (env CF_LISTEN)")
	tokenFile := fs.String("api-token-file", cli.Env("CF_API_TOKEN_FILE", ""),
		"`file` holding the bearer token that POST /v1/images requires; empty: no "+
			"authentication (env CF_API_TOKEN_FILE)")
	var lim limits
	lim.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	var token string
	if *tokenFile != "" {
		var err error
		if token, err = ingest.LoadToken(*tokenFile); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	c.lateTopics = true // the API answers (not ready, 503) while the brokers are away
	log, pub, err := c.open(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer pub.Producer.Close()
	defer cli.Shutdown(c.tel.Shutdown)
	topics := health.NewFlag("topics")
	if c.noEnsure {
		topics.Set()
	} else {
		go func() {
			if pipeline.EnsureTopicsRetry(ctx, &c.pc, 5*time.Second) == nil {
				topics.Set()
			}
		}()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("ingest serving", "addr", ln.Addr().String(), "topic", pub.Topics.Noisy,
		"max_bytes", pub.MaxBytes)
	store := results.NewStore(results.StoreConfig{MaxBytes: lim.resultBytes, TTL: lim.ttl})
	follower := results.Follow(ctx, &c.pc, store,
		results.FollowConfig{Lookback: lim.lookback, Logger: log})
	defer follower.Close()
	api := &ingest.API{Publisher: pub, Results: store, Logger: log,
		MaxInFlight: lim.inFlight, MaxWaiters: lim.waiters, MaxWait: lim.maxWait}
	mux := health.Handler(c.tel.MetricsHandler(), health.Brokers(&c.pc), topics.Check(),
		health.Check{Name: "results", Fn: func(context.Context) error {
			return follower.Ready()
		}})
	mux.HandleFunc("GET /openapi.yaml", ingest.ServeOpenAPI)
	mux.Handle("/", c.tel.UploadHandler(ingest.RequireToken(api.Handler(), token),
		pub.Topics.Noisy))
	return serveHTTP(ctx, ln, ingest.WithRequestLog(mux, log))
}

// limits holds serve's bounds on results and waiting requests.
type limits struct {
	resultBytes int64
	ttl         time.Duration
	lookback    int64
	inFlight    int
	waiters     int
	maxWait     time.Duration
}

func (l *limits) register(fs *flag.FlagSet) {
	fs.Int64Var(&l.resultBytes, "results-max-bytes", cli.EnvInt("CF_RESULTS_MAX_BYTES",
		results.DefaultMaxBytes), "bytes of results held in memory, least recently used "+
		"dropped first (env CF_RESULTS_MAX_BYTES)")
	fs.DurationVar(&l.ttl, "results-ttl", cli.EnvDuration("CF_RESULTS_TTL", results.DefaultTTL),
		"how long a result or a pending mark is kept (env CF_RESULTS_TTL)")
	fs.Int64Var(&l.lookback, "results-lookback", cli.EnvInt("CF_RESULTS_LOOKBACK", 0),
		"records per partition of images.denoised and images.noisy read back at start, "+
			"so a restarted replica knows recent results (env CF_RESULTS_LOOKBACK)")
	fs.IntVar(&l.inFlight, "max-in-flight", int(cli.EnvInt("CF_MAX_IN_FLIGHT",
		ingest.DefaultMaxInFlight)), "uploads read and published at once; more get 429 "+
		"(env CF_MAX_IN_FLIGHT)")
	fs.IntVar(&l.waiters, "max-waiters", int(cli.EnvInt("CF_MAX_WAITERS",
		ingest.DefaultMaxWaiters)), "requests waiting for a result at once; more get 202 "+
		"at once (env CF_MAX_WAITERS)")
	fs.DurationVar(&l.maxWait, "max-wait", cli.EnvDuration("CF_MAX_WAIT", ingest.DefaultMaxWait),
		"longest ?wait= a request gets; under the 60 s write timeout (env CF_MAX_WAIT)")
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully,
// letting requests in flight finish for up to 15 s.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

func runFiles(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	var c common
	c.register(fs)
	clean := fs.Bool("clean", false, "publish to images.clean (training samples) "+
		"instead of images.noisy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("files: no PATH given; usage: ingest files [--clean] PATH...")
	}
	_, pub, err := c.open(ctx)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer pub.Producer.Close()
	defer cli.Shutdown(c.tel.Shutdown)
	return ingest.PublishFiles(ctx, pub, *clean, fs.Args(), os.Stdout)
}

func runSend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var s ingest.Sender
	fs.StringVar(&s.Server, "server", cli.Env("CF_SERVER", "http://127.0.0.1:8080"),
		"the API's base `URL` (env CF_SERVER)")
	fs.StringVar(&s.OutDir, "o", ".", "`folder` the results are written to, as NAME.png")
	fs.IntVar(&s.Concurrency, "concurrency", 4, "uploads at once")
	fs.DurationVar(&s.Wait, "wait", 30*time.Second,
		"longest time for one image, upload to result")
	tokenFile := fs.String("api-token-file", cli.Env("CF_API_TOKEN_FILE", ""),
		"`file` holding the bearer token, if the server wants one (env CF_API_TOKEN_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("send: no FILE or DIR given; usage: ingest send [-o OUTDIR] " +
			"[--server URL] FILE|DIR...")
	}
	if *tokenFile != "" {
		var err error
		if s.Token, err = ingest.LoadToken(*tokenFile); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	s.Progress, s.TTY = os.Stderr, isTerminal(os.Stderr)
	sent, err := s.Send(ctx, fs.Args())
	ok := 0
	for _, r := range sent {
		if r.Err == nil {
			ok++
		}
	}
	fmt.Fprintf(os.Stderr, "%d of %d images written to %s\n", ok, len(sent), s.OutDir)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
