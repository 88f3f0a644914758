package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Model records on the compacted models topic.
//
// A model of a few MB up to 100 MB does not fit Kafka's default record size,
// so PublishModel splits it into chunks of ModelChunkBytes. Compaction keeps
// only the latest record per key, so every chunk has its own key,
// name/version/index, and a small manifest keyed by the model name comes
// last and names the version that is current. The topic has one partition
// (EnsureTopics creates it so, and the publisher writes to partition 0), so
// a reader that sees a manifest has seen its chunks before it.
const (
	// ModelChunkBytes is the size of each model chunk but the last: 512 KiB.
	ModelChunkBytes = 512 << 10
	// MaxModelBytes is the largest model the follower assembles: 256 MiB.
	MaxModelBytes = 256 << 20
)

// Headers of model records.
const (
	// HeaderModelName is the model name on chunks and manifests.
	HeaderModelName = "cf-model-name"
	// HeaderModelPart is "chunk" or "manifest".
	HeaderModelPart = "cf-model-part"
	// HeaderChunkIndex is a chunk's index, from 0.
	HeaderChunkIndex = "cf-chunk-index"
	// HeaderChunkCount is how many chunks the model has.
	HeaderChunkCount = "cf-chunk-count"
	// HeaderModelLength is the model's length in bytes.
	HeaderModelLength = "cf-model-length"
	// HeaderModelSHA256 is the hex SHA-256 of the whole model.
	HeaderModelSHA256 = "cf-model-sha256"
)

// ModelManifest describes one published model; it is the manifest record's
// value, as JSON.
type ModelManifest struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Chunks      int       `json:"chunks"`
	Length      int64     `json:"length"`
	SHA256      string    `json:"sha256"`
	PublishedAt time.Time `json:"published_at"`
}

// ModelPublisher writes chunked model records to the models topic.
// It is safe for concurrent use.
type ModelPublisher struct {
	p     *KafkaProducer
	topic string
}

// NewModelPublisher returns a publisher to cfg's models topic.
func NewModelPublisher(cfg *Config) (*ModelPublisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ModelPublisher{p: newProducer(cfg, partitionZero{}), topic: cfg.Topics().Models}, nil
}

// partitionZero puts every record on partition 0, where the follower reads.
type partitionZero struct{}

func (partitionZero) Balance(kafka.Message, ...int) int { return 0 }

// PublishModel writes data as model name at version: its chunks first, then,
// once they are all acknowledged, the manifest. Names and versions must not
// be empty or contain '/'.
func (mp *ModelPublisher) PublishModel(ctx context.Context, name, version string,
	data []byte) (ModelManifest, error) {
	if err := checkModelName(name, version); err != nil {
		return ModelManifest{}, err
	}
	if len(data) == 0 || len(data) > MaxModelBytes {
		return ModelManifest{}, fmt.Errorf("publish model %s/%s: %d bytes, want 1 to %d",
			name, version, len(data), MaxModelBytes)
	}
	sum := sha256.Sum256(data)
	man := ModelManifest{
		Name: name, Version: version, Length: int64(len(data)),
		Chunks: (len(data) + ModelChunkBytes - 1) / ModelChunkBytes,
		SHA256: hex.EncodeToString(sum[:]), PublishedAt: time.Now().UTC(),
	}

	// Chunks, a few at a time to bound the size of each produce call.
	const perCall = 8
	for first := 0; first < man.Chunks; first += perCall {
		var recs []*Record
		for i := first; i < min(first+perCall, man.Chunks); i++ {
			chunk := data[i*ModelChunkBytes : min((i+1)*ModelChunkBytes, len(data))]
			recs = append(recs, mp.record(man, "chunk", chunkKey(name, version, i), chunk, i))
		}
		if err := mp.p.Produce(ctx, recs...); err != nil {
			return ModelManifest{}, fmt.Errorf("publish model %s/%s: %w", name, version, err)
		}
	}

	// The manifest makes the version current.
	body, err := json.Marshal(man)
	if err != nil {
		return ModelManifest{}, fmt.Errorf("publish model %s/%s: %w", name, version, err)
	}
	if err := mp.p.Produce(ctx, mp.record(man, "manifest", name, body, -1)); err != nil {
		return ModelManifest{}, fmt.Errorf("publish model manifest %s/%s: %w", name, version, err)
	}
	return man, nil
}

