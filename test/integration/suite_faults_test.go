package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestMain lets the test binary double as a denoiser process, so that a
// test can kill one for real: with CF_IT_CHILD=denoiser it runs
// worker.Serve on CF_IT_BROKERS, CF_IT_PREFIX and CF_IT_GROUP instead of
// the tests.
func TestMain(m *testing.M) {
	if os.Getenv("CF_IT_CHILD") == "denoiser" {
		os.Exit(childDenoiser())
	}
	os.Exit(m.Run())
}

// childDenoiser is the body of a denoiser child process. It stops on
// SIGTERM, or by itself after three minutes so that it never outlives a
// test run that lost track of it.
func childDenoiser() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := &pipeline.Config{Brokers: strings.Split(os.Getenv("CF_IT_BROKERS"), ","),
		TopicPrefix: os.Getenv("CF_IT_PREFIX"), Logger: log}
	m, err := defaultModel()
	if err == nil {
		err = worker.Serve(ctx, cfg, os.Getenv("CF_IT_GROUP"),
			worker.Config{Workers: 2, Logger: log}, m, decodeModel)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child denoiser:", err)
		return 1
	}
	return 0
}

// startChild starts a denoiser process in group on e's topics. The test
// kills it at the end if it still runs.
func (e *env) startChild(t *testing.T, group string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CF_IT_CHILD=denoiser",
		"CF_IT_BROKERS="+strings.Join(e.cfg.Brokers, ","),
		"CF_IT_PREFIX="+e.cfg.TopicPrefix, "CF_IT_GROUP="+group)
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// testKilledDenoiser kills a denoiser process with SIGKILL while it works
// through a backlog, starts another, and expects every image to come out
// (duplicates allowed) and the offsets committed.
func testKilledDenoiser(t *testing.T, ctx context.Context, e *env) {
	const n, group = 40, "denoisers"
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	img := encodePNG(t, photo(128, 128, 11, false))
	for i := range n {
		id := fmt.Sprintf("kill-%02d", i)
		if _, err := pub.Publish(ctx, ingest.Image{ID: id, Data: img}); err != nil {
			t.Fatal(err)
		}
	}

	first := e.startChild(t, group)
	seen := len(out.until(t, ctx, func(m map[string]pipeline.Record) bool {
		return len(m) >= 3
	}))
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	t.Logf("killed the first denoiser (SIGKILL) after %d of %d outputs", seen, n)
	if seen >= n {
		t.Fatalf("all %d images were done before the kill; the test needs a backlog", n)
	}

	second := e.startChild(t, group)
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("kill-%02d", i))
	}
	out.until(t, ctx, has(ids...))
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("second denoiser after SIGTERM: %v, want a clean exit", err)
	}
}

// private is a broker of a test's own that it may stop and start.
type private struct {
	brokers []string
	restart func(t *testing.T)
}

// privateEmbedded starts an embedded broker that keeps its state in a
// folder, so that it can be stopped and started again on the same port.
func privateEmbedded(t *testing.T, ctx context.Context) private {
	dir := t.TempDir()
	e, err := pipeline.StartEmbeddedWith(ctx, pipeline.EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); e.Close(); mu.Unlock() })
	addrs := e.Brokers()
	_, port, _ := net.SplitHostPort(addrs[0])
	p, _ := strconv.Atoi(port)
	return private{brokers: addrs, restart: func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		e.Close()
		time.Sleep(2 * time.Second)
		e2, err := pipeline.StartEmbeddedWith(ctx, pipeline.EmbeddedConfig{DataDir: dir,
			Port: p})
		if err != nil {
			t.Fatal(err)
		}
		e = e2
	}}
}

