package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stage is one FROM section of a Dockerfile.
type stage struct {
	name, from string
	lines      []string // instructions, continuation lines joined
}

// parseDockerfile splits a Dockerfile into its stages.
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []stage
		cur    string
	)
	add := func(line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		if strings.EqualFold(f[0], "FROM") {
			args := slices.DeleteFunc(f[1:], func(s string) bool { return strings.HasPrefix(s, "--") })
			st := stage{from: args[0]}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				st.name = args[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		add(cur + l)
		cur = ""
	}
	return stages
}

// TestDockerfile checks the image recipe: a Go build stage that makes
// static, trimmed binaries; one scratch-based target per service whose name
// matches the chart's repository; a numeric non-root user; exec-form
// entrypoints (there is no shell in the image).
func TestDockerfile(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}

	build, ok := byName["build"]
	if !ok || !strings.HasPrefix(build.from, "golang:") {
		t.Fatalf("no golang build stage: %+v", stages)
	}
	all := strings.Join(build.lines, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/ingest",
		"./cmd/denoiser", "./cmd/trainer"} {
		if !strings.Contains(all, want) {
			t.Errorf("build stage lacks %s", want)
		}
	}
	if b, ok := byName["base"]; !ok || b.from != "scratch" {
		t.Errorf("base stage %+v: want FROM scratch", b)
	}
	user := regexp.MustCompile(`^USER\s+(\d+):(\d+)$`)
	var uid string
	for _, l := range byName["base"].lines {
		if m := user.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			uid = m[1]
		}
	}
	if uid == "" || uid == "0" {
		t.Errorf("base stage sets no numeric non-root USER (got %q)", uid)
	}

	vals := loadChart(t).Values
	for _, svc := range []string{"ingest", "denoiser", "trainer"} {
		s, ok := byName[svc]
		if !ok {
			t.Errorf("no target %s", svc)
			continue
		}
		if s.from != "base" {
			t.Errorf("target %s is FROM %s, want base", svc, s.from)
		}
		if repo := str(vals, svc+".repository"); repo != "cleanframe/"+svc {
			t.Errorf("chart repository of %s is %q, the build script tags cleanframe/%s", svc, repo, svc)
		}
		var entry string
		for _, l := range s.lines {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "USER") {
				t.Errorf("target %s changes USER: %s", svc, l)
			}
			if strings.HasPrefix(l, "ENTRYPOINT") {
				entry = l
			}
		}
		if entry != `ENTRYPOINT ["/usr/local/bin/`+svc+`"]` {
			t.Errorf("target %s: %q, want the binary in exec form", svc, entry)
		}
	}
	if got := fmt.Sprint(int64(num(t, vals, "security.runAsUser"))); uid != "" && got != uid {
		t.Errorf("the chart runs as user %s, the image as %s", got, uid)
	}
}

// TestDockerignoreKeepsSources checks that .dockerignore leaves in what the
// build needs: the embedded model, the Go sources and the validation
// photographs, and leaves out the git history.
func TestDockerignoreKeepsSources(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			pats = append(pats, l)
		}
	}
	ignored := func(path string) bool {
		out := false
		for _, p := range pats {
			neg := strings.HasPrefix(p, "!")
			p = strings.TrimPrefix(p, "!")
			if matchIgnore(p, path) {
				out = !neg
			}
		}
		return out
	}
	for _, keep := range []string{"go.mod", "go.sum", "ae/default.cfm", "ae/default.go", "cmd/denoiser/main.go",
		"pipeline/config.go", "examples/images/camera.png", "examples/images/LICENSES.md", "ae/gemm/kernel_amd64.go"} {
		if ignored(keep) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git", "deploy/helm/cleanframe/values.yaml", "pipeline/config_test.go",
		"internal/imageio/testdata/x.png"} {
		if !ignored(drop) {
			t.Errorf(".dockerignore keeps %s", drop)
		}
	}
}

// matchIgnore matches a .dockerignore pattern against a slash path: a
// pattern matches the path or any folder above it; ** spans folders.
func matchIgnore(pattern, path string) bool {
	re := "^" + strings.NewReplacer(`\*\*/`, "(.*/)?", `\*\*`, ".*", `\*`, "[^/]*", `\?`, "[^/]").
		Replace(regexp.QuoteMeta(pattern)) + "(/.*)?$"
	return regexp.MustCompile(re).MatchString(path)
}
