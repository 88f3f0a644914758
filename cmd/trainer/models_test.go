package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestModelsCommand drives `trainer models` against an embedded broker:
// list shows versions with parent and metrics, rollback and pin change
// what list calls current and pinned, and bad arguments are refused.
func TestModelsCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	flags := []string{"-brokers", strings.Join(e.Brokers(), ","), "-topic-prefix", "cli"}
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "cli"}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	for i, v := range []string{"va", "vb"} {
		m, err := ae.NewModel("dae", ae.Arch{PatchIn: 5, PatchOut: 3, Stride: 1,
			Hidden: []int{4}}, 51)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Version = v
		if i > 0 {
			m.Header.Parent = "va"
		}
		m.Header.Metrics = map[string]float64{"psnr": 30 + float64(i)}
		data, _ := m.MarshalBinary()
		if _, err := mp.PublishModel(ctx, "dae", v, data); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := append([]string{args[0]}, flags...)
		err := modelsCommand(ctx, slog.New(slog.DiscardHandler), &out,
			append(cmd, args[1:]...))
		return out.String(), err
	}
	steps := []struct {
		args    []string
		wantErr bool
		want    []string // substrings of the output
	}{
		{[]string{"list"}, false, []string{"dae   va ", "dae   vb       va", "current",
			"psnr=31"}},
		{[]string{"rollback", "dae"}, false, []string{"rolled dae back to va"}},
		{[]string{"pin", "dae", "vb"}, false, []string{"pinned dae to vb"}},
		{[]string{"list"}, false, []string{"current,pinned"}},
		{[]string{"unpin", "dae"}, false, []string{"unpinned dae"}},
		{[]string{"pin", "dae"}, true, nil},
		{[]string{"rollback", "dae", "nope"}, true, nil},
		{[]string{"frobnicate"}, true, nil},
	}
	for _, s := range steps {
		out, err := run(s.args...)
		if (err != nil) != s.wantErr {
			t.Fatalf("models %v: error %v, want error %v; output:\n%s", s.args, err,
				s.wantErr, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("models %v: output lacks %q:\n%s", s.args, w, out)
			}
		}
	}
}
