package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many small images share the budget; a large one waits until it fits, and
// the pixels in use never pass the budget.
func TestPixelBudget(t *testing.T) {
	b := newPixelBudget(100)
	var inUse, peak atomic.Int64
	var wg sync.WaitGroup
	for _, n := range []int64{30, 30, 30, 100, 10, 60, 40} {
		wg.Go(func() {
			release, err := b.acquire(context.Background(), n)
			if err != nil {
				t.Error(err)
				return
			}
			now := inUse.Add(n)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			inUse.Add(-n)
			release()
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 100 {
		t.Fatalf("peak pixels in use %d, over the budget 100", p)
	}

	// A wait ends with its context.
	hold, _ := b.acquire(context.Background(), 100)
	defer hold()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(ctx, 1); err == nil {
		t.Fatal("acquired beyond the budget")
	}
}
