package retrain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/pipeline"
)

// The registry is the compacted models topic itself: every version's
// chunks stay under their own keys (name/version/index), the manifest keyed
// by the model name says which version is current, and a pin record keyed
// name/pin holds denoisers at one version (see pipeline.ModelPin). The
// functions here read it from the start to its end offset and write
// manifests and pins; they keep at most one version's bytes in memory.

// Entry is one model version found on the models topic.
type Entry struct {
	Name    string
	Version string
	Parent  string             // from the model header
	Created time.Time          // from the model header
	Metrics map[string]float64 // from the model header
	Steps   int64              // training steps, from the model header
	Length  int64              // bytes
	Chunks  int                // chunks the model has
	Have    int                // chunks found on the topic
	// Stored is the broker time of the version's first chunk on the topic.
	Stored time.Time
	// Current says this is the version denoisers serve: the latest one a
	// manifest named that is a valid model.
	Current bool
	// Pinned says the latest pin record of Name names this version.
	Pinned bool
	// HeaderErr says why the model header could not be read, if it could
	// not; the entry then has no Parent, Created or Metrics.
	HeaderErr string
	// Invalid says why a complete version is not a valid model (checksum,
	// shape, NaN or Inf, format version): denoisers refuse it.
	Invalid string
}

// Complete reports whether every chunk of the version is on the topic and
// it is a valid model, so that it can be rolled back to.
func (e Entry) Complete() bool { return e.Have == e.Chunks && e.Invalid == "" }

// Registry is what the models topic holds.
type Registry struct {
	Entries []Entry           // in the order their first chunks were found
	Current map[string]string // model name to current version
	Pins    map[string]string // model name to pinned version, when pinned
}

// Find returns the entry of name and version.
func (r *Registry) Find(name, version string) (Entry, bool) {
	for _, e := range r.Entries {
		if e.Name == name && e.Version == version {
			return e, true
		}
	}
	return Entry{}, false
}

