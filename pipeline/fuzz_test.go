package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"
)

// FuzzHeaders checks the parsers of record headers on outside bytes: no
// panic, and what parses is well-formed.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"img-1", "a/b:c.d_e", "", "é", "0.5", "25", "-3", "NaN",
		"+Inf", "1e309", "2026-12-04T16:00:00Z", "2026-12-04T16:00:00.123456789+02:00",
		"9223372036854775807", "-1", "007"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if id, err := ParseID(v); err == nil && (len(id) == 0 || len(id) > 128) {
			t.Fatalf("ParseID(%q) = %q", v, id)
		}
		if s, err := ParseSigma(v); err == nil && (math.IsNaN(s) || math.IsInf(s, 0) || s < 0) {
			t.Fatalf("ParseSigma(%q) = %v", v, s)
		}
		if tm, err := ParseTime(v); err == nil {
			if _, err := ParseTime([]byte(FormatTime(tm))); err != nil {
				t.Fatalf("ParseTime(%q) = %v does not round-trip: %v", v, tm, err)
			}
		}
		if p, err := ParsePartition(v); err == nil && p < 0 {
			t.Fatalf("ParsePartition(%q) = %d", v, p)
		}
		if o, err := ParseOffset(v); err == nil && o < 0 {
			t.Fatalf("ParseOffset(%q) = %d", v, o)
		}
	})
}

// FuzzModelRecords feeds the models-topic follower a chunk with fuzzed
// headers and value, then a manifest with the same headers. It must never
// panic, and a model it hands on must match its manifest's length and
// checksum.
func FuzzModelRecords(f *testing.F) {
	model := []byte("a small model")
	sum := sha256.Sum256(model)
	hexSum := hex.EncodeToString(sum[:])
	f.Add("chunk", "1", fmt.Sprint(len(model)), "0", hexSum, model)
	f.Add("chunk", "2", "600000", "1", hexSum, model)
	f.Add("chunk", "1", "13", "-1", hexSum, model)
	f.Add("chunk", "0", "0", "0", "", []byte(nil))
	f.Add("pin", "", "", "", "", []byte(`{"name":"dae","version":"v1"}`))
	f.Add("manifest", "1", "13", "", "zz", []byte("{"))
	f.Fuzz(func(t *testing.T, part, count, length, idx, sum string, value []byte) {
		fl := &follower{log: slog.New(slog.DiscardHandler),
			pending: map[string]map[string]*assembly{},
			pin:     func(context.Context, ModelPin) {}}
		rec := func(part string, value []byte) Record {
			r := Record{Topic: "models", Key: []byte("dae"), Value: value}
			r.SetHeader(HeaderModelName, "dae")
			r.SetHeader(HeaderModelVersion, "v1")
			r.SetHeader(HeaderModelPart, part)
			r.SetHeader(HeaderChunkCount, count)
			r.SetHeader(HeaderModelLength, length)
			r.SetHeader(HeaderChunkIndex, idx)
			r.SetHeader(HeaderModelSHA256, sum)
			return r
		}
		got := func(_ context.Context, man ModelManifest, data []byte) {
			s := sha256.Sum256(data)
			if int64(len(data)) != man.Length || hex.EncodeToString(s[:]) != man.SHA256 {
				t.Fatalf("model of %d bytes handed on for manifest %+v", len(data), man)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = fl.handle(ctx, rec(part, value), got)
		_ = fl.handle(ctx, rec("manifest", []byte("{}")), got)
	})
}
