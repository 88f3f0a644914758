package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/pipeline"
)

// RegistryModels reads the models topic from its start until every wanted
// model is found or wait has passed, and returns them in the order asked.
// A wanted model is "VERSION" or "NAME/VERSION". Only versions whose
// manifest is still on the topic can be found (see the package's BUG).
func RegistryModels(ctx context.Context, cfg *pipeline.Config, want []string,
	wait time.Duration) ([]Model, error) {
	if len(want) == 0 {
		return nil, nil
	}
	found := make([]*Model, len(want))
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var errs []error
	err := pipeline.FollowModels(ctx, cfg, func(_ context.Context, man pipeline.ModelManifest,
		data []byte) {
		for i, w := range want {
			if found[i] != nil || (w != man.Version && w != man.Name+"/"+man.Version) {
				continue
			}
			m, err := ae.Decode(data)
			if err != nil {
				errs = append(errs, fmt.Errorf("registry model %s: %w", w, err))
				continue
			}
			found[i] = &Model{Label: man.Version, Model: m,
				Source: "registry:" + man.Name + "/" + man.Version}
		}
		if !slicesHaveNil(found) {
			cancel()
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]Model, 0, len(want))
	for i, f := range found {
		if f == nil {
			errs = append(errs, fmt.Errorf("registry model %q not found on %s within %s",
				want[i], cfg.Topics().Models, wait))
			continue
		}
		out = append(out, *f)
	}
	return out, errors.Join(errs...)
}

func slicesHaveNil(ms []*Model) bool {
	for _, m := range ms {
		if m == nil {
			return true
		}
	}
	return false
}

// UniqueLabels makes the models' labels unique and non-empty: an empty
// label becomes the version (or "model N"), and a repeated one gets " #2",
// " #3", ... in order.
func UniqueLabels(ms []Model) {
	seen := map[string]int{}
	for i := range ms {
		l := strings.TrimSpace(ms[i].Label)
		if l == "" {
			l = ms[i].Model.Version()
		}
		if l == "" {
			l = fmt.Sprintf("model %d", i+1)
		}
		seen[l]++
		if seen[l] > 1 {
			l = fmt.Sprintf("%s #%d", l, seen[l])
		}
		ms[i].Label = l
	}
}
