package ae

import (
	"crypto/sha256"
	"errors"
	"testing"
)

// fuzzSeeds are small valid model files and pieces of them.
func fuzzSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, arch := range []Arch{
		{PatchIn: 3, PatchOut: 1, Stride: 1, Hidden: []int{4}},
		{PatchIn: 5, PatchOut: 3, Stride: 2, Hidden: []int{6, 2}, SigmaInput: true},
	} {
		m, err := NewModel("fuzz", arch, 255)
		if err != nil {
			f.Fatal(err)
		}
		data, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data, data[:len(data)/2], data[:10])
	}
	return out
}

// FuzzDecode checks that Decode never panics on outside bytes and that
// every failure wraps ErrFormat.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// FuzzDecodeBody fuzzes a model body and appends the right checksum, so that
// the fuzzer gets past the checksum into the header and weights.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if len(s) > sha256.Size {
			f.Add(s[:len(s)-sha256.Size])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		checkDecode(t, append(body, sum[:]...))
	})
}

func checkDecode(t *testing.T, data []byte) {
	m, err := Decode(data)
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("error does not wrap ErrFormat: %v", err)
		}
		return
	}
	if err := m.Header.Arch.Validate(); err != nil {
		t.Fatalf("decoded an invalid architecture: %v", err)
	}
	again, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if _, err := Decode(again); err != nil {
		t.Fatalf("re-encoded model does not decode: %v", err)
	}
}
