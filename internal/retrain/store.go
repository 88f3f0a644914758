package retrain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
)

// Store keeps clean samples on disk, de-duplicated by content, at most Max
// of them: adding one past the limit deletes the oldest. It survives
// restarts: OpenStore finds the samples a previous run left, in the order
// they were added.
//
// Each sample is one PNG file named SEQ-HASH.png, where SEQ is a 16-digit
// counter that only grows and HASH is the hex SHA-256 of the decoded
// pixels (ContentHash), so re-encodings of one image are one sample. A
// sample is written to a temporary file and renamed, so a crash leaves
// whole samples only; stray temporary files are removed on open.
//
// A Store is safe for concurrent use.
type Store struct {
	dir string
	max int

	mu    sync.Mutex
	files []storeFile // oldest first
	have  map[string]bool
	next  uint64
}

type storeFile struct {
	seq  uint64
	hash string
}

func (f storeFile) name() string { return fmt.Sprintf("%016d-%s.png", f.seq, f.hash) }

// OpenStore opens or creates the store in dir holding at most limit
// samples (limit < 1 means 2000); if dir holds more, the oldest are
// deleted.
func OpenStore(dir string, limit int) (*Store, error) {
	if limit < 1 {
		limit = 2000
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open sample store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open sample store: %w", err)
	}
	s := &Store{dir: dir, max: limit, have: map[string]bool{}}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".sample-") {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		f, ok := parseStoreName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		s.files = append(s.files, f)
		s.have[f.hash] = true
		s.next = max(s.next, f.seq+1)
	}
	slices.SortFunc(s.files, func(a, b storeFile) int { return cmpU64(a.seq, b.seq) })
	return s, s.evict()
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseStoreName(name string) (storeFile, bool) {
	base, ok := strings.CutSuffix(name, ".png")
	seqText, hash, ok2 := strings.Cut(base, "-")
	if !ok || !ok2 || len(hash) != 64 {
		return storeFile{}, false
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if _, herr := hex.DecodeString(hash); err != nil || herr != nil {
		return storeFile{}, false
	}
	return storeFile{seq, hash}, true
}

// ContentHash is the hex SHA-256 of an image's pixels as training sees
// them (its planes, rounded to bytes), whatever its encoding.
func ContentHash(img image.Image) string {
	h := sha256.New()
	for _, p := range ae.ImagePlanes(img) {
		buf := make([]byte, len(p.Pix))
		for i, v := range p.Pix {
			buf[i] = byte(v)
		}
		fmt.Fprintf(h, "%dx%d:", p.W, p.H)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Add stores img unless a sample with the same content is stored; it
// reports whether img was added. The oldest samples past the limit are
// deleted.
func (s *Store) Add(img image.Image) (bool, error) {
	hash := ContentHash(img)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.have[hash] {
		return false, nil
	}
	data, err := imageio.EncodePNG(img)
	if err != nil {
		return false, fmt.Errorf("store sample: %w", err)
	}
	f := storeFile{s.next, hash}
	if err := writeAtomic(s.dir, f.name(), data); err != nil {
		return false, err
	}
	s.next++
	s.files = append(s.files, f)
	s.have[hash] = true
	return true, s.evict()
}

// evict deletes the oldest samples past the limit; s.mu is held.
func (s *Store) evict() error {
	var errs []error
	for len(s.files) > s.max {
		f := s.files[0]
		s.files = s.files[1:]
		delete(s.have, f.hash)
		if err := os.Remove(filepath.Join(s.dir, f.name())); err != nil &&
			!errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Len is the number of samples stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// Has reports whether a sample with content hash is stored.
func (s *Store) Has(hash string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.have[hash]
}

// Each calls fn with every stored sample, oldest first, decoding one at a
// time; a file that no longer decodes is skipped and reported in the error.
func (s *Store) Each(fn func(hash string, img image.Image)) error {
	s.mu.Lock()
	files := slices.Clone(s.files)
	s.mu.Unlock()
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(s.dir, f.name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // evicted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		img, _, err := imageio.Decode(data, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("sample %s: %w", f.name(), err))
			continue
		}
		fn(f.hash, img)
	}
	return errors.Join(errs...)
}

func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".sample-*")
	if err != nil {
		return fmt.Errorf("store sample: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("store sample: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store sample: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("store sample: %w", err)
	}
	return nil
}