func (mp *ModelPublisher) record(man ModelManifest, part, key string, value []byte,
	idx int) *Record {
	r := &Record{Topic: mp.topic, Key: []byte(key), Value: value}
	r.SetHeader(HeaderModelPart, part)
	r.SetHeader(HeaderModelName, man.Name)
	r.SetHeader(HeaderModelVersion, man.Version)
	r.SetHeader(HeaderChunkCount, strconv.Itoa(man.Chunks))
	r.SetHeader(HeaderModelLength, strconv.FormatInt(man.Length, 10))
	r.SetHeader(HeaderModelSHA256, man.SHA256)
	if idx >= 0 {
		r.SetHeader(HeaderChunkIndex, strconv.Itoa(idx))
	}
	return r
}

// Close waits for in-flight writes and closes the connections.
func (mp *ModelPublisher) Close() error {
	return mp.p.Close()
}

func chunkKey(name, version string, idx int) string {
	return fmt.Sprintf("%s/%s/%06d", name, version, idx)
}

func checkModelName(name, version string) error {
	if name == "" || version == "" || strings.Contains(name, "/") ||
		strings.Contains(version, "/") || len(name)+len(version) > 200 {
		return fmt.Errorf("model name %q version %q: want non-empty, without '/', short", name,
			version)
	}
	return nil
}

// ModelFunc receives a complete model whose checksum matched its manifest.
// It must not keep data beyond the call unless it owns it: the follower
// hands over the slice and does not touch it again.
type ModelFunc func(ctx context.Context, m ModelManifest, data []byte)

// FollowModels reads the models topic of cfg from its start and calls fn,
// in topic order, with every model whose chunks are complete and whose
// SHA-256 matches; on a compacted topic the last call per name is the
// latest model. Incomplete or corrupt models are logged and skipped. It
// blocks until ctx ends, then returns nil; it retries broker failures.
func FollowModels(ctx context.Context, cfg *Config, fn ModelFunc) error {
	return FollowModelsAndPins(ctx, cfg, fn, nil)
}

// FollowModelsAndPins is FollowModels that also calls pin, in topic order,
// with every pin record (see [ModelPin]); pin may be nil.
func FollowModelsAndPins(ctx context.Context, cfg *Config, fn ModelFunc, pin PinFunc) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f := &follower{log: cfg.logger(), pending: make(map[string]map[string]*assembly),
		pin: pin}
	topic, next := cfg.Topics().Models, int64(FirstOffset)
	for ctx.Err() == nil {
		r, err := NewPartitionReader(cfg, topic, 0, next)
		if err != nil {
			return err
		}
		next = f.readAll(ctx, r, next, fn)
		r.Close()
		if ctx.Err() == nil {
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// maxPendingVersions bounds the versions of one model name whose chunks a
// follower holds while it waits for their manifest. Replaying a compacted
// topic meets the chunks of every version ever published (their keys are
// distinct) but only the latest manifest, so without a bound a follower
// would hold every old version at once. Two allows two publishers writing
// one name at the same time.
const maxPendingVersions = 2

// assembly collects the chunks of one model version.
type assembly struct {
	man     ModelManifest // from the chunks' headers
	chunks  [][]byte
	have    int
	touched int64 // follower.clock at its last chunk
}

type follower struct {
	clock   int64 // counts chunks, to find the least recently touched assembly
	log     *slog.Logger
	pending map[string]map[string]*assembly // name, version
	pin     PinFunc                         // may be nil
}

// readAll handles records until ctx ends or the reader fails, and returns
// the offset to resume from.
func (f *follower) readAll(ctx context.Context, pr *PartitionReader, next int64,
	fn ModelFunc) int64 {
	for {
		rec, err := pr.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("read models topic, retrying", "err", err)
			}
			return next
		}
		next = rec.Offset + 1
		if err := f.handle(ctx, rec, fn); err != nil {
			f.log.Warn("skip model record", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "err", err)
		}
	}
}

// handle adds one chunk or completes one model.
func (f *follower) handle(ctx context.Context, rec Record, fn ModelFunc) error {
	if rec.Value == nil {
		return nil // a tombstone
	}
	if rec.HeaderString(HeaderModelPart) == "pin" {
		return f.handlePin(ctx, rec)
	}
	man, idx, err := parseModelHeaders(rec)
	if err != nil {
		return err
	}
	switch rec.HeaderString(HeaderModelPart) {
	case "chunk":
		return f.addChunk(man, idx, rec.Value)
	case "manifest":
		data, err := f.complete(man)
		if err != nil {
			return err
		}
		fn(ctx, man, data)
		return nil
	default:
		return fmt.Errorf("model record part %q: want chunk or manifest",
			rec.HeaderString(HeaderModelPart))
	}
}

