package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// benchShapes are the layers of the patch autoencoder: M patches by K inputs
// times K by N weights.
var benchShapes = []struct{ m, k, n int }{
	{4096, 289, 512}, {4096, 512, 512}, {4096, 512, 81},
	{4096, 169, 384}, {4096, 384, 384}, {4096, 384, 49},
}

// BenchmarkSgemm measures C = A·B on each shape, for each kernel and for
// gonum's blas32.Gemm, at 1 and 2 threads, reporting GFLOP/s.
func BenchmarkSgemm(b *testing.B) {
	defer active.Store(active.Load())
	names := []string{"gonum"}
	for _, k := range kernels {
		names = append(names, k.name)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range names {
		for _, s := range benchShapes {
			a := randSlice(rng, s.m*s.k)
			w := randSlice(rng, s.k*s.n)
			c := make([]float32, s.m*s.n)
			for _, th := range []int{1, 2} {
				bname := fmt.Sprintf("%s/%dx%dx%d/threads=%d", name, s.m, s.k, s.n, th)
				b.Run(bname, func(b *testing.B) {
					run := func() {
						Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, w, s.n, 0, c, s.n)
					}
					if name == "gonum" {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(th))
						run = gonumGemm(s.m, s.n, s.k, a, w, c)
					} else {
						useKernel(name)
						SetThreads(th)
						defer SetThreads(0)
					}
					run()
					for b.Loop() {
						run()
					}
					flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// gonumGemm returns a call of gonum's blas32.Gemm computing c = a·w.
func gonumGemm(m, n, k int, a, w, c []float32) func() {
	ga := blas32.General{Rows: m, Cols: k, Stride: k, Data: a}
	gw := blas32.General{Rows: k, Cols: n, Stride: n, Data: w}
	gc := blas32.General{Rows: m, Cols: n, Stride: n, Data: c}
	return func() { blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, ga, gw, 0, gc) }
}

// BenchmarkKernel measures one micro-kernel call on a tile whose operands
// stay in L1, the ceiling for the whole product.
func BenchmarkKernel(b *testing.B) {
	defer active.Store(active.Load())
	for _, k := range kernels {
		for _, kc := range []int{64, 128, 256} {
			b.Run(fmt.Sprintf("%s/kc=%d", k.name, kc), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(2, 2))
				a := randSlice(rng, k.mr*kc)
				bp := randSlice(rng, kc*k.nr)
				c := make([]float32, k.mr*k.nr)
				for b.Loop() {
					k.fn(kc, &a[0], uintptr(kc)*4, 4, &bp[0], &c[0], uintptr(k.nr)*4,
						1, 0, 0, k.mr, k.nr)
				}
				flops := 2 * float64(k.mr*k.nr*kc)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
