package replay

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Progress reports how far a replay is: a bar redrawn in place on a
// terminal, or an Info log line at most every Every otherwise. Update
// matches Config.Progress; Done ends the bar's line. It is not safe for
// concurrent use.
type Progress struct {
	W     io.Writer    // the terminal, when TTY
	TTY   bool         // draw a bar on W
	Log   *slog.Logger // for periodic lines when not a TTY
	Every time.Duration
	Now   func() time.Time // default time.Now
	Start time.Time        // when the replay began; default the first Update

	last  time.Time
	drawn bool
}

// Update implements the Config.Progress callback.
func (p *Progress) Update(done, total int) {
	now := p.now()
	if p.Start.IsZero() {
		p.Start = now
	}
	rate := float64(done) / max(now.Sub(p.Start).Seconds(), 1e-3)
	eta := time.Duration(float64(total-done)/max(rate, 1e-9)) * time.Second
	if p.TTY {
		if now.Sub(p.last) < 100*time.Millisecond && done < total {
			return
		}
		p.last, p.drawn = now, true
		fmt.Fprintf(p.W, "\r%s", Bar(done, total, 30, rate, eta))
		return
	}
	every := p.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	if p.Log != nil && (now.Sub(p.last) >= every || done == total) {
		p.last = now
		p.Log.Info("replay progress", "done", done, "total", total,
			"images_per_second", fmt.Sprintf("%.2f", rate), "eta", eta.Round(time.Second))
	}
}

// Done ends the bar's line.
func (p *Progress) Done() {
	if p.TTY && p.drawn {
		fmt.Fprintln(p.W)
	}
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Bar renders one progress line: a bar of width cells, the count, the
// percentage, the rate in images per second and the time left.
func Bar(done, total, width int, rate float64, eta time.Duration) string {
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	full := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %d/%d %3.0f%% %.1f img/s ETA %s ",
		strings.Repeat("█", full), strings.Repeat("░", width-full), done, total, 100*frac,
		rate, eta.Round(time.Second))
}
