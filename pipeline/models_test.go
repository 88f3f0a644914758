package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestModelChunksRoundTrip publishes a 3 MB model, then a corrupt version,
// then a good one, and checks the follower returns exactly the good bytes
// and skips the corrupt version.
func TestModelChunksRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := embedded(t, ctx)
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	mp, err := NewModelPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()

	v1 := randomBytes(3<<20+123, 1)
	man, err := mp.PublishModel(ctx, "dae", "v1", v1)
	if err != nil {
		t.Fatal(err)
	}
	if man.Chunks != 7 {
		t.Errorf("chunks = %d, want 7 for %d bytes", man.Chunks, len(v1))
	}

	// v2 is corrupt: one chunk altered after the checksum was taken.
	v2 := randomBytes(ModelChunkBytes+10, 2)
	sum := sha256.Sum256(v2)
	bad := ModelManifest{Name: "dae", Version: "v2", Chunks: 2, Length: int64(len(v2)),
		SHA256: hex.EncodeToString(sum[:])}
	c0 := bytes.Clone(v2[:ModelChunkBytes])
	c0[100] ^= 1
	err = mp.p.Produce(ctx,
		mp.record(bad, "chunk", chunkKey("dae", "v2", 0), c0, 0),
		mp.record(bad, "chunk", chunkKey("dae", "v2", 1), v2[ModelChunkBytes:], 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.p.Produce(ctx, mp.record(bad, "manifest", "dae", []byte("{}"), -1)); err != nil {
		t.Fatal(err)
	}

	v3 := randomBytes(1000, 3)
	if _, err := mp.PublishModel(ctx, "dae", "v3", v3); err != nil {
		t.Fatal(err)
	}

	got := map[string][]byte{}
	var order []string
	fctx, fcancel := context.WithCancel(ctx)
	go func() {
		<-time.After(20 * time.Second)
		fcancel()
	}()
	err = FollowModels(fctx, cfg, func(_ context.Context, m ModelManifest, data []byte) {
		got[m.Version] = data
		order = append(order, m.Version)
		if m.Version == "v3" {
			fcancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Quote(fmtList(order)) != strconv.Quote("v1,v3") {
		t.Fatalf("followed versions %v, want v1,v3 (v2 is corrupt)", order)
	}
	if !bytes.Equal(got["v1"], v1) || !bytes.Equal(got["v3"], v3) {
		t.Errorf("followed bytes differ from published ones")
	}
}

func fmtList(s []string) string {
	var b bytes.Buffer
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v)
	}
	return b.String()
}

func TestParseModelHeaders(t *testing.T) {
	good := ModelManifest{Name: "dae", Version: "v1", Chunks: 2, Length: ModelChunkBytes + 1,
		SHA256: hex.EncodeToString(make([]byte, 32))}
	mp := &ModelPublisher{topic: "models"}
	tests := []struct {
		name    string
		rec     *Record
		edit    func(r *Record)
		wantIdx int
		wantErr bool
	}{
		{"chunk 0", mp.record(good, "chunk", "k", make([]byte, ModelChunkBytes), 0), nil, 0, false},
		{"last chunk", mp.record(good, "chunk", "k", []byte{1}, 1), nil, 1, false},
		{"manifest", mp.record(good, "manifest", "dae", []byte("{}"), -1), nil, -1, false},
		{"short chunk", mp.record(good, "chunk", "k", []byte{1}, 0), nil, 0, true},
		{"index past count", mp.record(good, "chunk", "k", []byte{1}, 2), nil, 0, true},
		{"bad sha", mp.record(good, "manifest", "dae", nil, -1),
			func(r *Record) { r.SetHeader(HeaderModelSHA256, "zz") }, 0, true},
		{"count disagrees with length", mp.record(good, "manifest", "dae", nil, -1),
			func(r *Record) { r.SetHeader(HeaderChunkCount, "3") }, 0, true},
		{"slash in name", mp.record(good, "manifest", "dae", nil, -1),
			func(r *Record) { r.SetHeader(HeaderModelName, "a/b") }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.edit != nil {
				tt.edit(tt.rec)
			}
			_, idx, err := parseModelHeaders(*tt.rec)
			if (err != nil) != tt.wantErr || err == nil && idx != tt.wantIdx {
				t.Errorf("parseModelHeaders = %d, %v; want %d, error %v", idx, err, tt.wantIdx,
					tt.wantErr)
			}
		})
	}
}

// TestFollowerHoldsFewVersions feeds a follower the chunks of ten versions
// of one model, as a replay of a compacted topic does, then the manifest of
// the last: it holds at most maxPendingVersions at any time and still
// completes the last.
func TestFollowerHoldsFewVersions(t *testing.T) {
	f := &follower{log: slog.New(slog.DiscardHandler),
		pending: make(map[string]map[string]*assembly)}
	mp := &ModelPublisher{topic: "models"}
	var last []byte
	var man ModelManifest
	for v := range 10 {
		data := randomBytes(ModelChunkBytes+7, uint64(v))
		sum := sha256.Sum256(data)
		man = ModelManifest{Name: "dae", Version: fmt.Sprintf("v%d", v), Chunks: 2,
			Length: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		for i := range 2 {
			chunk := data[i*ModelChunkBytes : min((i+1)*ModelChunkBytes, len(data))]
			rec := mp.record(man, "chunk", chunkKey("dae", man.Version, i), chunk, i)
			if err := f.handle(context.Background(), *rec, nil); err != nil {
				t.Fatal(err)
			}
			if n := len(f.pending["dae"]); n > maxPendingVersions {
				t.Fatalf("after %s chunk %d: %d versions pending, want at most %d",
					man.Version, i, n, maxPendingVersions)
			}
		}
		last = data
	}
	var got []byte
	fn := func(_ context.Context, _ ModelManifest, data []byte) { got = data }
	if err := f.handle(context.Background(), *mp.record(man, "manifest", "dae", []byte("{}"),
		-1), fn); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, last) {
		t.Errorf("completed %d bytes, want the last version's %d", len(got), len(last))
	}
}
