package replay

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// manyItems yields n small generated images without touching the disk.
type manyItems struct{ n, next int }

func (m *manyItems) Len() int { return m.n }

func (m *manyItems) Next(ctx context.Context) (Item, error) {
	if m.next >= m.n {
		return Item{}, io.EOF
	}
	m.next++
	return m.At(ctx, Pos{Index: m.next - 1, Partition: 0, Offset: int64(m.next - 1)})
}

func (m *manyItems) At(_ context.Context, p Pos) (Item, error) {
	return Item{Pos: p, ID: fmt.Sprintf("r%d", p.Index), Image: testImage(24, 24,
		p.Index%7, false), Sigma: -1}, nil
}

func (m *manyItems) Close() error { return nil }

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A replay keeps per-image numbers only: the heap left after a run grows
// by a few hundred bytes per image, not by the images.
func TestReplayMemoryPerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Models: twoModels(t), Sigmas: []float64{25}}
	run := func(n int) (*Result, int64) {
		before := heap()
		res, err := Run(ctx, &manyItems{n: n}, cfg, SourceInfo{Kind: "kafka"})
		if err != nil {
			t.Fatal(err)
		}
		after := heap()
		runtime.KeepAlive(res)
		return res, int64(after) - int64(before)
	}
	run(50) // warm the model's pools
	small, a := run(200)
	large, b := run(2200)
	perImage := float64(b-a) / 2000
	t.Logf("heap kept: %d B for 200 images, %d B for 2200: %.0f B per image", a, b, perImage)
	// A 24×24 image alone is 576 float32 pixels = 2304 B per plane copy.
	if perImage > 1000 {
		t.Errorf("%.0f B of heap per image: more than per-image numbers", perImage)
	}
	if small.Report.Images != 200 || large.Report.Images != 2200 {
		t.Fatalf("images %d and %d", small.Report.Images, large.Report.Images)
	}
}
