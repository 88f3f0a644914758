package worker

import (
	"context"
	"sync"

	"github.com/cleanframe/cleanframe/pipeline"
)

// tracker keeps fetched records per partition in fetch order, which is
// offset order, and hands out for commit the finished prefix of each
// partition. It also bounds the records in flight: a slot is taken before a
// fetch and given back once its record is committed.
type tracker struct {
	slots chan struct{}

	mu      sync.Mutex
	parts   map[int][]*job // by partition, in fetch order
	changed chan struct{}  // signalled, capacity 1, when a job finishes
	closed  bool
}

func newTracker(maxInFlight int) *tracker {
	return &tracker{
		slots:   make(chan struct{}, maxInFlight),
		parts:   make(map[int][]*job),
		changed: make(chan struct{}, 1),
	}
}

// acquire takes a slot, or returns false if ctx ends first.
func (t *tracker) acquire(ctx context.Context) bool {
	select {
	case t.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives back one slot taken by acquire without a record.
func (t *tracker) release() { <-t.slots }

// released gives back n slots of committed records.
func (t *tracker) released(n int) {
	for range n {
		<-t.slots
	}
}

// add records a fetched record and returns its job.
func (t *tracker) add(rec pipeline.Record) *job {
	j := &job{rec: rec}
	t.mu.Lock()
	t.parts[rec.Partition] = append(t.parts[rec.Partition], j)
	t.mu.Unlock()
	return j
}

// finish marks j processed; ok says its output was acknowledged. The
// record's value is dropped to free memory.
func (t *tracker) finish(j *job, ok bool) {
	t.mu.Lock()
	j.done, j.ok = true, ok
	j.rec.Value = nil
	t.mu.Unlock()
	t.signal()
}

// close says no more jobs will finish.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.signal()
}

func (t *tracker) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// ready waits for a change and returns the newly committable records, at
// most the last of each partition's acknowledged prefix plus those before
// it, and whether more may come. A record that failed blocks its partition:
// nothing after it is committed, so it is delivered again.
func (t *tracker) ready() ([]pipeline.Record, bool) {
	<-t.changed
	t.mu.Lock()
	defer t.mu.Unlock()
	var recs []pipeline.Record
	for p, js := range t.parts {
		n := 0
		for n < len(js) && js[n].done && js[n].ok {
			recs = append(recs, js[n].rec)
			n++
		}
		if n == len(js) {
			delete(t.parts, p)
		} else {
			t.parts[p] = js[n:]
		}
	}
	return recs, !t.closed
}
