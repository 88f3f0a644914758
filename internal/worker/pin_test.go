package worker

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/cleanframe/cleanframe/pipeline"
)

// TestPins steps a denoiser through model records and pins, from a pin
// record on the topic and from Config.Pin, and checks the version served
// and the rejects counted after each step.
func TestPins(t *testing.T) {
	decode := func(data []byte) (Model, error) {
		if string(data) == "bad" {
			return nil, errors.New("checksum mismatch")
		}
		return blur{string(data)}, nil
	}
	type step struct {
		name      string
		pin       *string // a pin record for "dae" with this version
		version   string  // else a model record of this version ("bad": corrupt)
		want      string
		wantRejct int64
	}
	ptr := func(s string) *string { return &s }
	tests := []struct {
		name      string
		configPin string
		steps     []step
	}{
		{"pin record", "", []step{
			{name: "follows before a pin", version: "v2", want: "v2"},
			{name: "pin v2", pin: ptr("v2"), want: "v2"},
			{name: "newer refused while pinned", version: "v3", want: "v2"},
			{name: "corrupt still counted", version: "bad", want: "v2", wantRejct: 1},
			{name: "pin v1", pin: ptr("v1"), want: "v2", wantRejct: 1},
			{name: "v1 republished swaps back", version: "v1", want: "v1", wantRejct: 1},
			{name: "unpin", pin: ptr(""), want: "v1", wantRejct: 1},
			{name: "follows again", version: "v4", want: "v4", wantRejct: 1},
		}},
		{"config pin outranks records", "v1", []step{
			{name: "newer refused", version: "v2", want: "v1"},
			{name: "pin record ignored", pin: ptr("v3"), want: "v1"},
			{name: "v3 refused", version: "v3", want: "v1"},
		}},
	}
	for _, tt := range tests {
		d, err := New(Config{Topics: pipeline.TopicsFor(""), ModelName: "dae",
			Pin: tt.configPin, Logger: slog.New(slog.DiscardHandler)}, nil, nil, blur{"v1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tt.steps {
			if s.pin != nil {
				d.offerPin(pipeline.ModelPin{Name: "dae", Version: *s.pin})
			} else {
				d.offerModel(pipeline.ModelManifest{Name: "dae", Version: s.version},
					[]byte(s.version), decode)
			}
			if got, n := d.Model().Version(), d.ModelRejects(); got != s.want ||
				n != s.wantRejct {
				t.Errorf("%s: %s: serving %s with %d rejects, want %s with %d", tt.name,
					s.name, got, n, s.want, s.wantRejct)
			}
		}
	}
}
