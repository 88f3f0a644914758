package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	for _, extra := range [][]string{{"-guided"}, {"-model", out}} {
		args := append([]string{"train", "-images", dir, "-arch", "7:3:1:16", "-steps", "1"},
			extra...)
		if err := run(ctx, log, args); err == nil || !strings.Contains(err.Error(), "-arch") {
			t.Errorf("%v: error %v, want -arch refused", extra, err)
		}
	}
	// A run from -model names it as the parent.
	child := filepath.Join(t.TempDir(), "child.cfm")
	if err := run(ctx, log, []string{"train", "-images", dir, "-o", child, "-model", out,
		"-steps", "20", "-batch", "4"}); err != nil {
		t.Fatal(err)
	}
	if c, err := ae.Load(child); err != nil || c.Header.Parent != m.Version() {
		t.Fatalf("child of %s: %v, %v", m.Version(), c, err)
	}
	// Settings that would train backwards or never checkpoint are refused
	// before any step, and the model written above stays; so is an -o that
	// is a folder.
	for _, extra := range [][]string{{"-lr-final", "-1"}, {"-lr-final", "0.1"},
		{"-checkpoint-every", "-5"}, {"-warmup", "-2"}, {"-o", dir}, {"-batch", "0"},
		{"-lr", "0"}, {"-steps", "-5"}} {
		args := append([]string{"train", "-images", dir, "-o", out, "-arch", "7:3:1:16",
			"-steps", "50", "-batch", "4"}, extra...)
		if err := run(ctx, log, args); err == nil {
			t.Errorf("%v: trained", extra)
		}
		if again, err := ae.Load(out); err != nil || again.Version() != m.Version() {
			t.Errorf("%v: the model in -o changed (%v)", extra, err)
		}
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

// A run stopped after a checkpoint goes on with -resume from -o and -o.state
// to the full step count, then removes the state; a state that does not match
// the model is refused.
func TestTrainResume(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 40, 40))
	for p := range g.Pix {
		g.Pix[p] = uint8(p*7%200 + 20)
	}
	data, err := imageio.EncodePNG(g)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.png"), data, 0o644)
	out := filepath.Join(t.TempDir(), "m.cfm")
	log := slog.New(slog.DiscardHandler)
	// -images is relative to the working folder; the state records it whole.
	t.Chdir(filepath.Dir(dir))
	args := []string{"train", "-images", filepath.Base(dir), "-o", out, "-arch", "7:3:1:16",
		"-steps", "3000", "-batch", "8", "-checkpoint-every", "20"}

	// Stop the first run once a checkpoint's state exists.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(out + ".state"); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := run(ctx, log, args); err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Fatalf("the interrupted run: %v, want an error that points to -resume", err)
	}
	stopped, err := ae.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Header.Steps < 20 || stopped.Header.Steps >= 3000 {
		t.Fatalf("stopped at %d steps", stopped.Header.Steps)
	}
	stoppedState, err := os.ReadFile(out + ".state")
	if err != nil {
		t.Fatal(err)
	}

	// Flags that cannot continue the stopped run are refused, and leave it
	// as it was: other steps, -model, another shape, another learning rate,
	// seed or warm-up than the run recorded.
	for name, extra := range map[string][]string{
		"fewer steps": {"-steps", "10", "-resume"},
		"more steps":  {"-steps", "4000", "-resume"},
		"with -model": {"-resume", "-model", out},
		"other arch":  {"-arch", "7:3:1:32", "-resume"},
		"other lr":    {"-lr", "0.002", "-resume"},
		"other seed":  {"-seed", "2", "-resume"},
		"no warm-up":  {"-warmup", "0", "-resume"},
		"a new run":   {},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := run(ctx, log, append(slices.Clone(args), extra...))
		cancel()
		if err == nil {
			t.Fatalf("%s: resumed", name)
		}
		state, _ := os.ReadFile(out + ".state")
		m, lerr := ae.Load(out)
		if lerr != nil || m.Version() != stopped.Version() || !bytes.Equal(state, stoppedState) {
			t.Fatalf("%s (%v): the stopped run changed", name, err)
		}
	}
	// While a run holds -o, another is told so, not that the run stopped.
	unlock, err := lockRun(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, log, args); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Fatalf("a run on a locked -o: %v, want refused as another run's", err)
	}
	unlock()
	// A run stopped before its first step writes nothing either.
	gone, stop := context.WithCancel(context.Background())
	stop()
	if err := run(gone, log, append(slices.Clone(args), "-resume")); err == nil {
		t.Fatal("a cancelled resume reported success")
	}
	if m, err := ae.Load(out); err != nil || m.Version() != stopped.Version() {
		t.Fatalf("a resume stopped before its first step replaced the model (%v)", err)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	// Images that moved are named by the error, which says what to do.
	if err := os.Rename(dir, dir+"-moved"); err != nil {
		t.Fatal(err)
	}
	err = run(ctx2, log, []string{"train", "-o", out, "-resume"})
	if err == nil || !strings.Contains(err.Error(), "give -images") {
		t.Fatalf("resume with the images moved: %v, want a hint to give -images", err)
	}
	if err := os.Rename(dir+"-moved", dir); err != nil {
		t.Fatal(err)
	}
	// The same values are accepted (0.001 is -lr's default, written
	// another way); -resume alone takes them all from the state, in
	// another working folder too.
	t.Chdir(t.TempDir())
	same := []string{"train", "-o", out, "-resume", "-lr", "1e-3", "-batch", "8"}
	if err := run(ctx2, log, same); err != nil {
		t.Fatalf("resume: %v", err)
	}
	done, err := ae.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// Its parent is the run's, not the checkpoint's: here none, as for an
	// uninterrupted run of a new model.
	if done.Header.Steps != 3000 || done.Header.Parent != "" {
		t.Fatalf("resumed model: %d steps, parent %q; want 3000 and none", done.Header.Steps,
			done.Header.Parent)
	}

	// The finished run leaves no state, and -resume says to go on with -model.
	if _, err := os.Stat(out + ".state"); !os.IsNotExist(err) {
		t.Fatalf("state after the finished run: %v, want none", err)
	}
	err = run(ctx2, log, append(args, "-resume"))
	if err == nil || !strings.Contains(err.Error(), "no stopped run") ||
		!strings.Contains(err.Error(), "-model "+out) {
		t.Fatalf("resume after the run finished: err = %v", err)
	}
	// A state that does not belong to the model is refused.
	if err := os.WriteFile(out+".state", stoppedState, 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(ctx2, log, append(args, "-resume"))
	if err == nil || !strings.Contains(err.Error(), "belongs to model") {
		t.Fatalf("resume from a mismatched state: err = %v", err)
	}
}

// A colour image gives its luminance, and with -chroma its two opponent
// chroma planes as well; a grey image gives itself either way.
func TestLoadPlanesChroma(t *testing.T) {
	dir := t.TempDir()
	c := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range 6 {
		c.SetNRGBA(i%3, i/3, color.NRGBA{R: uint8(40 * i), G: 200, B: uint8(255 - 30*i), A: 255})
	}
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	g.Pix[4] = 99
	for name, img := range map[string]image.Image{"c.png": c, "g.png": g} {
		data, err := imageio.EncodePNG(img)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	lum, err := loadPlanes(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := loadPlanes(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(lum) != 2 || len(all) != 4 {
		t.Fatalf("%d planes without chroma, %d with: want 2 and 4", len(lum), len(all))
	}
	// Pixel 4 is (x 1, y 1): R 160, G 200, B 135.
	want := []float32{(160 + 200 + 135) / 3.0, (160-135)/2.0 + 127.5,
		(160-2*200+135)/4.0 + 127.5, 99}
	for i, p := range all {
		if d := p.Pix[4] - want[i]; d > 1e-4 || d < -1e-4 {
			t.Errorf("plane %d: pixel %v, want %v", i, p.Pix[4], want[i])
		}
	}
	if lum[0].Pix[4] != all[0].Pix[4] || lum[1].Pix[4] != 99 {
		t.Errorf("without chroma: %v and %v", lum[0].Pix[4], lum[1].Pix[4])
	}
}
