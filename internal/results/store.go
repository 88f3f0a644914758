// Package results keeps the denoised images an ingest replica can hand
// back to clients: a bounded in-memory store of outputs (least recently
// used first out by bytes, and a time to live) with markers for images
// that are known but not yet cleaned, fed by a follower of the
// images.denoised and images.noisy topics.
//
// Every ingest replica follows both topics itself, with a partition reader
// per partition and no consumer group, so each sees every output whichever
// replica accepted the image. The rule for "pending" is: an id is pending
// on a replica when that replica accepted it, or has seen it as a key on
// images.noisy since it started (or within its lookback), and has no
// output for it yet. A marker lives for the store's TTL.
//
// BUG: a GET on a replica other than the one that accepted an image, sent
// within that replica's follower lag of the upload (a fetch round trip,
// usually milliseconds), may answer 404: the replica has not seen the
// input yet. Clients should retry a 404 that follows a 202 once.
//
// BUG: kafka-go fetches whole records, so following images.noisy reads
// each input's bytes too, only to drop them at once; memory stays bounded
// by the reader's queue.
//
// BUG: an image that the denoiser dead-letters stays pending until its
// marker expires, then is unknown; the deadletter topic is not followed.
package results

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Result is one denoised image.
type Result struct {
	ID           string
	Data         []byte // the encoded output, as published
	ContentType  string // e.g. image/png
	ModelVersion string // the cf-model-version of the output
	Added        time.Time

	// Failed, when not empty, says why the image went to the dead-letter
	// topic instead of coming out; Stage names the step that refused it.
	// A failed result has no Data.
	Failed string
	Stage  string
}

// State is what a store knows of an id.
type State int

const (
	Unknown State = iota // never seen, or forgotten
	Pending              // accepted or seen on the input topic, no output yet
	Ready                // an output is held
	Failed               // the image was dead-lettered; Result.Failed says why
)

// Defaults of [Store].
const (
	DefaultMaxBytes   = 128 << 20
	DefaultTTL        = 10 * time.Minute
	DefaultMaxPending = 100_000
)

// entryOverhead is what an entry costs besides its bytes, roughly.
const entryOverhead = 128

// Store holds results and pending markers. Its zero value is not usable;
// call [NewStore]. It is safe for concurrent use.
type Store struct {
	maxBytes   int64
	ttl        time.Duration
	maxPending int
	now        func() time.Time

	mu      sync.Mutex
	lru     list.List // of *Result, most recently used at the front
	byID    map[string]*list.Element
	used    int64
	pend    list.List // of *marker, oldest at the front
	pendIDs map[string]*list.Element
	waits   map[string]*waiters
}

type marker struct {
	id      string
	expires time.Time
}

type waiters struct {
	ch chan struct{} // closed when a result arrives
	r  Result        // the result, set before ch closes
	n  int
}

