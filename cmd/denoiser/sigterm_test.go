package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/testlog"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestSIGTERMChild is the body of the child process of TestSIGTERMDrains:
// "denoiser serve" with the arguments in CF_SIGTERM_ARGS, stopped by a real
// SIGTERM. It passes at once in a normal test run.
func TestSIGTERMChild(t *testing.T) {
	args := os.Getenv("CF_SIGTERM_ARGS")
	if args == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // never outlive the parent
	defer cancel()
	if err := run(ctx, strings.Split(args, " ")); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestSIGTERMDrains sends SIGTERM to a denoiser process in the middle of a
// backlog and expects it to stop fetching, finish the images in flight,
// commit exactly what it produced and exit 0 within its drain timeout; a
// second process then does the rest, and every image comes out.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two denoiser processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "term"}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 16
	img := image.NewGray(image.Rect(0, 0, 160, 120))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*7 + i/160*13)
	}
	png, _ := imageio.EncodePNG(img)
	for i := range n {
		if err := prod.Produce(ctx, &pipeline.Record{Topic: cfg.Topics().Noisy,
			Key: fmt.Appendf(nil, "t-%02d", i), Value: png}); err != nil {
			t.Fatal(err)
		}
	}

	const group, drain = "term-group", 30 * time.Second
	start := func() (*exec.Cmd, *testlog.Buffer) {
		args := []string{"serve", "--brokers", strings.Join(e.Brokers(), ","),
			"--topic-prefix", "term", "--group", group, "--workers", "1",
			"--drain-timeout", drain.String(), "--listen", "127.0.0.1:0",
			"--no-create-topics", "--log-level", "info"}
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "CF_SIGTERM_ARGS="+strings.Join(args, " "))
		out := &testlog.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		return cmd, out
	}
	count := func(topic string) int64 {
		end, err := pipeline.EndOffsets(ctx, cfg, topic)
		if err != nil {
			t.Fatal(err)
		}
		var s int64
		for _, o := range end {
			s += o
		}
		return s
	}
	committed := func() int64 {
		c, err := pipeline.CommittedOffsets(ctx, cfg, group, cfg.Topics().Noisy)
		if err != nil {
			t.Fatal(err)
		}
		var s int64
		for _, o := range c {
			s += max(o, 0)
		}
		return s
	}

	first, log1 := start()
	for count(cfg.Topics().Denoised) < 2 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = first.Wait()
	took := time.Since(t0)
	outs, dls, comm := count(cfg.Topics().Denoised), count(cfg.Topics().Deadletter), committed()
	t.Logf("first denoiser: SIGTERM after 2 outputs, exit %v after %v; %d outputs, "+
		"%d dead letters, %d offsets committed", err, took.Round(time.Millisecond), outs, dls,
		comm)
	if err != nil || took > drain+10*time.Second {
		t.Errorf("exit %v after %v, want 0 within the drain timeout\n%s", err, took, log1)
	}
	if comm != outs+dls {
		t.Errorf("committed %d offsets for %d outputs and dead letters: want equal "+
			"(no loss, no work left behind)", comm, outs+dls)
	}
	if outs >= n {
		t.Fatalf("all %d images were done before SIGTERM; the test needs a backlog", n)
	}
	if l := log1.String(); strings.Contains(l, "offset left uncommitted") ||
		!strings.Contains(l, "denoiser stopped") {
		t.Errorf("first denoiser log:\n%s", l)
	}

	second, log2 := start()
	for committed() < n && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("second denoiser: %v\n%s", err, log2)
	}
	if outs := count(cfg.Topics().Denoised); outs != n {
		t.Errorf("%d outputs in all, want %d (each image exactly once after a clean stop)",
			outs, n)
	}
}
