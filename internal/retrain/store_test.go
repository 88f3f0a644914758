package retrain

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/pipeline"
)

func storedHashes(t *testing.T, s *Store) []string {
	t.Helper()
	var hs []string
	if err := s.Each(func(h string, _ image.Image) { hs = append(hs, h) }); err != nil {
		t.Fatal(err)
	}
	return hs
}

// TestStore adds, de-duplicates and evicts samples, then reopens the
// folder as a restarted trainer would.
func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		img := smoothImage(uint64(i))
		added, err := s.Add(img)
		if err != nil || !added {
			t.Fatalf("add %d: %v, %v", i, added, err)
		}
		want = append(want, ContentHash(img))
		if added, _ := s.Add(smoothImage(uint64(i))); added {
			t.Fatalf("sample %d added twice", i)
		}
	}
	if got := storedHashes(t, s); len(got) != 3 || got[0] != want[2] || got[2] != want[4] {
		t.Fatalf("stored %v, want the newest three of %v", got, want)
	}
	if s.Has(want[0]) {
		t.Error("evicted sample still known")
	}

	// A crash's leftovers and a restart.
	os.WriteFile(filepath.Join(dir, ".sample-123"), []byte("half"), 0o644)
	s2, err := OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := storedHashes(t, s2); len(got) != 2 || got[0] != want[3] || got[1] != want[4] {
		t.Fatalf("reopened with limit 2: %v, want the newest two", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".sample-123")); !os.IsNotExist(err) {
		t.Error("temporary file left after reopening")
	}
	if added, _ := s2.Add(smoothImage(3)); added {
		t.Error("sample stored before the restart added again")
	}
	if added, _ := s2.Add(smoothImage(9)); !added {
		t.Error("new sample refused after the restart")
	}
	if got := storedHashes(t, s2); got[1] != ContentHash(smoothImage(9)) {
		t.Errorf("newest sample not last after the restart: %v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the store, want 2", len(entries))
	}
}

// TestServiceStore checks that a service keeps its samples in the store
// and that a new service on the same folder starts with them.
func TestServiceStore(t *testing.T) {
	dir := t.TempDir()
	valid := []dataset.Image{{Name: "v", Image: smoothImage(99)}}
	open := func() *Service {
		st, err := OpenStore(dir, 4)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := New(Config{Pipeline: &pipeline.Config{}, Validation: valid, MaxKeep: 4,
			Store: st}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := open()
	for i := range 6 {
		svc.AddImage(smoothImage(uint64(i)))
	}
	if svc.Samples() != 4 {
		t.Fatalf("%d samples held, want 4", svc.Samples())
	}
	again := open()
	if again.Samples() != 4 || again.AddImage(smoothImage(5)) || !again.AddImage(smoothImage(0)) {
		t.Errorf("restarted service: %d samples; want 4, sample 5 known, sample 0 "+
			"(evicted) new", again.Samples())
	}
}

// TestServiceMemoryBound checks that the samples held in memory stay within
// MaxPixels, oldest dropped, and that one sample larger than the bound is
// still kept alone.
func TestServiceMemoryBound(t *testing.T) {
	valid := []dataset.Image{{Name: "v", Image: smoothImage(99)}}
	svc, err := New(Config{Pipeline: &pipeline.Config{}, Validation: valid,
		MaxPixels: 3 * 40 * 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		svc.AddImage(smoothImage(uint64(i)))
	}
	if n, px := svc.Samples(), svc.pixels; n != 3 || px != 3*40*40 {
		t.Errorf("%d samples of %d pixels held, want 3 of 4800", n, px)
	}
	if !svc.AddImage(smoothImage(0)) {
		t.Error("dropped sample 0 not accepted again")
	}
	svc.cfg.MaxPixels = 100
	svc.AddImage(smoothImage(7))
	if svc.Samples() != 1 {
		t.Errorf("%d samples held under a bound smaller than one, want the newest alone",
			svc.Samples())
	}
}
