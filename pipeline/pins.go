package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ModelPin holds the denoisers that follow a model name at one version.
//
// A pin is a record on the models topic keyed "NAME/pin" (a key no chunk
// or manifest uses, so compaction keeps the latest pin beside the latest
// manifest), with part header "pin" and this struct as JSON. An empty
// Version lifts the pin. A denoiser that sees a pin swaps only to the
// pinned version and refuses the others until the pin is lifted; to move a
// fleet back to an older version, publish that version again after the pin
// (as `trainer models pin` does).
type ModelPin struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"` // "" lifts the pin
	PinnedAt time.Time `json:"pinned_at"`
}

// PinFunc receives pin records in topic order.
type PinFunc func(ctx context.Context, p ModelPin)

// PinKey is the record key of name's pin.
func PinKey(name string) string { return name + "/pin" }

// PublishPin writes a pin record for name; an empty version lifts the pin.
func (mp *ModelPublisher) PublishPin(ctx context.Context, name, version string) (ModelPin,
	error) {
	p := ModelPin{Name: name, Version: version, PinnedAt: time.Now().UTC()}
	check := version
	if check == "" {
		check = "-"
	}
	if err := checkModelName(name, check); err != nil {
		return p, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return p, fmt.Errorf("publish pin %s: %w", name, err)
	}
	r := &Record{Topic: mp.topic, Key: []byte(PinKey(name)), Value: body}
	r.SetHeader(HeaderModelPart, "pin")
	r.SetHeader(HeaderModelName, name)
	r.SetHeader(HeaderModelVersion, version)
	if err := mp.p.Produce(ctx, r); err != nil {
		return p, fmt.Errorf("publish pin %s/%s: %w", name, version, err)
	}
	return p, nil
}

// handlePin parses a pin record and hands it to f.pin.
func (f *follower) handlePin(ctx context.Context, rec Record) error {
	var p ModelPin
	if err := json.Unmarshal(rec.Value, &p); err != nil {
		return fmt.Errorf("pin record: %w", err)
	}
	if string(rec.Key) != PinKey(p.Name) {
		return fmt.Errorf("pin record key %q for model %q", rec.Key, p.Name)
	}
	if f.pin != nil {
		f.pin(ctx, p)
	}
	return nil
}