// StoreConfig sets a store's bounds; its zero value gives the defaults.
type StoreConfig struct {
	// MaxBytes bounds the bytes of results held; the least recently used
	// go first. Default DefaultMaxBytes (128 MiB).
	MaxBytes int64
	// TTL is how long a result or a pending marker is kept. Default
	// DefaultTTL (10 minutes).
	TTL time.Duration
	// MaxPending bounds the pending markers; the oldest go first. Default
	// DefaultMaxPending.
	MaxPending int
	// Now is the clock; default time.Now. For tests.
	Now func() time.Time
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) *Store {
	s := &Store{maxBytes: cfg.MaxBytes, ttl: cfg.TTL, maxPending: cfg.MaxPending,
		now: cfg.Now, byID: map[string]*list.Element{},
		pendIDs: map[string]*list.Element{}, waits: map[string]*waiters{}}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.maxPending <= 0 {
		s.maxPending = DefaultMaxPending
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Accept records that this replica accepted id: any result held for an
// earlier image of the same id is dropped, and id is pending.
func (s *Store) Accept(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[id]; ok {
		s.remove(e)
	}
	s.mark(id)
}

// Drop forgets that id is pending, as when its upload failed.
func (s *Store) Drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.pendIDs[id]; ok {
		s.pend.Remove(e)
		delete(s.pendIDs, id)
	}
}

// Seen records that id was seen on the input topic: it is pending unless
// a result is already held.
func (s *Store) Seen(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; !ok {
		s.mark(id)
	}
}

// Put stores r, replacing any result of the same id, and wakes its
// waiters. A result larger than the store's bound is not kept, but its
// waiters still get it from Wait.
func (s *Store) Put(r Result) {
	if r.Added.IsZero() {
		r.Added = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[r.ID]; ok {
		s.remove(e)
	}
	if e, ok := s.pendIDs[r.ID]; ok {
		s.pend.Remove(e)
		delete(s.pendIDs, r.ID)
	}
	if w, ok := s.waits[r.ID]; ok {
		w.r = r
		close(w.ch)
		delete(s.waits, r.ID)
	}
	if size(&r) > s.maxBytes {
		return
	}
	s.byID[r.ID] = s.lru.PushFront(&r)
	s.used += size(&r)
	for s.used > s.maxBytes && s.lru.Len() > 0 {
		s.remove(s.lru.Back())
	}
}

// Get returns id's result when one is held, and what the store knows of id.
func (s *Store) Get(id string) (Result, State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.byID[id]; ok {
		r := e.Value.(*Result)
		if now.Sub(r.Added) < s.ttl {
			s.lru.MoveToFront(e)
			if r.Failed != "" {
				return *r, Failed
			}
			return *r, Ready
		}
		s.remove(e)
	}
	if e, ok := s.pendIDs[id]; ok {
		if now.Before(e.Value.(*marker).expires) {
			return Result{}, Pending
		}
		s.pend.Remove(e)
		delete(s.pendIDs, id)
	}
	return Result{}, Unknown
}

// Wait returns id's result once one is held (a failed one too), or false
// when ctx ends first.
func (s *Store) Wait(ctx context.Context, id string) (Result, bool) {
	if r, st := s.Get(id); st == Ready || st == Failed {
		return r, true
	}
	s.mu.Lock()
	w, ok := s.waits[id]
	if !ok {
		w = &waiters{ch: make(chan struct{})}
		s.waits[id] = w
	}
	w.n++
	s.mu.Unlock()
	defer s.leave(id, w)

	// A result may have come between Get and joining the waiters.
	if r, st := s.Get(id); st == Ready || st == Failed {
		return r, true
	}
	select {
	case <-w.ch:
		return w.r, true
	case <-ctx.Done():
		return Result{}, false
	}
}

// leave drops one waiter of id.
func (s *Store) leave(id string, w *waiters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.n--
	if w.n == 0 && s.waits[id] == w {
		delete(s.waits, id)
	}
}

// Len returns the number of results and pending markers held, and the
// bytes of the results.
func (s *Store) Len() (results, pending int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.pend.Len(), s.used
}

// mark makes id pending for the TTL, dropping the oldest markers past the
// bound and expired ones at the front. s.mu is held.
func (s *Store) mark(id string) {
	now := s.now()
	if e, ok := s.pendIDs[id]; ok {
		e.Value.(*marker).expires = now.Add(s.ttl)
		s.pend.MoveToBack(e)
		return
	}
	s.pendIDs[id] = s.pend.PushBack(&marker{id: id, expires: now.Add(s.ttl)})
	for s.pend.Len() > 0 {
		front := s.pend.Front()
		m := front.Value.(*marker)
		if s.pend.Len() <= s.maxPending && now.Before(m.expires) {
			break
		}
		s.pend.Remove(front)
		delete(s.pendIDs, m.id)
	}
}

// remove drops a result. s.mu is held.
func (s *Store) remove(e *list.Element) {
	r := e.Value.(*Result)
	s.lru.Remove(e)
	delete(s.byID, r.ID)
	s.used -= size(r)
}

func size(r *Result) int64 {
	return int64(len(r.Data)+len(r.ID)+len(r.ContentType)+len(r.ModelVersion)) +
		entryOverhead
}
