package worker

import (
	"context"
	"sync"
)

// pixelBudget bounds the pixels of the images being processed at once, so
// that memory stays bounded whatever mix of sizes arrives: many small images
// run side by side, a large one waits until it fits. Memory per image is
// about 90 bytes per pixel for colour (planes, colour transform, blending
// accumulators, output), 30 for grey, under a plain model; a WeightedModel's
// images are charged their weight (a guided model's, 3.5 times as much).
type pixelBudget struct {
	mu   sync.Mutex
	free int64
	wake chan struct{} // closed and replaced whenever pixels are released
}

func newPixelBudget(n int64) *pixelBudget {
	return &pixelBudget{free: n, wake: make(chan struct{})}
}

// acquire waits until n pixels are free and takes them; it returns the
// function that gives them back, or ctx's error.
func (b *pixelBudget) acquire(ctx context.Context, n int64) (func(), error) {
	if b == nil {
		return func() {}, nil
	}
	for {
		b.mu.Lock()
		if n <= b.free {
			b.free -= n
			b.mu.Unlock()
			return func() {
				b.mu.Lock()
				b.free += n
				close(b.wake)
				b.wake = make(chan struct{})
				b.mu.Unlock()
			}, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
