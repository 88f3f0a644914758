package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachKernel runs f once per kernel this CPU supports, each as a subtest
// with that kernel active.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer active.Store(active.Load())
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			if !useKernel(k.name) {
				t.Fatalf("kernel %s listed but not usable", k.name)
			}
			f(t)
		})
	}
}

// withThreads runs f with SetThreads(n) and restores the default.
func withThreads(n int, f func()) {
	old := int(threads.Load())
	SetThreads(n)
	defer SetThreads(old)
	f()
}

// operands is one product to check: the stored matrices and their strides.
type operands struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// newOperands fills A, B and C with random values; pad adds to each stride.
func newOperands(rng *rand.Rand, transA, transB bool, m, n, k, pad int,
	alpha, beta float32) *operands {
	o := &operands{transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	o.lda, o.ldb, o.ldc = max(ac, 1)+pad, max(bc, 1)+pad, max(n, 1)+pad
	o.a = randSlice(rng, ar*o.lda)
	o.b = randSlice(rng, br*o.ldb)
	o.c = randSlice(rng, m*o.ldc)
	if beta == 0 {
		for i := range o.c {
			o.c[i] = float32(math.NaN())
		}
	}
	return o
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

func (o *operands) opA(i, p int) float32 {
	if o.transA {
		return o.a[p*o.lda+i]
	}
	return o.a[i*o.lda+p]
}

func (o *operands) opB(p, j int) float32 {
	if o.transB {
		return o.b[j*o.ldb+p]
	}
	return o.b[p*o.ldb+j]
}

// run calls Sgemm on a copy of C and returns it.
func (o *operands) run() []float32 {
	c := append([]float32(nil), o.c...)
	Sgemm(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb,
		o.beta, c, o.ldc)
	return c
}

// check compares got against a float64 reference, within a bound on the
// rounding error of a float32 dot product of length k.
func (o *operands) check(t *testing.T, got []float32) {
	t.Helper()
	bad := 0
	for i := 0; i < o.m; i++ {
		for j := 0; j < o.n; j++ {
			var want, mag float64
			for p := 0; p < o.k; p++ {
				x := float64(o.opA(i, p)) * float64(o.opB(p, j))
				want += x
				mag += math.Abs(x)
			}
			want *= float64(o.alpha)
			mag *= math.Abs(float64(o.alpha))
			if o.beta != 0 {
				cv := float64(o.beta) * float64(o.c[i*o.ldc+j])
				want += cv
				mag += math.Abs(cv)
			}
			tol := float64(o.k+4)*0x1p-23*mag + 1e-30
			g := float64(got[i*o.ldc+j])
			if math.Abs(g-want) <= tol {
				continue
			}
			if bad++; bad <= 5 {
				t.Errorf("C[%d][%d] = %g, want %g (tol %g)", i, j, g, want, tol)
			}
		}
	}
	// Padding between rows of C must be left alone.
	for i := 0; i < o.m; i++ {
		for j := o.n; j < o.ldc && i*o.ldc+j < len(o.c); j++ {
			x, y := got[i*o.ldc+j], o.c[i*o.ldc+j]
			if math.Float32bits(x) != math.Float32bits(y) {
				t.Fatalf("padding C[%d][%d] changed from %g to %g", i, j, y, x)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%d elements wrong in all", bad)
	}
}

var transCombos = []struct {
	name           string
	transA, transB bool
}{{"NN", false, false}, {"NT", false, true}, {"TN", true, false}, {"TT", true, true}}

func TestSgemmShapes(t *testing.T) {
	shapes := []struct{ m, k, n int }{
		{1, 1, 1}, {13, 5, 7}, {14, 1, 32}, {15, 17, 33}, {6, 9, 16}, {7, 3, 17},
		{28, 64, 64}, {29, 100, 65}, {5, 512, 2000}, {3, 300, 200}, {100, 1100, 70},
		{40, 512, 600}, {1000, 289, 512},
	}
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, s := range shapes {
			for _, tc := range transCombos {
				name := fmt.Sprintf("%s/%dx%dx%d", tc.name, s.m, s.k, s.n)
				t.Run(name, func(t *testing.T) {
					if testing.Short() && s.m*s.n*s.k > 1e7 {
						t.Skip("large")
					}
					o := newOperands(rng, tc.transA, tc.transB, s.m, s.n, s.k, 0, 1, 0)
					withThreads(2, func() { o.check(t, o.run()) })
				})
			}
		}
	})
}

func TestSgemmAlphaBetaStrides(t *testing.T) {
	scalars := []struct{ alpha, beta float32 }{
		{1, 0}, {1, 1}, {-0.5, 0}, {2, -1.5}, {0.25, 1}, {1, 0.5},
	}
	shapes := []struct{ m, k, n int }{{1, 1, 1}, {13, 5, 7}, {31, 40, 47}, {70, 600, 33}}
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, s := range shapes {
			for _, tc := range transCombos {
				for _, sc := range scalars {
					for _, pad := range []int{0, 3} {
						name := fmt.Sprintf("%s/%dx%dx%d/alpha=%g/beta=%g/pad=%d",
							tc.name, s.m, s.k, s.n, sc.alpha, sc.beta, pad)
						t.Run(name, func(t *testing.T) {
							o := newOperands(rng, tc.transA, tc.transB, s.m, s.n, s.k,
								pad, sc.alpha, sc.beta)
							o.check(t, o.run())
						})
					}
				}
			}
		}
	})
}

func TestSgemmDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// k == 0 and alpha == 0 leave beta·C.
	for _, beta := range []float32{0, 1, 2} {
		o := newOperands(rng, false, false, 3, 4, 0, 1, 1, beta)
		o.check(t, o.run())
		o = newOperands(rng, true, false, 3, 4, 5, 1, 0, beta)
		o.check(t, o.run())
	}
	// Empty C touches nothing.
	Sgemm(false, false, 0, 5, 3, 1, make([]float32, 0), 3, make([]float32, 15), 5, 0, nil, 5)
	Sgemm(false, false, 4, 0, 3, 1, make([]float32, 12), 3, nil, 1, 0, nil, 1)
}

func TestSgemmPanics(t *testing.T) {
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	cases := []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
		{"short lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) }},
		{"short ldb", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 1, 0, c, 2) }},
		{"short ldc", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 1) }},
		{"short a", func() { Sgemm(false, false, 2, 2, 3, 1, a[:5], 3, b, 2, 0, c, 2) }},
		{"short b", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b[:5], 2, 0, c, 2) }},
		{"short c", func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c[:3], 2) }},
		{"short trans a", func() { Sgemm(true, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestDeterminism checks that every element of C comes out bit for bit the
// same whatever the thread count and whichever rows share the call.
func TestDeterminism(t *testing.T) {
	shapes := []struct{ m, k, n int }{{300, 289, 81}, {200, 1100, 49}, {97, 64, 600}}
	forEachKernel(t, func(t *testing.T) {
		for _, s := range shapes {
			for _, tc := range transCombos {
				for _, beta := range []float32{0, 0.5} {
					name := fmt.Sprintf("%s/%dx%dx%d/beta=%g", tc.name, s.m, s.k, s.n, beta)
					t.Run(name, func(t *testing.T) {
						rng := rand.New(rand.NewPCG(7, 8))
						o := newOperands(rng, tc.transA, tc.transB, s.m, s.n, s.k, 1, 0.75, beta)
						checkDeterminism(t, o)
					})
				}
			}
		}
	})
}

func checkDeterminism(t *testing.T, o *operands) {
	var ref []float32
	withThreads(1, func() { ref = o.run() })
	for _, th := range []int{2, 3, 4} {
		withThreads(th, func() {
			sameBits(t, fmt.Sprintf("threads=%d", th), o.run(), ref)
		})
	}

	// Sub-batches: rows i..i+q computed alone, at several offsets and sizes.
	for _, q := range []int{1, 2, 5, 13, 14, 15, 29, 64} {
		for _, i := range []int{0, 1, 7, o.m / 3, o.m - q} {
			if i < 0 || i+q > o.m {
				continue
			}
			sub := *o
			sub.m = q
			if o.transA {
				sub.a = o.a[i:]
			} else {
				sub.a = o.a[i*o.lda:]
			}
			sub.c = o.c[i*o.ldc : (i+q-1)*o.ldc+o.n]
			for _, th := range []int{1, 2} {
				withThreads(th, func() {
					got := sub.run()
					want := ref[i*o.ldc : (i+q-1)*o.ldc+o.n]
					sameBits(t, fmt.Sprintf("rows %d..%d threads=%d", i, i+q, th), got, want)
				})
			}
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %x, want %x", what, i,
				math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

func TestSgemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	forEachKernel(t, func(t *testing.T) {
		for _, th := range []int{1, 2} {
			o := newOperands(rng, false, true, 256, 128, 128, 0, 1, 0)
			withThreads(th, func() {
				o.run()
				c := make([]float32, len(o.c))
				n := testing.AllocsPerRun(20, func() {
					Sgemm(false, true, o.m, o.n, o.k, 1, o.a, o.lda, o.b, o.ldb, 0, c, o.ldc)
				})
				if n != 0 {
					t.Errorf("threads=%d: %v allocations per warm call, want 0", th, n)
				}
			})
		}
	})
}

func TestKernelName(t *testing.T) {
	names := map[string]bool{"avx512": true, "avx2": true, "generic": true}
	if !names[Kernel()] {
		t.Errorf("Kernel() = %q", Kernel())
	}
	if kernels[len(kernels)-1].name != "generic" {
		t.Errorf("last kernel is %q, want generic", kernels[len(kernels)-1].name)
	}
}

// TestConcurrentCalls runs products on several goroutines at once; each
// must match the same product computed alone.
func TestConcurrentCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ops := make([]*operands, 6)
	want := make([][]float32, len(ops))
	for i := range ops {
		ops[i] = newOperands(rng, i%2 == 1, i%3 == 1, 300+37*i, 100+9*i, 300, 0, 1, 0.5)
		want[i] = ops[i].run()
	}
	errs := make(chan string, len(ops))
	withThreads(2, func() {
		for i, o := range ops {
			go func() {
				for range 5 {
					got := o.run()
					for e := range got {
						if math.Float32bits(got[e]) != math.Float32bits(want[i][e]) {
							errs <- fmt.Sprintf("product %d: element %d differs", i, e)
							return
						}
					}
				}
				errs <- ""
			}()
		}
		for range ops {
			if e := <-errs; e != "" {
				t.Error(e)
			}
		}
	})
}
