package main

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
)

// trainFlags is a flag set with the flags runFlags names, as runTrain
// defines them.
func trainFlags(t *testing.T) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	for _, name := range runFlags {
		switch name {
		case "sigma-input", "guided", "chroma":
			fs.Bool(name, name == "sigma-input", "")
		case "steps", "batch", "warmup", "guides-per-image", "checkpoint-every":
			fs.Int(name, -1, "")
		case "lr", "lr-final", "sigma-min", "sigma-max":
			fs.Float64(name, 0, "")
		case "seed":
			fs.Uint64(name, 1, "")
		default:
			fs.String(name, "", "")
		}
	}
	return fs
}

// Values that mean the same compare equal: image folders by absolute path,
// shapes and corruptions parsed.
func TestCanonicalFlag(t *testing.T) {
	abs, err := filepath.Abs("imgs")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, a, b string }{
		{"images", "imgs", abs},
		{"images", "imgs,/data/x", abs + ",/data/x"},
		{"arch", "07:3:1:16", "7:3:1:16"},
		{"corruption", "gaussian:2.0-55,jpeg:30-90*0.50", "gaussian:2-55,jpeg:30-90*0.5"},
		{"corruption", "gaussian:2-55,jpeg:30-90*.5", "gaussian:2-55,jpeg:30-90*0.5"},
	} {
		if a, b := canonicalFlag(tt.name, tt.a), canonicalFlag(tt.name, tt.b); a != b {
			t.Errorf("-%s %q reads %q, %q reads %q; want the same", tt.name, tt.a, a, tt.b, b)
		}
	}
	if canonicalFlag("arch", "7:3:1:16") == canonicalFlag("arch", "7:3:1:32") {
		t.Error("two shapes compare equal")
	}
	if got := canonicalFlag("corruption", "speckle:1"); got != "speckle:1" {
		t.Errorf("an unparsable corruption became %q, want it as given", got)
	}
}

// The recorded shape is the model's, not -arch's default, which a run from
// -model or -guided does not use.
func TestRecordFlagsTakesTheModelsShape(t *testing.T) {
	fs := trainFlags(t)
	fs.Set("arch", "17:9:3:512,512,512")
	fs.Set("images", "imgs")
	m, err := ae.NewModel("m", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 1, Hidden: []int{16}},
		51)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordFlags(fs, m)
	abs, _ := filepath.Abs("imgs")
	for _, want := range []string{`arch="7:3:1:16"`, `images=` + `"` + abs + `"`} {
		if !strings.Contains(rec, want+"\n") {
			t.Errorf("record lacks %s:\n%s", want, rec)
		}
	}
}

// A state from before settings were recorded keeps -warmup 0's meaning of
// then, the default; a recorded -warmup 0 means none.
func TestApplyRecordedWarmup(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	fs := trainFlags(t)
	fs.Set("warmup", "0")
	if err := applyRecorded(fs, "", map[string]bool{"warmup": true}, log); err != nil {
		t.Fatal(err)
	}
	if got := fs.Lookup("warmup").Value.String(); got != "-1" {
		t.Errorf("format 1 state with -warmup 0: warmup %s, want -1 (the default)", got)
	}
	fs = trainFlags(t)
	if err := applyRecorded(fs, "warmup=\"0\"\n", map[string]bool{}, log); err != nil {
		t.Fatal(err)
	}
	if got := fs.Lookup("warmup").Value.String(); got != "0" {
		t.Errorf("recorded -warmup 0: warmup %s, want 0 (none)", got)
	}
	// -checkpoint-every may change; -images too, with a warning.
	fs = trainFlags(t)
	fs.Set("checkpoint-every", "50")
	fs.Set("images", "elsewhere")
	err := applyRecorded(fs, "checkpoint-every=\"2000\"\nimages=\"/data/imgs\"\n",
		map[string]bool{"checkpoint-every": true, "images": true}, log)
	if err != nil || fs.Lookup("checkpoint-every").Value.String() != "50" {
		t.Errorf("-checkpoint-every 50 on resume: %v, %s", err,
			fs.Lookup("checkpoint-every").Value)
	}
}

// One run at a time holds an -o.
func TestLockRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.cfm")
	unlock, err := lockRun(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(out); err == nil || !strings.Contains(err.Error(), "another run") {
		t.Fatalf("second lock: %v, want refused", err)
	}
	unlock()
	again, err := lockRun(out)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"runs/m.cfm":    "runs/m.cfm",
		"my runs/m.cfm": "'my runs/m.cfm'",
		"it's.cfm":      `'it'\''s.cfm'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// A state that cannot be put in place leaves the previous pair: the model
// written just before it goes back to the previous one.
func TestSaveCheckpointKeepsThePair(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.cfm")
	m1, err := ae.NewModel("m", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 1,
		Hidden: []int{8}}, 51)
	if err != nil {
		t.Fatal(err)
	}
	m1.Stamp()
	st := ae.TrainState{Step: 10, Adam: ae.NewAdam(len(m1.Net.Params)), Version: m1.Version()}
	if err := saveCheckpoint(path, m1, st); err != nil {
		t.Fatal(err)
	}
	m2 := m1.Clone()
	m2.Net.Params[0] += 1
	m2.Stamp()
	st.Step, st.Version = 20, m2.Version()
	// A folder with something in it cannot be renamed over.
	if err := os.Remove(path + ".state"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path+".state", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := saveCheckpoint(path, m2, st); err == nil {
		t.Fatal("the state was put in place over a folder")
	}
	got, err := ae.Load(path)
	if err != nil || got.Version() != m1.Version() {
		t.Fatalf("model after the failed checkpoint: %v, %v; want the previous one, %s", got,
			err, m1.Version())
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 2 {
		t.Errorf("files left: %v, want m.cfm and m.cfm.state", left)
	}
}
