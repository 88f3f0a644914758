package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// captureStdout runs f with os.Stdout sent to a pipe and returns what it
// wrote.
func captureStdout(t *testing.T, f func() error) []byte {
	t.Helper()
	stdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	err = f()
	w.Close()
	os.Stdout = stdout
	out := <-done
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplayMatchesEvalAndRepeats(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	testImages(t, in)
	ctx := context.Background()
	replay := func(name string) {
		err := run(ctx, []string{"replay", "--images", in, "--sigma", "15,25", "--seed", "3",
			"--model", "default", "--latency=false", "--progress", "off",
			"--json", filepath.Join(out, name+".json"), "--html", filepath.Join(out, name+".html")})
		if err != nil {
			t.Fatal(err)
		}
	}
	replay("a")
	replay("b")
	for _, ext := range []string{".json", ".html"} {
		a, _ := os.ReadFile(filepath.Join(out, "a"+ext))
		b, _ := os.ReadFile(filepath.Join(out, "b"+ext))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: two replays wrote different bytes (%d and %d)", ext, len(a), len(b))
		}
	}

	var rep struct {
		SchemaVersion int `json:"schema_version"`
		BySigma       []struct {
			Sigma  float64 `json:"sigma"`
			Models []struct {
				PSNR float64 `json:"psnr_db"`
			} `json:"models"`
		} `json:"by_sigma"`
	}
	data, _ := os.ReadFile(filepath.Join(out, "a.json"))
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.SchemaVersion != 1 || len(rep.BySigma) != 2 {
		t.Fatalf("report %s", data)
	}
	for _, g := range rep.BySigma {
		sigma := strconv.FormatFloat(g.Sigma, 'g', -1, 64)
		evalOut := captureStdout(t, func() error {
			return run(ctx, []string{"eval", "--images", in, "--sigma", sigma, "--seed", "3",
				"--json"})
		})
		var ev struct {
			PSNR float64 `json:"psnr_db"`
		}
		if err := json.Unmarshal(evalOut, &ev); err != nil {
			t.Fatalf("eval output %q: %v", evalOut, err)
		}
		if d := math.Abs(g.Models[0].PSNR - ev.PSNR); d > 0.01 {
			t.Errorf("sigma %s: replay %.4f dB, eval %.4f dB", sigma, g.Models[0].PSNR, ev.PSNR)
		}
	}
}

func TestReplayRejectsBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"no input":        {"replay"},
		"two inputs":      {"replay", "--images", "x", "--topic", "y"},
		"two references":  {"replay", "--images", "x", "--sigma", "25", "--reference-dir", "r"},
		"bad sigma":       {"replay", "--images", "x", "--sigma", "25,abc"},
		"offsets on dir":  {"replay", "--images", "x", "--from-offset", "3"},
		"topic no broker": {"replay", "--topic", "images.noisy"},
	} {
		t.Setenv("KAFKA_BROKERS", "")
		if err := run(context.Background(), args); err == nil {
			t.Errorf("%s: %q gave no error", name, args)
		}
	}
}

// The command replays a topic against an embedded broker, joining a folder
// of clean images by file name.
func TestReplayTopicWithReferenceDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &pipeline.Config{Brokers: e.Brokers(), TopicPrefix: "r", Partitions: 1}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	clean, out := t.TempDir(), t.TempDir()
	testImages(t, clean)
	p, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, name := range []string{"grey.png", "colour.png"} {
		data, err := os.ReadFile(filepath.Join(clean, name))
		if err != nil {
			t.Fatal(err)
		}
		rec := &pipeline.Record{Topic: cfg.Topics().Noisy, Key: []byte(name), Value: data}
		rec.SetHeader(pipeline.HeaderNoiseSigma, "10")
		if err := p.Produce(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	jsonPath := filepath.Join(out, "r.json")
	err = run(ctx, []string{"replay", "--brokers", strings.Join(e.Brokers(), ","),
		"--topic", cfg.Topics().Noisy, "--partition", "0", "--to-offset", "2",
		"--reference-dir", clean, "--progress", "log", "--json", jsonPath})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(jsonPath)
	var rep struct {
		Images int `json:"images"`
		Source struct {
			Kind      string `json:"kind"`
			Reference string `json:"reference"`
		} `json:"source"`
		PerImage []struct {
			ID    string   `json:"id"`
			Sigma *float64 `json:"sigma"`
		} `json:"per_image"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Images != 2 || rep.Source.Kind != "kafka" || rep.Source.Reference != "dir:"+clean ||
		rep.PerImage[0].ID != "grey.png" || *rep.PerImage[1].Sigma != 10 {
		t.Errorf("report %s", data)
	}
}

// --render rebuilds the same HTML from the JSON report alone.
func TestReplayRenderFromJSON(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	testImages(t, in)
	ctx := context.Background()
	jsonPath, htmlPath := filepath.Join(out, "r.json"), filepath.Join(out, "r.html")
	err := run(ctx, []string{"replay", "--images", in, "--sigma", "20,30", "--seed", "4",
		"--latency=false", "--progress", "off", "--json", jsonPath, "--html", htmlPath})
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(out, "again.html")
	if err := run(ctx, []string{"replay", "--render", jsonPath, "--html", again}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(htmlPath)
	b, _ := os.ReadFile(again)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("re-rendered HTML differs (%d and %d bytes)", len(a), len(b))
	}
}
