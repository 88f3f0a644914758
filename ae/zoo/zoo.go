// Package zoo names the models shipped with cleanframe, from the fastest to
// the best: fast, balanced (the default, [ae.Default]) and quality. Each was
// trained on this project's data with cmd/trainer; the README gives the
// recipes and a speed-quality table.
package zoo

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/cleanframe/cleanframe/ae"
)

// Names lists the shipped models, fastest first.
var Names = []string{"fast", "balanced", "quality"}

var (
	//go:embed fast.cfm
	fastData []byte
	//go:embed quality.cfm
	qualityData []byte
)

func embedded(name string, data []byte) func() (*ae.Model, error) {
	return sync.OnceValues(func() (*ae.Model, error) {
		m, err := ae.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", name, err)
		}
		return m, nil
	})
}

var models = map[string]func() (*ae.Model, error){
	"fast":     embedded("fast", fastData),
	"balanced": ae.Default,
	"quality":  embedded("quality", qualityData),
}

// Shipped reports whether name names a shipped model ("default" too).
func Shipped(name string) bool {
	_, ok := models[name]
	return ok || name == "default"
}

// Load returns the shipped model of that name ("" and "default" are
// "balanced"), or else reads the model file at that path. Shipped models are
// shared: callers must not change them (use Clone).
func Load(nameOrPath string) (*ae.Model, error) {
	switch nameOrPath {
	case "", "default":
		return ae.Default()
	}
	if get, ok := models[nameOrPath]; ok {
		return get()
	}
	m, err := ae.Load(nameOrPath)
	if err != nil && !strings.ContainsAny(nameOrPath, `/\.`) {
		return nil, fmt.Errorf("%w (a shipped model is one of %s)", err,
			strings.Join(Names, ", "))
	}
	return m, err
}

// Usage is the help text of a -model flag that takes zoo names.
const Usage = "model: fast, balanced (the default) or quality, or a model file"