// privateKafka starts an Apache Kafka of the test's own through the script
// named by CF_KAFKA_CONTROL (scripts/kafka-local), on a free port pair, so
// that restarting it disturbs no other test.
func privateKafka(t *testing.T, ctx context.Context) private {
	ctl := os.Getenv("CF_KAFKA_CONTROL")
	if ctl == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but CF_KAFKA_CONTROL is not: the broker restart test " +
				"must run in CI (see .ci/run)")
		}
		t.Skip("CF_KAFKA_CONTROL not set (scripts/kafka-local); skipping the restart test")
	}
	port := freePortPair(t)
	scratch := os.Getenv("CF_KAFKA_SCRATCH")
	if scratch == "" {
		scratch = t.TempDir()
	}
	state := filepath.Join(scratch, fmt.Sprintf("it-restart-%s-%d", runID, port))
	// The script runs on its own deadline: the stop at cleanup comes after
	// the test's context has ended.
	script := func(args ...string) error {
		cctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, ctl, append(args, "--port", strconv.Itoa(port))...)
		cmd.Env = append(os.Environ(), "KAFKA_STATE_DIR="+state, "KAFKA_CONTROLLER_PORT=",
			"KAFKA_PORT=")
		b, err := cmd.CombinedOutput()
		t.Logf("%s %s: %s", filepath.Base(ctl), strings.Join(args, " "),
			strings.TrimSpace(string(b)))
		return err
	}
	if err := script("start", "--fresh"); err != nil {
		t.Fatalf("start a private Kafka: %v", err)
	}
	t.Cleanup(func() { script("stop") })
	return private{brokers: []string{fmt.Sprintf("127.0.0.1:%d", port)},
		restart: func(t *testing.T) {
			if err := script("restart"); err != nil {
				t.Fatalf("restart the private Kafka: %v", err)
			}
		}}
}

// freePortPair finds a port p on 127.0.0.1 with p+1 free too (Kafka's
// controller listens there).
func freePortPair(t *testing.T) int {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		ln.Close()
		if err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no free port pair on 127.0.0.1")
	return 0
}

// testBrokerRestart stops and starts the broker while images flow: every
// image the publisher got an acknowledgement for comes out, and the
// services reconnect by themselves.
func testBrokerRestart(t *testing.T, ctx context.Context, pb private) {
	const n, group = 30, "denoisers"
	e := &env{log: slog.New(slog.NewTextHandler(testWriter{t},
		&slog.HandlerOptions{Level: slog.LevelWarn}))}
	e.cfg = &pipeline.Config{Brokers: pb.brokers, TopicPrefix: "it-" + uniqueID() + "-restart",
		Partitions: 4, Logger: e.log}
	if err := pipeline.EnsureTopics(ctx, e.cfg); err != nil {
		t.Fatal(err)
	}
	pub := e.publisher(t)
	out := collect(t, ctx, e.cfg, e.cfg.Topics().Denoised)
	e.startDenoiser(t, ctx, group)

	// A client that publishes n images, retrying each until it is accepted.
	var mu sync.Mutex
	var accepted []string
	var refusals int
	published := make(chan struct{})
	img := encodePNG(t, photo(32, 32, 13, true))
	go func() {
		defer close(published)
		for i := 0; i < n && ctx.Err() == nil; i++ {
			id := fmt.Sprintf("flow-%02d", i)
			for ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := pub.Publish(pctx, ingest.Image{ID: id, Data: img})
				cancel()
				if err == nil {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
					break
				}
				mu.Lock()
				refusals++
				mu.Unlock()
				time.Sleep(500 * time.Millisecond)
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()

	out.until(t, ctx, func(m map[string]pipeline.Record) bool { return len(m) >= 5 })
	t.Log("restarting the broker")
	start := time.Now()
	pb.restart(t)
	t.Logf("broker back after %.1fs", time.Since(start).Seconds())
	<-published

	mu.Lock()
	ids := append([]string(nil), accepted...)
	t.Logf("%d images accepted, %d publish attempts refused during the outage", len(ids),
		refusals)
	mu.Unlock()
	if len(ids) != n {
		t.Fatalf("%d of %d images accepted before the deadline", len(ids), n)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	got := out.got
	missing := func() []string {
		var ms []string
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				ms = append(ms, id)
			}
		}
		return ms
	}
	for len(missing()) > 0 && wctx.Err() == nil {
		select {
		case r := <-out.recs:
			got[string(r.Key)] = r
		case <-wctx.Done():
		}
	}
	if ms := missing(); len(ms) > 0 {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		noisy, err1 := pipeline.EndOffsets(dctx, e.cfg, e.cfg.Topics().Noisy)
		denoised, err2 := pipeline.EndOffsets(dctx, e.cfg, e.cfg.Topics().Denoised)
		committed, err3 := pipeline.CommittedOffsets(dctx, e.cfg, group, e.cfg.Topics().Noisy)
		t.Fatalf("outputs missing for %v; noisy ends %v (%v), denoised ends %v (%v), "+
			"committed %v (%v)", ms, noisy, err1, denoised, err2, committed, err3)
	}
	waitCommitted(t, ctx, e.cfg, group, e.cfg.Topics().Noisy)
}
