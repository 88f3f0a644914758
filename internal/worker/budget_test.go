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

// heavy is a model whose pixels weigh w.
type heavy struct {
	blur
	w float64
}

func (h heavy) PixelWeight() float64 { return h.w }

// A weighted model's images take their weight in pixels from the budget,
// but never more than all of it, so that each still runs alone.
func TestPixelCost(t *testing.T) {
	plain := blur{version: "v"}
	cases := []struct {
		m          Model
		px, budget int64
		want       int64
	}{
		{plain, 1000, 10000, 1000},
		{heavy{plain, 3.5}, 1000, 10000, 3500},
		{heavy{plain, 3.5}, 8000, 10000, 10000},
		{heavy{plain, 0.5}, 1000, 10000, 500},
		{heavy{plain, 0}, 1000, 10000, 1000}, // no weight: plain
		{heavy{plain, 3.5}, 0, 10000, 1},
	}
	for i, c := range cases {
		if got := pixelCost(c.m, c.px, c.budget); got != c.want {
			t.Errorf("case %d: %d pixels of %d cost %d, want %d", i, c.px, c.budget, got,
				c.want)
		}
	}
}
