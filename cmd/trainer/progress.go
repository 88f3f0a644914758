package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/ae"
)

// progress reports training progress: on a terminal as one bar redrawn in
// place, otherwise as log lines (one per report), so that logs collected
// by a supervisor stay readable.
type progress struct {
	w   io.Writer // the terminal, or nil for log lines
	log *slog.Logger
}

// newProgress draws on f when it is a terminal and logs to log otherwise.
func newProgress(f *os.File, log *slog.Logger) *progress {
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return &progress{w: f, log: log}
	}
	return &progress{log: log}
}

// report is an ae.TrainConfig.Progress callback.
func (p *progress) report(r ae.Progress) {
	if p.w == nil {
		p.log.Info("train progress", "step", r.Step, "steps", r.Steps,
			"lr", fmt.Sprintf("%.2e", r.LR), "mse", fmt.Sprintf("%.3f", r.MSE),
			"psnr_db", fmt.Sprintf("%.2f", r.PSNR), "patches_per_s", int(r.Rate),
			"elapsed", r.Elapsed.Round(time.Second), "eta", eta(r).Round(time.Second))
		return
	}
	fmt.Fprint(p.w, "\r"+bar(r))
	if r.Step == r.Steps {
		fmt.Fprintln(p.w)
	}
}

// bar is one line: a 30-cell bar, steps, learning rate, PSNR, rate, ETA.
func bar(r ae.Progress) string {
	const width = 30
	done := width * r.Step / max(1, r.Steps)
	return fmt.Sprintf("[%s%s] %d/%d %3d%%  lr %.1e  %.2f dB  %d patches/s  eta %v ",
		strings.Repeat("#", done), strings.Repeat(".", width-done), r.Step, r.Steps,
		100*r.Step/max(1, r.Steps), r.LR, r.PSNR, int(r.Rate), eta(r).Round(time.Second))
}

// eta extrapolates the time left from the time per step so far.
func eta(r ae.Progress) time.Duration {
	if r.Step == 0 {
		return 0
	}
	return time.Duration(float64(r.Elapsed) / float64(r.Step) * float64(r.Steps-r.Step))
}
