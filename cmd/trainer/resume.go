package main

import (
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanframe/cleanframe/ae"
)

// Stopping and resuming a training run: the checkpoint in -o, the state in
// -o.state with the run's flags recorded, and a lock so that one run at a
// time writes them.

// runFlags are the flags that define a training run. Its state records
// them, and a resumed run takes them from there.
var runFlags = []string{"images", "arch", "sigma-input", "name", "steps", "batch", "lr",
	"lr-final", "warmup", "sigma-min", "sigma-max", "corruption", "seed", "guided",
	"guides-per-image", "chroma", "checkpoint-every"}

// freeFlags may be given again with other values when a run resumes: the
// images may have moved (which is logged), and checkpoints may come more or
// less often.
var freeFlags = []string{"images", "checkpoint-every"}

// recordFlags writes the values of runFlags, one name=quoted value a line,
// in canonical form; the arch recorded is m's, which a run from -model or
// -guided takes from its model rather than from -arch.
func recordFlags(fs *flag.FlagSet, m *ae.Model) string {
	var b strings.Builder
	for _, name := range runFlags {
		v := fs.Lookup(name).Value.String()
		if name == "arch" {
			v = formatArch(m.Header.Arch)
		}
		fmt.Fprintf(&b, "%s=%s\n", name, strconv.Quote(canonicalFlag(name, v)))
	}
	return b.String()
}

// canonicalFlag writes a flag's value in one form, so that values that
// mean the same compare equal: absolute image folders, a parsed shape, a
// parsed corruption. A value that does not parse is left for the flag's
// own check.
func canonicalFlag(name, v string) string {
	switch name {
	case "images":
		dirs := strings.Split(v, ",")
		for i, d := range dirs {
			if abs, err := filepath.Abs(d); err == nil && d != "" {
				dirs[i] = abs
			}
		}
		return strings.Join(dirs, ",")
	case "arch":
		if a, err := parseArch(v); err == nil {
			return formatArch(a)
		}
	case "corruption":
		if c, err := ae.ParseCorruption(v); err == nil && v != "" {
			return c.String()
		}
	}
	return v
}

// applyRecorded sets the flags of a resumed run to the values its stopped
// run recorded. A flag given again with another value is refused, except
// freeFlags. A state from before settings were recorded (format 1) leaves
// the flags as given, but -warmup 0, which then meant the default, keeps
// that meaning.
func applyRecorded(fs *flag.FlagSet, rec string, explicit map[string]bool,
	log *slog.Logger) error {
	if rec == "" {
		if explicit["warmup"] && fs.Lookup("warmup").Value.String() == "0" {
			log.Warn("the stopped run's state predates recorded settings, when -warmup 0 " +
				"meant the default warm-up; it keeps that meaning")
			return fs.Set("warmup", "-1")
		}
		return nil
	}
	var differ []string
	for _, line := range strings.Split(strings.TrimSuffix(rec, "\n"), "\n") {
		name, quoted, _ := strings.Cut(line, "=")
		val, err := strconv.Unquote(quoted)
		f := fs.Lookup(name)
		if err != nil || f == nil || !slices.Contains(runFlags, name) {
			return fmt.Errorf("resume: the state records an unknown setting %q; was it "+
				"written by a newer trainer?", line)
		}
		got := canonicalFlag(name, f.Value.String())
		switch {
		case !explicit[name]:
			if err := fs.Set(name, val); err != nil {
				return fmt.Errorf("resume: the state's -%s %s: %w", name, val, err)
			}
		case got == canonicalFlag(name, val):
		case name == "images":
			log.Warn("resuming on other images than the run started with", "images", got,
				"recorded", val)
		case slices.Contains(freeFlags, name):
		default:
			differ = append(differ, fmt.Sprintf("-%s %s (the run has %s)", name, got, val))
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("resume: %s; a resumed run keeps the settings it started with, "+
			"so drop these flags (or start a new run)", strings.Join(differ, ", "))
	}
	return nil
}

// formatArch writes a shape as -arch takes it.
func formatArch(a ae.Arch) string {
	widths := make([]string, len(a.Hidden))
	for i, h := range a.Hidden {
		widths[i] = strconv.Itoa(h)
	}
	return fmt.Sprintf("%d:%d:%d:%s", a.PatchIn, a.PatchOut, a.Stride,
		strings.Join(widths, ","))
}

// warmupSteps maps the -warmup flag (-1 default, 0 none) to TrainConfig's.
func warmupSteps(flagValue int) int {
	switch flagValue {
	case -1:
		return 0
	case 0:
		return ae.NoWarmup
	}
	return flagValue
}

// loadResume reads the checkpoint at path and the state beside it, refusing
// a pair that does not belong together.
func loadResume(path string) (*ae.Model, *ae.TrainState, error) {
	m, err := ae.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	st, err := ae.LoadTrainState(path+".state", len(m.Net.Params))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil, fmt.Errorf("resume: %s has no stopped run to continue (no %s.state: "+
			"a run that finished removes it); train it further with -model %s", path, path,
			shellQuote(path))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	if st.Version != m.Version() {
		return nil, nil, fmt.Errorf("resume: %s.state belongs to model %s, but %s is %s; "+
			"continue with -model %s instead (a new optimiser state)", path, st.Version,
			path, m.Version(), shellQuote(path))
	}
	return m, &st, nil
}

// checkResume refuses flags that cannot continue the stopped run of m: a
// step count it has already reached, or another shape. (A state that
// records its settings has refused other values already.)
func checkResume(m *ae.Model, st *ae.TrainState, steps int, arch string, archSet bool) error {
	if steps <= st.Step {
		return fmt.Errorf("resume: the stopped run has done %d steps already, and -steps is "+
			"%d; repeat the first run's -steps (its state is kept)", st.Step, steps)
	}
	if !archSet {
		return nil
	}
	if a := canonicalFlag("arch", arch); a != formatArch(m.Header.Arch) {
		return fmt.Errorf("resume: -arch %s, but the stopped run's model is %s", arch,
			formatArch(m.Header.Arch))
	}
	return nil
}

// saveCheckpoint writes a checkpoint: the model to path and the state to
// path.state, each through a file of its own name renamed into place, the
// state last. A failure leaves the previous pair as it was: should the
// state's rename fail, the previous model, kept under a second name, goes
// back. Only a crash between the two renames leaves a pair that does not
// belong together, which -resume then says.
func saveCheckpoint(path string, m *ae.Model, st ae.TrainState) error {
	data, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("save training state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save training state %s.state: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save training state %s.state: %w", path, err)
	}
	// The previous model, under a second name (a hard link) while the pair
	// is replaced; none at the first checkpoint of a new -o.
	prev := filepath.Join(filepath.Dir(path), fmt.Sprintf(".prev-%s-%d",
		filepath.Base(path), os.Getpid()))
	os.Remove(prev)
	if os.Link(path, prev) != nil {
		prev = ""
	} else {
		defer os.Remove(prev)
	}
	if err := m.Save(path); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path+".state"); err != nil {
		if prev != "" {
			if rerr := os.Rename(prev, path); rerr != nil {
				return fmt.Errorf("save training state %s.state: %w; and put the previous "+
					"model back: %w", path, err, rerr)
			}
		}
		return fmt.Errorf("save training state %s.state: %w", path, err)
	}
	return nil
}

// shellQuote quotes a path for a shell command line when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		safe = safe && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("/._-+:,@%", r))
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