// ReadRegistry reads cfg's models topic from its start to its end offset.
// It validates each version as its last chunk arrives, holding the bytes of
// only the versions whose chunks are still arriving.
func ReadRegistry(ctx context.Context, cfg *pipeline.Config) (*Registry, error) {
	reg := &Registry{Current: map[string]string{}, Pins: map[string]string{}}
	index := map[[2]string]int{}
	type assembly struct {
		chunks [][]byte
		have   int
	}
	partial := map[[2]string]*assembly{} // versions whose chunks are arriving
	err := scanModels(ctx, cfg, func(rec pipeline.Record) error {
		name := rec.HeaderString(pipeline.HeaderModelName)
		version := rec.HeaderString(pipeline.HeaderModelVersion)
		switch rec.HeaderString(pipeline.HeaderModelPart) {
		case "pin":
			var p pipeline.ModelPin
			if err := json.Unmarshal(rec.Value, &p); err == nil {
				reg.Pins[p.Name] = p.Version
				if p.Version == "" {
					delete(reg.Pins, p.Name)
				}
			}
		case "manifest":
			if i, ok := index[[2]string{name, version}]; ok && reg.Entries[i].Complete() {
				reg.Current[name] = version
			}
		case "chunk":
			k := [2]string{name, version}
			i, ok := index[k]
			if !ok {
				e := Entry{Name: name, Version: version, Stored: rec.Time}
				e.Length, _ = strconv.ParseInt(rec.HeaderString(pipeline.HeaderModelLength),
					10, 64)
				e.Chunks, _ = strconv.Atoi(rec.HeaderString(pipeline.HeaderChunkCount))
				i = len(reg.Entries)
				index[k] = i
				reg.Entries = append(reg.Entries, e)
			}
			e := &reg.Entries[i]
			idx, err := strconv.Atoi(rec.HeaderString(pipeline.HeaderChunkIndex))
			if err != nil || idx < 0 || idx >= e.Chunks || e.Chunks > pipeline.MaxModelBytes {
				return nil
			}
			// A version published again (rollback, pin) is assembled anew.
			a := partial[k]
			if a == nil {
				a = &assembly{chunks: make([][]byte, e.Chunks)}
				partial[k] = a
			}
			if a.chunks[idx] == nil {
				a.have++
			}
			a.chunks[idx] = bytes.Clone(rec.Value)
			e.Have = max(e.Have, a.have)
			if idx == 0 {
				readHeader(e, rec.Value)
			}
			if a.have == e.Chunks {
				e.Invalid = validate(bytes.Join(a.chunks, nil), version,
					rec.HeaderString(pipeline.HeaderModelSHA256))
				delete(partial, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range reg.Entries {
		e := &reg.Entries[i]
		e.Current = reg.Current[e.Name] == e.Version
		e.Pinned = reg.Pins[e.Name] == e.Version
	}
	return reg, nil
}

// validate says why data is not the valid model version with SHA-256 sum,
// or returns "".
func validate(data []byte, version, sum string) string {
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return "chunks do not match their checksum"
	}
	m, err := ae.Decode(data)
	if err != nil {
		return err.Error()
	}
	if m.Version() != version {
		return "the model says it is version " + m.Version()
	}
	return ""
}

// readHeader fills e from the model header at the start of a model's first
// chunk; the header is not checksummed here (listing only).
func readHeader(e *Entry, chunk []byte) {
	if len(chunk) < 10 || string(chunk[:4]) != "CFAE" {
		e.HeaderErr = "not a cleanframe model"
		return
	}
	n := int(binary.LittleEndian.Uint32(chunk[6:]))
	if n > len(chunk)-10 {
		e.HeaderErr = "header longer than the first chunk"
		return
	}
	var h ae.Header
	if err := json.Unmarshal(chunk[10:10+n], &h); err != nil {
		e.HeaderErr = err.Error()
		return
	}
	e.Parent, e.Created, e.Metrics, e.Steps = h.Parent, h.Created, h.Metrics, h.Steps
}

// FetchModel reads the bytes of name at version back from the models topic
// and checks them against the SHA-256 its chunks carry and as a model.
func FetchModel(ctx context.Context, cfg *pipeline.Config, name, version string) ([]byte,
	error) {
	var chunks [][]byte
	var sum string
	err := scanModels(ctx, cfg, func(rec pipeline.Record) error {
		if rec.HeaderString(pipeline.HeaderModelPart) != "chunk" ||
			rec.HeaderString(pipeline.HeaderModelName) != name ||
			rec.HeaderString(pipeline.HeaderModelVersion) != version {
			return nil
		}
		n, err := strconv.Atoi(rec.HeaderString(pipeline.HeaderChunkCount))
		i, err2 := strconv.Atoi(rec.HeaderString(pipeline.HeaderChunkIndex))
		if err != nil || err2 != nil || i < 0 || i >= n || n > pipeline.MaxModelBytes {
			return fmt.Errorf("model %s/%s: bad chunk headers", name, version)
		}
		if chunks == nil {
			chunks = make([][]byte, n)
		}
		if len(chunks) != n {
			return fmt.Errorf("model %s/%s: chunk counts disagree", name, version)
		}
		chunks[i] = bytes.Clone(rec.Value)
		sum = rec.HeaderString(pipeline.HeaderModelSHA256)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if chunks == nil {
		return nil, fmt.Errorf("model %s/%s is not on the models topic", name, version)
	}
	for i, c := range chunks {
		if c == nil {
			return nil, fmt.Errorf("model %s/%s: chunk %d of %d is missing", name, version, i,
				len(chunks))
		}
	}
	data := bytes.Join(chunks, nil)
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("model %s/%s: checksum of the chunks does not match", name,
			version)
	}
	m, err := ae.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("model %s/%s: %w", name, version, err)
	}
	if m.Version() != version {
		return nil, fmt.Errorf("model %s/%s says it is version %s", name, version, m.Version())
	}
	return data, nil
}

// Rollback makes version the current model of name again by publishing
// its chunks and a new manifest. An empty version means the current
// version's parent, if it is on the topic complete, else the complete
// version found before the current one. It returns the version made
// current.
func Rollback(ctx context.Context, cfg *pipeline.Config, name, version string) (string,
	error) {
	reg, err := ReadRegistry(ctx, cfg)
	if err != nil {
		return "", err
	}
	cur := reg.Current[name]
	if version == "" {
		if version, err = previous(reg, name, cur); err != nil {
			return "", err
		}
	}
	if e, ok := reg.Find(name, version); !ok || !e.Complete() {
		return "", fmt.Errorf("rollback %s: version %s is not complete on the models topic",
			name, version)
	}
	if p := reg.Pins[name]; p != "" && p != version {
		return "", fmt.Errorf("rollback %s to %s: pinned to %s; unpin first or pin %s",
			name, version, p, version)
	}
	return version, republish(ctx, cfg, name, version)
}

// previous picks the version a rollback from cur goes to.
func previous(reg *Registry, name, cur string) (string, error) {
	if cur == "" {
		return "", fmt.Errorf("rollback %s: no current version on the models topic", name)
	}
	e, _ := reg.Find(name, cur)
	if p, ok := reg.Find(name, e.Parent); ok && p.Complete() && p.Version != cur {
		return p.Version, nil
	}
	prev := ""
	for _, x := range reg.Entries {
		if x.Name != name {
			continue
		}
		if x.Version == cur {
			break
		}
		if x.Complete() {
			prev = x.Version
		}
	}
	if prev == "" {
		return "", fmt.Errorf("rollback %s: no earlier complete version than %s", name, cur)
	}
	return prev, nil
}

// Pin holds the denoisers of name at version: it writes the pin record,
// then, unless version is already current, publishes version again so that
// denoisers load it. An empty version lifts the pin.
func Pin(ctx context.Context, cfg *pipeline.Config, name, version string) error {
	var reg *Registry
	if version != "" {
		var err error
		if reg, err = ReadRegistry(ctx, cfg); err != nil {
			return err
		}
		if e, ok := reg.Find(name, version); !ok || !e.Complete() {
			return fmt.Errorf("pin %s: version %s is not complete on the models topic", name,
				version)
		}
	}
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		return err
	}
	_, err = mp.PublishPin(ctx, name, version)
	err = errors.Join(err, mp.Close())
	if err != nil || version == "" || reg.Current[name] == version {
		return err
	}
	return republish(ctx, cfg, name, version)
}

// republish publishes a version found on the topic again as current.
func republish(ctx context.Context, cfg *pipeline.Config, name, version string) error {
	data, err := FetchModel(ctx, cfg, name, version)
	if err != nil {
		return err
	}
	mp, err := pipeline.NewModelPublisher(cfg)
	if err != nil {
		return err
	}
	_, err = mp.PublishModel(ctx, name, version, data)
	return errors.Join(err, mp.Close())
}

// scanModels calls fn with every record of the models topic from its start
// to its end offset at the time of the call.
func scanModels(ctx context.Context, cfg *pipeline.Config,
	fn func(pipeline.Record) error) error {
	topic := cfg.Topics().Models
	end, err := pipeline.EndOffsets(ctx, cfg, topic)
	if err != nil {
		return fmt.Errorf("read models topic: %w", err)
	}
	last := end[0] - 1
	if last < 0 {
		return nil
	}
	r, err := pipeline.NewPartitionReader(cfg, topic, 0, pipeline.FirstOffset)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		rec, err := r.Read(ctx)
		if err != nil {
			return fmt.Errorf("read models topic: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
		if rec.Offset >= last {
			return nil
		}
	}
}
