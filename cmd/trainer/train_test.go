package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
)

// TestTrainCommand runs `trainer train` on a tiny net for a few steps with
// a corruption mixture and checks the model written and the progress logs
// (stderr is not a terminal under go test).
func TestTrainCommand(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		g := image.NewGray(image.Rect(0, 0, 40, 40))
		for p := range g.Pix {
			g.Pix[p] = uint8(p*(i+3)%200 + 20)
		}
		g.SetGray(0, 0, color.Gray{Y: 255})
		data, err := imageio.EncodePNG(g)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "s"+string(rune('a'+i))+".png"), data, 0o644)
	}
	out := filepath.Join(t.TempDir(), "m.cfm")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, log, []string{"train", "-images", dir, "-o", out, "-arch", "7:3:1:16",
		"-steps", "200", "-batch", "16", "-corruption", "gaussian:10-30,jpeg:30-60"})
	if err != nil {
		t.Fatalf("train: %v\n%s", err, logs.String())
	}
	m, err := ae.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Steps != 200 || m.Header.TrainNoise.Kind != "gaussian:10-30,jpeg:30-60" {
		t.Errorf("model header %+v, want 200 steps and the corruption", m.Header)
	}
	if n := strings.Count(logs.String(), "msg=\"train progress\""); n != 2 {
		t.Errorf("%d progress log lines, want 2 (every 100 steps):\n%s", n, logs.String())
	}
	err = run(ctx, log, []string{"train", "-images", dir, "-corruption", "speckle:1"})
	if err == nil {
		t.Error("unknown corruption accepted")
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf}
	p.report(ae.Progress{Step: 50, Steps: 200, LR: 1e-3, PSNR: 30.5, Rate: 1000,
		Elapsed: 10 * time.Second})
	p.report(ae.Progress{Step: 200, Steps: 200, LR: 2e-5, PSNR: 31, Rate: 1000,
		Elapsed: 40 * time.Second})
	got := buf.String()
	want := "\r[#######.......................] 50/200  25%  lr 1.0e-03  30.50 dB  " +
		"1000 patches/s  eta 30s \r[##############################] 200/200 100%  " +
		"lr 2.0e-05  31.00 dB  1000 patches/s  eta 0s \n"
	if got != want {
		t.Errorf("bar output\n%q\nwant\n%q", got, want)
	}
}
