package replay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	got := Bar(50, 200, 8, 2.5, 60*time.Second)
	want := "[██░░░░░░] 50/200  25% 2.5 img/s ETA 1m0s "
	if got != want {
		t.Errorf("Bar = %q, want %q", got, want)
	}
}

func TestProgressTTYAndLog(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var tty bytes.Buffer
	p := &Progress{W: &tty, TTY: true, Now: clock, Start: now}
	for i := 1; i <= 4; i++ {
		now = now.Add(time.Second)
		p.Update(i, 4)
	}
	p.Done()
	if n := strings.Count(tty.String(), "\r"); n != 4 || !strings.HasSuffix(tty.String(), "\n") {
		t.Errorf("terminal output %q: want 4 redraws and a final newline", tty.String())
	}

	var logs bytes.Buffer
	lp := &Progress{Log: slog.New(slog.NewTextHandler(&logs, nil)), Every: 10 * time.Second,
		Now: clock, Start: now}
	for i := 1; i <= 30; i++ {
		now = now.Add(time.Second)
		lp.Update(i, 30)
	}
	// Lines for the first image, then at 10 s and 20 s, and the last one.
	if n := strings.Count(logs.String(), "replay progress"); n != 4 {
		t.Errorf("%d log lines, want 4:\n%s", n, logs.String())
	}
}
