//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run asm_gen.go

// kernAVX512 is the 14×32 AVX-512 kernel (two zmm accumulators per row).
//
//go:noescape
func kernAVX512(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernAVX512C is kernAVX512 for csa == 4.
//
//go:noescape
func kernAVX512C(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernAVX2C is kernAVX2 for csa == 4.
//
//go:noescape
func kernAVX2C(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernAVX2 is the 6×16 AVX2+FMA kernel (two ymm accumulators per row).
//
//go:noescape
func kernAVX2(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernAVX512P is kernAVX512 for a panel packed by packTAVX512.
//
//go:noescape
func kernAVX512P(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// kernAVX2P is kernAVX2 for a panel packed by packTAVX2.
//
//go:noescape
func kernAVX2P(kc int, a *float32, rsa, csa uintptr, b, c *float32, ldc uintptr,
	alpha, beta float32, load, mr, nr int)

// packAAVX512 packs up to 14 columns of a stored A for kernAVX512P.
//
//go:noescape
func packAAVX512(dst, src *float32, lds uintptr, kc, cols int)

// packBAVX512 packs a panel of up to 32 columns of B.
//
//go:noescape
func packBAVX512(dst, src *float32, lds uintptr, kc, cols int)

// packAAVX2 packs up to 6 columns of a stored A for kernAVX2P.
//
//go:noescape
func packAAVX2(dst, src *float32, lds uintptr, kc, cols int)

// packBAVX2 packs a panel of up to 16 columns of B.
//
//go:noescape
func packBAVX2(dst, src *float32, lds uintptr, kc, cols int)

// archKernels lists the assembly kernels this CPU and OS support, fastest
// first.
func archKernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, &kernel{name: "avx512", mr: 14, nr: 32, fn: kernAVX512,
			contig: kernAVX512C, packed: kernAVX512P,
			packA: packAAVX512, packB: packBAVX512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &kernel{name: "avx2", mr: 6, nr: 16, fn: kernAVX2,
			contig: kernAVX2C, packed: kernAVX2P,
			packA: packAAVX2, packB: packBAVX2})
	}
	return ks
}
