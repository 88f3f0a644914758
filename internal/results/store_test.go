package results

import (
	"context"
	"testing"

	"github.com/cleanframe/cleanframe/pipeline"
	"time"
)

// clock is a settable time for stores under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStoreStates(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	s := NewStore(StoreConfig{TTL: time.Minute, Now: c.now})

	if _, st := s.Get("a"); st != Unknown {
		t.Errorf("fresh store: state %v, want Unknown", st)
	}
	s.Accept("a")
	s.Seen("b")
	for _, id := range []string{"a", "b"} {
		if _, st := s.Get(id); st != Pending {
			t.Errorf("%s: state %v after Accept/Seen, want Pending", id, st)
		}
	}
	s.Put(Result{ID: "a", Data: []byte("png"), ModelVersion: "v1"})
	if r, st := s.Get("a"); st != Ready || string(r.Data) != "png" || r.ModelVersion != "v1" {
		t.Errorf("after Put: %+v %v, want the result, Ready", r, st)
	}

	// Seen after the output (the noisy reader lagging) keeps the result;
	// Accept of a reused id drops it.
	s.Seen("a")
	if _, st := s.Get("a"); st != Ready {
		t.Errorf("Seen after Put: state %v, want Ready", st)
	}
	s.Accept("a")
	if _, st := s.Get("a"); st != Pending {
		t.Errorf("Accept of a reused id: state %v, want Pending", st)
	}
	s.Drop("a")
	if _, st := s.Get("a"); st != Unknown {
		t.Errorf("Drop: state %v, want Unknown", st)
	}

	// Results and markers expire after the TTL.
	s.Put(Result{ID: "c", Data: []byte("x")})
	c.t = c.t.Add(2 * time.Minute)
	for _, id := range []string{"b", "c"} {
		if _, st := s.Get(id); st != Unknown {
			t.Errorf("%s after the TTL: state %v, want Unknown", id, st)
		}
	}
	if n, p, b := s.Len(); n != 0 || p != 0 || b != 0 {
		t.Errorf("Len after expiry = %d, %d, %d, want all 0", n, p, b)
	}
}

func TestStoreBounds(t *testing.T) {
	s := NewStore(StoreConfig{MaxBytes: 3 * (100 + entryOverhead + 1), MaxPending: 2})
	put := func(id string) { s.Put(Result{ID: id, Data: make([]byte, 100)}) }
	put("1")
	put("2")
	put("3")
	s.Get("1") // now the most recently used
	put("4")
	for id, want := range map[string]State{"1": Ready, "2": Unknown, "3": Ready, "4": Ready} {
		if _, st := s.Get(id); st != want {
			t.Errorf("%s: state %v, want %v (LRU by bytes)", id, st, want)
		}
	}
	if _, _, b := s.Len(); b > 3*(100+entryOverhead+1) {
		t.Errorf("%d bytes held, over the bound", b)
	}

	// One result larger than the bound is not kept, but a waiter gets it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan Result, 1)
	go func() { r, _ := s.Wait(ctx, "huge"); got <- r }()
	for waiting(s, "huge") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Put(Result{ID: "huge", Data: make([]byte, 10000)})
	if r := <-got; len(r.Data) != 10000 {
		t.Errorf("waiter got %d bytes, want the 10000 of the oversize result", len(r.Data))
	}
	if _, st := s.Get("huge"); st != Unknown {
		t.Errorf("oversize result kept: state %v", st)
	}
	if _, st := s.Get("4"); st != Ready {
		t.Errorf("an oversize result evicted the others: state of 4 %v", st)
	}

	// Pending markers past the bound drop the oldest.
	s.Seen("p1")
	s.Seen("p2")
	s.Seen("p3")
	if _, st := s.Get("p1"); st != Unknown {
		t.Errorf("oldest marker past MaxPending: state %v, want Unknown", st)
	}
}

func TestStoreWait(t *testing.T) {
	s := NewStore(StoreConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Ready before the wait.
	s.Put(Result{ID: "a", Data: []byte("A")})
	if r, ok := s.Wait(ctx, "a"); !ok || string(r.Data) != "A" {
		t.Errorf("Wait on a held result = %q, %v", r.Data, ok)
	}

	// Several waiters on one id all wake.
	got := make(chan string, 3)
	for range 3 {
		go func() { r, _ := s.Wait(ctx, "b"); got <- string(r.Data) }()
	}
	for waiting(s, "b") < 3 {
		time.Sleep(time.Millisecond)
	}
	s.Put(Result{ID: "b", Data: []byte("B")})
	for range 3 {
		if v := <-got; v != "B" {
			t.Errorf("waiter got %q, want B", v)
		}
	}

	// A wait that times out leaves nothing behind.
	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	if _, ok := s.Wait(short, "never"); ok {
		t.Error("Wait on a missing id returned ok")
	}
	if n := waiting(s, "never"); n != 0 {
		t.Errorf("%d waiters left after a timeout", n)
	}
}

func waiting(s *Store, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.waits[id]; ok {
		return w.n
	}
	return 0
}

// A dead letter of the input topic turns a pending id into a failed one with
// the denoiser's reason; dead letters of other topics are not ours.
func TestDeadLetterMarksFailed(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.Seen("img-1")
	other := pipeline.Record{Key: []byte("img-2")}
	other.SetHeader(pipeline.HeaderDLTopic, "x.images.clean")
	s.deadLetter(other, "x.images.noisy")
	rec := pipeline.Record{Key: []byte("img-1")}
	rec.SetHeader(pipeline.HeaderDLTopic, "x.images.noisy")
	rec.SetHeader(pipeline.HeaderDLReason, "malformed png")
	rec.SetHeader(pipeline.HeaderDLStage, "decode")
	s.deadLetter(rec, "x.images.noisy")
	r, st := s.Get("img-1")
	if st != Failed || r.Failed != "malformed png" || r.Stage != "decode" || r.Data != nil {
		t.Fatalf("img-1: state %v, result %+v; want failed at decode", st, r)
	}
	if _, st := s.Get("img-2"); st != Unknown {
		t.Fatalf("img-2: state %v, want unknown", st)
	}
}