func (f *follower) addChunk(man ModelManifest, idx int, value []byte) error {
	vs := f.pending[man.Name]
	if vs == nil {
		vs = make(map[string]*assembly)
		f.pending[man.Name] = vs
	}
	a := vs[man.Version]
	if a == nil {
		f.evict(man.Name, vs)
		a = &assembly{man: man, chunks: make([][]byte, man.Chunks)}
		vs[man.Version] = a
	}
	f.clock++
	a.touched = f.clock
	if a.man.Chunks != man.Chunks || a.man.Length != man.Length || a.man.SHA256 != man.SHA256 {
		return fmt.Errorf("model %s/%s chunk %d: headers disagree with earlier chunks",
			man.Name, man.Version, idx)
	}
	if a.chunks[idx] == nil {
		a.have++
	}
	a.chunks[idx] = bytes.Clone(value)
	return nil
}

// evict drops the least recently touched versions of name until there is
// room for one more.
func (f *follower) evict(name string, vs map[string]*assembly) {
	for len(vs) >= maxPendingVersions {
		var oldest *assembly
		for _, a := range vs {
			if oldest == nil || a.touched < oldest.touched {
				oldest = a
			}
		}
		delete(vs, oldest.man.Version)
		f.log.Debug("drop chunks of a model version without a manifest",
			"model_version", oldest.man.Version, "model", name)
	}
}

// complete joins and checks the chunks a manifest names, and forgets every
// pending chunk of that model name: later versions' chunks come later.
func (f *follower) complete(man ModelManifest) ([]byte, error) {
	a := f.pending[man.Name][man.Version]
	delete(f.pending, man.Name)
	if a == nil || a.have != a.man.Chunks {
		have := 0
		if a != nil {
			have = a.have
		}
		return nil, fmt.Errorf("model %s/%s incomplete: %d of %d chunks", man.Name, man.Version,
			have, man.Chunks)
	}
	if a.man.SHA256 != man.SHA256 || a.man.Length != man.Length {
		return nil, fmt.Errorf("model %s/%s: manifest disagrees with its chunks", man.Name,
			man.Version)
	}
	data := bytes.Join(a.chunks, nil)
	sum := sha256.Sum256(data)
	if int64(len(data)) != man.Length || hex.EncodeToString(sum[:]) != man.SHA256 {
		return nil, fmt.Errorf("model %s/%s corrupt: %d bytes with sha256 %x, want %d bytes "+
			"with %s", man.Name, man.Version, len(data), sum, man.Length, man.SHA256)
	}
	return data, nil
}

// parseModelHeaders reads and checks the headers of a chunk or manifest;
// idx is -1 for a manifest.
func parseModelHeaders(rec Record) (ModelManifest, int, error) {
	man := ModelManifest{
		Name:    rec.HeaderString(HeaderModelName),
		Version: rec.HeaderString(HeaderModelVersion),
		SHA256:  rec.HeaderString(HeaderModelSHA256),
	}
	if err := checkModelName(man.Name, man.Version); err != nil {
		return man, 0, err
	}
	var err error
	if man.Chunks, err = strconv.Atoi(rec.HeaderString(HeaderChunkCount)); err != nil ||
		man.Chunks < 1 || man.Chunks > MaxModelBytes/ModelChunkBytes+1 {
		return man, 0, fmt.Errorf("model %s/%s: bad chunk count %q", man.Name, man.Version,
			rec.HeaderString(HeaderChunkCount))
	}
	man.Length, err = strconv.ParseInt(rec.HeaderString(HeaderModelLength), 10, 64)
	if err != nil || man.Length < 1 || man.Length > MaxModelBytes ||
		man.Chunks != int((man.Length+ModelChunkBytes-1)/ModelChunkBytes) {
		return man, 0, fmt.Errorf("model %s/%s: bad length %q for %d chunks", man.Name,
			man.Version, rec.HeaderString(HeaderModelLength), man.Chunks)
	}
	if b, err := hex.DecodeString(man.SHA256); err != nil || len(b) != sha256.Size {
		return man, 0, fmt.Errorf("model %s/%s: bad sha256 %q", man.Name, man.Version, man.SHA256)
	}
	if rec.HeaderString(HeaderModelPart) != "chunk" {
		return man, -1, nil
	}
	idx, err := strconv.Atoi(rec.HeaderString(HeaderChunkIndex))
	if err != nil || idx < 0 || idx >= man.Chunks {
		return man, 0, fmt.Errorf("model %s/%s: bad chunk index %q of %d", man.Name, man.Version,
			rec.HeaderString(HeaderChunkIndex), man.Chunks)
	}
	if want := min(ModelChunkBytes, int(man.Length)-idx*ModelChunkBytes); len(rec.Value) != want {
		return man, 0, fmt.Errorf("model %s/%s chunk %d: %d bytes, want %d", man.Name,
			man.Version, idx, len(rec.Value), want)
	}
	return man, idx, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
