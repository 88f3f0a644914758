package ae

import (
	_ "embed"
	"fmt"
	"sync"
)

// defaultModel is the model shipped with cleanframe: trained on the Train400
// grey images with cmd/trainer (see the README for the recipe).
//
//go:embed default.cfm
var defaultModel []byte

var loadDefault = sync.OnceValues(func() (*Model, error) {
	m, err := Decode(defaultModel)
	if err != nil {
		return nil, fmt.Errorf("embedded default model: %w", err)
	}
	return m, nil
})

// Default returns the shipped default model. The model is shared: callers
// must not change it (use Clone).
func Default() (*Model, error) { return loadDefault() }
