package gemm

import (
	"sync/atomic"
	"unsafe"
)

// kernelFunc computes one tile of C from kc steps of A and a packed panel of
// B; see asm_gen.go for the full contract. a+i·rsa+p·csa (bytes) is A(i,p)
// for i < the kernel's mr, so the caller keeps every such address valid.
// The tile written is mr×nr (mr, nr at most the kernel's block); with load
// == 0, C is not read.
type kernelFunc func(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernel is a micro-kernel with its register block.
type kernel struct {
	name   string
	mr, nr int        // rows of A and columns of B in one tile
	fn     kernelFunc // any strides
	contig kernelFunc // csa == 4 only: rows of A contiguous along k
	packed kernelFunc // rsa == 4, csa == 4·mr only: a panel made by packA
	// packA copies cols ≤ mr floats from each of kc rows of src, lds
	// bytes apart, to dst as kc groups of mr floats, padded with zeros;
	// packB does the same with nr.
	packA, packB packFunc
}

// packFunc copies a panel; see kernel.packA.
type packFunc func(dst, src *float32, lds uintptr, kc, cols int)

// generic is the portable kernel, used where no assembly kernel fits.
var generic = &kernel{name: "generic", mr: 4, nr: 4, fn: kernGeneric,
	contig: kernGeneric, packed: kernGeneric, packA: pack4, packB: pack4}

// kernels lists the kernels usable on this CPU, fastest first; the last is
// always generic. It is filled in by init.
var kernels []*kernel

// active is the kernel Sgemm uses.
var active atomic.Pointer[kernel]

func init() {
	kernels = append(archKernels(), generic)
	active.Store(kernels[0])
}

// Kernel names the micro-kernel in use: "avx512", "avx2" or "generic".
func Kernel() string { return active.Load().name }

// useKernel makes Sgemm use the named kernel and reports whether this CPU
// has it. It is a hook for tests and benchmarks, not safe during Sgemm calls.
func useKernel(name string) bool {
	for _, k := range kernels {
		if k.name == name {
			active.Store(k)
			return true
		}
	}
	return false
}

// kernGeneric is the 4×4 kernel in plain Go. It keeps the contract of the
// assembly kernels: acc[i][j] sums p in order, one multiply-add per step.
// It stays in Go so that it also runs on arm64; the compiler may fuse the
// multiply-add there, which changes rounding but not determinism.
func kernGeneric(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int) {
	const bw = 4
	rs, cs := int(rsa/4), int(csa/4)
	as := unsafe.Slice(a, 3*rs+(kc-1)*cs+1)
	bs := unsafe.Slice(b, kc*bw)
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		bp := bs[p*bw : p*bw+bw : p*bw+bw]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		o := p * cs
		a0, a1, a2, a3 := as[o], as[o+rs], as[o+2*rs], as[o+3*rs]
		c00, c01, c02, c03 = c00+a0*b0, c01+a0*b1, c02+a0*b2, c03+a0*b3
		c10, c11, c12, c13 = c10+a1*b0, c11+a1*b1, c12+a1*b2, c13+a1*b3
		c20, c21, c22, c23 = c20+a2*b0, c21+a2*b1, c22+a2*b2, c23+a2*b3
		c30, c31, c32, c33 = c30+a3*b0, c31+a3*b1, c32+a3*b2, c33+a3*b3
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	ld := int(ldc / 4)
	cs2 := unsafe.Slice(c, (mr-1)*ld+nr)
	for i := 0; i < mr; i++ {
		row := cs2[i*ld : i*ld+nr]
		for j := range row {
			if load != 0 {
				row[j] = alpha*acc[i][j] + beta*row[j]
			} else {
				row[j] = alpha * acc[i][j]
			}
		}
	}
}

// pack4 is packA and packB for the generic kernel.
func pack4(dst, src *float32, lds uintptr, kc, cols int) {
	const w = 4
	ld := int(lds / 4)
	d := unsafe.Slice(dst, kc*w)
	s := unsafe.Slice(src, (kc-1)*ld+cols)
	for p := 0; p < kc; p++ {
		g := d[p*w : p*w+w]
		copy(g, s[p*ld:p*ld+cols])
		clear(g[cols:])
	}
}
