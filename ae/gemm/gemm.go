package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

const (
	// kcMax is the longest block of the k dimension. A longer k is cut into
	// equal blocks of at most kcMax; the cut depends on k alone.
	kcMax = 512
	// bBudget is the size in bytes of a packed block of B, which each core
	// keeps in its L2 cache while the rows of A stream past it.
	bBudget = 1 << 20
	// minWork is the least number of multiply-adds given to one thread.
	minWork = 1 << 20
)

// threads is the thread count set by SetThreads; 0 means GOMAXPROCS.
var threads atomic.Int32

// SetThreads sets how many threads one Sgemm call may use; n ≤ 0 restores
// the default, GOMAXPROCS. Small products use fewer. Results do not depend
// on it.
func SetThreads(n int) {
	threads.Store(int32(max(n, 0)))
}

// Threads reports how many threads one Sgemm call may use.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(X) is X, or Xᵀ when transX is set. op(A) is m×k, op(B) is k×n and C is
// m×n; lda, ldb and ldc are the row strides of A, B and C as stored. With
// beta == 0, C is written without being read. Sgemm panics on negative
// sizes, strides shorter than a stored row, or slices too short.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}

	p := plans.Get().(*plan)
	*p = plan{
		kr: active.Load(), transA: transA, transB: transB, m: m, n: n,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		bufB: p.bufB, bufE: p.bufE, bufA: p.bufA,
	}
	p.run(k, beta)
	p.a, p.b, p.c = nil, nil, nil
	plans.Put(p)
}

// plans recycles the plans and their buffers so that calls allocate nothing
// once warm.
var plans = sync.Pool{New: func() any { return new(plan) }}

// plan is one Sgemm call: its operands, the current block, the buffers and
// the split across workers.
type plan struct {
	kr             *kernel
	transA, transB bool
	m, n           int
	alpha          float32
	a, b, c        []float32
	lda, ldb, ldc  int

	// The current block: columns j0..j0+nb of B and C, steps p0..p0+kb of
	// k; C is read (load == 1) and scaled by beta unless beta == 0.
	j0, nb, p0, kb int
	beta           float32
	load           int

	bp, edge   []float32 // packed B block; A rows of the last, short tile
	apack      []float32 // one packed row tile of A per worker (transA)
	aStride    int       // floats between the workers' parts of apack
	bufB, bufE []float32 // backing storage of bp, edge and apack
	bufA       []float32

	nw     int          // workers
	splitN bool         // workers share out column tiles rather than row tiles
	pack   bool         // the phase being run: packing or computing
	next   atomic.Int64 // the next item of the phase to take
	slots  atomic.Int64 // hands each worker of a phase its part of apack
	wg     sync.WaitGroup
}

// run computes the product block by block.
func (p *plan) run(k int, beta float32) {
	kr := p.kr
	nk := (k + kcMax - 1) / kcMax
	kc := (k + nk - 1) / nk
	nc := max(1, bBudget/(kc*kr.nr*4)) * kr.nr
	p.bp = aligned(&p.bufB, kc*roundUp(min(nc, p.n), kr.nr))
	p.edge = aligned(&p.bufE, kc*kr.mr)
	p.aStride = roundUp(kc*kr.mr, 16)

	for p.j0 = 0; p.j0 < p.n; p.j0 += nc {
		p.nb = min(nc, p.n-p.j0)
		p.split(k)
		for p.p0 = 0; p.p0 < k; p.p0 += kc {
			p.kb = min(kc, k-p.p0)
			p.beta, p.load = beta, 1
			if p.p0 > 0 {
				p.beta = 1
			} else if beta == 0 {
				p.load = 0
			}
			p.packAndCompute()
		}
	}
}

// packSerial is the size (floats) of a block of B that the calling
// goroutine packs alone: for less, starting workers costs more than it saves.
const packSerial = 1 << 16

// packAndCompute packs the current block of B, then computes its part of C.
func (p *plan) packAndCompute() {
	if nw := p.nw; p.kb*p.nb <= packSerial {
		p.nw = 1
		p.parallel(true)
		p.nw = nw
	} else {
		p.parallel(true)
	}
	p.parallel(false)
}

// split chooses the number of workers for the current column block and
// whether they share out row tiles or column tiles.
func (p *plan) split(k int) {
	mt := ceilDiv(p.m, p.kr.mr)
	nt := ceilDiv(p.nb, p.kr.nr)
	nw := min(Threads(), max(1, p.m*p.nb*k/minWork))
	p.splitN = false
	switch {
	case mt >= nw:
	case nt >= mt:
		p.splitN = true
		nw = min(nw, nt)
	default:
		nw = mt
	}
	p.nw = max(nw, 1)
	if p.transA && !p.splitN {
		p.apack = aligned(&p.bufA, p.nw*p.aStride)
	}
}

// tasks carries plans to the goroutines that parallel starts; each takes
// exactly one. Passing work through a channel, rather than a closure, keeps
// the call free of allocations.
var tasks = make(chan *plan, 256)

func worker() {
	p := <-tasks
	p.phase()
	p.wg.Done()
}

// parallel runs one phase on p.nw workers, the caller being one of them,
// and returns when all are done. Workers take items (tiles, panels) one at
// a time from a shared counter, so a worker that the OS delays leaves its
// share to the others.
func (p *plan) parallel(pack bool) {
	p.pack = pack
	p.next.Store(0)
	p.slots.Store(0)
	p.wg.Add(p.nw - 1)
	for w := 1; w < p.nw; w++ {
		go worker()
		tasks <- p
	}
	p.phase()
	p.wg.Wait()
}

