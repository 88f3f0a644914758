package ae

import (
	"bytes"
	"image"
	"image/png"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPatchCountMatchesPositions(t *testing.T) {
	a := Arch{PatchIn: 17, PatchOut: 9, Stride: 3}
	for _, sz := range [][2]int{{1, 1}, {9, 9}, {10, 9}, {31, 17}, {512, 341}} {
		for _, s := range []int{1, 3, 5, 9} {
			xs := positions(nil, max(sz[0], 9), 9, s)
			ys := positions(nil, max(sz[1], 9), 9, s)
			if got, want := patchCount(a, sz[0], sz[1], s), len(xs)*len(ys); got != want {
				t.Errorf("%v stride %d: patchCount %d, positions give %d", sz, s, got, want)
			}
		}
	}
}

// Images denoised together in one batch must come out byte-identical to
// images denoised alone: batching changes speed, never results.
func TestBatchDenoiserMatchesAlone(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(31, 32))
	var imgs []image.Image
	for i := range 8 {
		if i%3 == 2 {
			c := image.NewNRGBA(image.Rect(0, 0, 20+i, 17))
			for j := range c.Pix {
				c.Pix[j] = uint8(rng.IntN(256))
			}
			imgs = append(imgs, c)
			continue
		}
		imgs = append(imgs, randomGray(rng, 24+3*i, 19+i))
	}
	want := make([][]byte, len(imgs))
	for i, img := range imgs {
		out, err := m.DenoiseImageSigma(img, 20)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = encode(t, out)
	}
	// A long wait and a row limit above the total put every image in one batch.
	b := NewBatchDenoiser(m, 1<<20, 2*time.Second)
	before := ReadStats().Batches
	got := make([][]byte, len(imgs))
	var wg sync.WaitGroup
	for i, img := range imgs {
		wg.Go(func() {
			out, err := b.DenoiseImageSigma(img, 20)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = encode(t, out)
		})
	}
	wg.Wait()
	for i := range imgs {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("image %d differs when batched", i)
		}
	}
	if n := ReadStats().Batches - before; n > 2 {
		t.Errorf("%d batches for 8 concurrent small images, want them gathered", n)
	}
}

// A batch that is full, or a zero wait, must not sit on the timer: with a
// one-hour budget, only sealing for size can let these calls return.
func TestBatchDenoiserDoesNotWaitWhenFull(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	img := randomGray(rand.New(rand.NewPCG(1, 1)), 16, 16)
	done := make(chan error, 2)
	go func() {
		_, err := NewBatchDenoiser(m, 1, time.Hour).DenoiseImage(img)
		done <- err
	}()
	go func() {
		_, err := NewBatchDenoiser(m, 1<<20, 0).DenoiseImage(img)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a full batch or a zero wait is waiting for company")
		}
	}
}

func encode(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A panic while a batch runs must reach every caller of that batch as an
// error, not leave the followers waiting for ever.
func TestBatchDenoiserPanicReleasesEveryCaller(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	broken := m.Clone()
	broken.Net.Layers[0].W = broken.Net.Layers[0].W[:1] // too short: GEMM panics
	b := NewBatchDenoiser(broken, 1<<20, 200*time.Millisecond)
	rng := rand.New(rand.NewPCG(3, 3))
	errs := make(chan error, 4)
	for range 4 {
		img := randomGray(rng, 20, 20)
		go func() {
			_, err := b.DenoiseImage(img)
			errs <- err
		}()
	}
	for range 4 {
		select {
		case err := <-errs:
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Errorf("err = %v, want the batch's panic", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a caller is still waiting on a batch that panicked")
		}
	}
}

// A guided model's pixels weigh more in the worker's pixel budget.
func TestBatchDenoiserPixelWeight(t *testing.T) {
	plain := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4},
		SigmaInput: true})
	g, err := NewGuided("g", plain)
	if err != nil {
		t.Fatal(err)
	}
	if w := NewBatchDenoiser(plain, 0, 0).PixelWeight(); w != 1 {
		t.Errorf("plain model weight %v, want 1", w)
	}
	if w := NewBatchDenoiser(g, 0, 0).PixelWeight(); w != 3.5 {
		t.Errorf("guided model weight %v, want 3.5", w)
	}
}
