// Command gemm compares the float32 matrix multiply of package ae/gemm with
// gonum's blas32.Gemm and, when built with -tags openblas (cgo and
// libopenblas-dev needed), OpenBLAS's cblas_sgemm, on the layer shapes of the
// patch autoencoder at 1 and 2 threads. All libraries are measured in the
// same run, call by call in alternating order, so that the ratios hold even
// when other work shares the machine. Each cell is the best of several calls.
//
//	go run ./bench/gemm
//	go run -tags openblas ./bench/gemm
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cleanframe/cleanframe/ae/gemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// library is one implementation of C = op(A)·op(B) on row-major float32
// matrices.
type library struct {
	name       string
	setThreads func(n int)
	gemm       func(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int,
		c []float32)
}

// openblas is set by openblas.go when built with -tags openblas.
var openblas *library

var ours = &library{
	name:       "ours",
	setThreads: gemm.SetThreads,
	gemm: func(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int,
		c []float32) {
		gemm.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
	},
}

var gonumLib = &library{
	name:       "gonum",
	setThreads: func(n int) { runtime.GOMAXPROCS(n) },
	gemm: func(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int,
		c []float32) {
		ga := blas32.General{Rows: m, Cols: k, Stride: lda, Data: a}
		if tA {
			ga.Rows, ga.Cols = k, m
		}
		gb := blas32.General{Rows: k, Cols: n, Stride: ldb, Data: b}
		if tB {
			gb.Rows, gb.Cols = n, k
		}
		blas32.Gemm(trans(tA), trans(tB), 1, ga, gb,
			0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
	},
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// shape is one product: op(A) is m×k, op(B) is k×n.
type shape struct {
	m, k, n int
	tA, tB  bool
}

// call runs l on the shape's operands, stored as op says.
func (s shape) call(l *library, a, b, c []float32) {
	lda, ldb := s.k, s.n
	if s.tA {
		lda = s.m
	}
	if s.tB {
		ldb = s.k
	}
	l.gemm(s.tA, s.tB, s.m, s.n, s.k, a, lda, b, ldb, c)
}

var shapes = []shape{
	{m: 4096, k: 289, n: 512}, {m: 4096, k: 512, n: 512}, {m: 4096, k: 512, n: 81},
	{m: 4096, k: 169, n: 384}, {m: 4096, k: 384, n: 384}, {m: 4096, k: 384, n: 49},
}

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gemm:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("gemm", flag.ContinueOnError)
	rounds := fs.Int("rounds", 8, "calls per library and cell, interleaved; the best counts")
	limit := fs.Duration("cap", 500*time.Millisecond,
		"time per library and cell after which a slow library stops (after 2 calls)")
	only := fs.String("only", "", "measure only shapes whose M×K×N name contains this")
	extra := fs.String("shapes", "", "comma-separated MxKxN shapes to measure instead")
	op := fs.String("op", "NN", "transposes of A and B: NN, NT, TN or TT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*op) != 2 || strings.Trim(*op, "NT") != "" {
		return fmt.Errorf("bad -op %q, want NN, NT, TN or TT", *op)
	}
	list := shapes
	if *extra != "" {
		list = nil
		for _, f := range strings.Split(*extra, ",") {
			var s shape
			if _, err := fmt.Sscanf(f, "%dx%dx%d", &s.m, &s.k, &s.n); err != nil ||
				s.m < 1 || s.k < 1 || s.n < 1 {
				return fmt.Errorf("bad shape %q, want MxKxN", f)
			}
			list = append(list, s)
		}
	}
	maxProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(maxProcs)

	libs := []*library{ours, gonumLib}
	if openblas != nil {
		libs = append(libs, openblas)
	}
	fmt.Fprintf(w, "C = op(A)·op(B), op %s; ours: kernel %s; GOMAXPROCS %d; GFLOP/s of the "+
		"best of up to %d interleaved calls per cell\n", *op, gemm.Kernel(), maxProcs, *rounds)
	if openblas != nil {
		fmt.Fprintf(w, "OpenBLAS: %s\n", openblasInfo())
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "M×K×N\tthreads\tours\tgonum\tOpenBLAS\tours/OpenBLAS\tours/gonum\t"+
		"max rel diff\t")
	for _, th := range []int{1, 2} {
		for _, s := range list {
			s.tA, s.tB = (*op)[0] == 'T', (*op)[1] == 'T'
			name := fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n)
			if !strings.Contains(name, *only) {
				continue
			}
			res, diff := measure(libs, s, th, *rounds, *limit)
			ob, ratio := "n/a (build with -tags openblas)", "n/a"
			if g, ok := res["OpenBLAS"]; ok {
				ob = fmt.Sprintf("%.1f", g)
				ratio = fmt.Sprintf("%.2f", res["ours"]/g)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\t%s\t%.1f×\t%.1e\t\n",
				name, th, res["ours"], res["gonum"], ob, ratio, res["ours"]/res["gonum"], diff)
		}
	}
	return tw.Flush()
}

// measure times every library on one shape with th threads, one call of
// each in turn (the order alternating between rounds) so that all see the
// same load. It returns each library's GFLOP/s from its fastest call, and
// the largest relative difference of a library's result from ours.
func measure(libs []*library, s shape, th, rounds int, limit time.Duration) (
	map[string]float64, float64) {
	rng := rand.New(rand.NewPCG(uint64(s.k), uint64(s.n)))
	a, b := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n)
	cs := make([][]float32, len(libs))
	best := make([]time.Duration, len(libs))
	spent := make([]time.Duration, len(libs))
	for i, l := range libs {
		cs[i] = make([]float32, s.m*s.n)
		l.setThreads(th)
		s.call(l, a, b, cs[i]) // warm up
		best[i] = time.Duration(math.MaxInt64)
	}
	for r := 0; r < rounds; r++ {
		for o := range libs {
			i := o
			if r%2 == 1 {
				i = len(libs) - 1 - o
			}
			if r >= 2 && spent[i] > limit {
				continue
			}
			l := libs[i]
			l.setThreads(th)
			t := time.Now()
			s.call(l, a, b, cs[i])
			d := time.Since(t)
			best[i], spent[i] = min(best[i], d), spent[i]+d
		}
	}
	flops := 2 * float64(s.m) * float64(s.k) * float64(s.n)
	res := make(map[string]float64)
	var diff float64
	for i, l := range libs {
		res[l.name] = flops / best[i].Seconds() / 1e9
		diff = max(diff, relDiff(cs[i], cs[0]))
	}
	return res, diff
}

func relDiff(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		num = max(num, math.Abs(float64(x[i])-float64(y[i])))
		den = max(den, math.Abs(float64(y[i])))
	}
	return num / max(den, 1e-30)
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}