// phase runs items of the current phase until none are left.
func (p *plan) phase() {
	n := p.items()
	var abuf []float32 // this worker's packed row tile of A, if any
	if !p.pack && p.apack != nil {
		w := int(p.slots.Add(1) - 1)
		abuf = p.apack[w*p.aStride : (w+1)*p.aStride]
	}
	for {
		it := int(p.next.Add(1) - 1)
		if it >= n {
			return
		}
		if p.pack {
			p.packItem(it)
		} else {
			p.computeItem(it, abuf)
		}
	}
}

// items counts the items of the current phase: one per panel of B, plus
// the short last row tile of A, when packing; one per row tile (or column
// tile, with splitN) when computing.
func (p *plan) items() int {
	mt, nt := ceilDiv(p.m, p.kr.mr), ceilDiv(p.nb, p.kr.nr)
	switch {
	case p.pack:
		return nt + 1
	case p.splitN:
		return nt
	default:
		return mt
	}
}

// packItem packs panel it of B or, for it past the last panel, the rows of
// a short last row tile of A.
func (p *plan) packItem(it int) {
	kr, kb := p.kr, p.kb
	nr := kr.nr
	if j := it * nr; j < p.nb {
		dst := p.bp[it*kb*nr : (it+1)*kb*nr]
		w := min(nr, p.nb-j)
		if p.transB {
			packBT(dst, p.b, p.ldb, p.p0, kb, p.j0+j, w, nr)
		} else {
			kr.packB(&dst[0], &p.b[p.p0*p.ldb+p.j0+j], uintptr(p.ldb)*4, kb, w)
		}
		return
	}
	if r := p.m % kr.mr; r != 0 {
		packEdge(p.edge[:kb*kr.mr], p.transA, p.a, p.lda, p.p0, kb, p.m-r, r)
	}
}

// computeItem runs the kernel over row tile it of C, or over column tile
// it with splitN. abuf, when not nil, is where to pack A's row tile.
func (p *plan) computeItem(it int, abuf []float32) {
	kr := p.kr
	mt, nt := ceilDiv(p.m, kr.mr), ceilDiv(p.nb, kr.nr)
	if p.splitN {
		for i := 0; i < mt; i++ {
			p.tile(i, it, p.rowTile(i, nil))
		}
		return
	}
	at := p.rowTile(it, abuf)
	for j := 0; j < nt; j++ {
		p.tile(it, j, at)
	}
}

// aTile says how the kernel reads a row tile of op(A) in the current k
// block: the address of its first element, the byte strides between rows
// and between steps of k, and the kernel variant that fits.
type aTile struct {
	a        *float32
	rsa, csa uintptr
	fn       kernelFunc
}

// rowTile locates row tile it of op(A). With transA and a buffer, it packs
// the tile there first; a short last tile reads the copy packEdge made.
func (p *plan) rowTile(it int, buf []float32) aTile {
	kr := p.kr
	i := it * kr.mr
	rows := min(kr.mr, p.m-i)
	switch {
	case p.transA && buf != nil:
		kr.packA(&buf[0], &p.a[p.p0*p.lda+i], uintptr(p.lda)*4, p.kb, rows)
		return aTile{&buf[0], 4, uintptr(kr.mr) * 4, kr.packed}
	case rows < kr.mr:
		return aTile{&p.edge[0], uintptr(p.kb) * 4, 4, kr.contig}
	case p.transA:
		return aTile{&p.a[p.p0*p.lda+i], 4, uintptr(p.lda) * 4, kr.fn}
	default:
		return aTile{&p.a[i*p.lda+p.p0], uintptr(p.lda) * 4, 4, kr.contig}
	}
}

// tile runs the kernel on row tile it and column tile jt of the block.
func (p *plan) tile(it, jt int, at aTile) {
	kr, kb := p.kr, p.kb
	i, j := it*kr.mr, jt*kr.nr
	at.fn(kb, at.a, at.rsa, at.csa, &p.bp[jt*kb*kr.nr], &p.c[i*p.ldc+p.j0+j],
		uintptr(p.ldc)*4, p.alpha, p.beta, p.load, min(kr.mr, p.m-i), min(kr.nr, p.nb-j))
}

// scale sets C = beta·C, writing zeros without reading C when beta == 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// checkArgs panics unless the sizes, strides and slice lengths are valid.
func checkArgs(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative size")
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case lda < max(1, ac):
		panic("gemm: lda shorter than a row of A")
	case ldb < max(1, bc):
		panic("gemm: ldb shorter than a row of B")
	case ldc < max(1, n):
		panic("gemm: ldc shorter than a row of C")
	case ar > 0 && ac > 0 && la < (ar-1)*lda+ac:
		panic("gemm: A too short")
	case br > 0 && bc > 0 && lb < (br-1)*ldb+bc:
		panic("gemm: B too short")
	case m > 0 && n > 0 && lc < (m-1)*ldc+n:
		panic("gemm: C too short")
	}
}

// aligned returns n floats of *buf starting on a 64-byte boundary, growing
// *buf when it is too small.
func aligned(buf *[]float32, n int) []float32 {
	if cap(*buf) < n+16 {
		*buf = make([]float32, n+16)
	}
	s := (*buf)[:cap(*buf)]
	off := (16 - int(uintptr(unsafe.Pointer(&s[0]))%64/4)) % 16
	return s[off : off+n]
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
