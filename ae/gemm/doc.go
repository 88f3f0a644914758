// Package gemm multiplies float32 matrices for the autoencoder:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// where op(X) is X or its transpose Xᵀ. All matrices are row-major: element
// (i, j) of a matrix with leading dimension ld is at index i·ld + j.
//
// # Kernels
//
// The product is cut into tiles computed by a micro-kernel in Go assembly,
// chosen once at start-up from the CPU's features: "avx512" (14×32 tiles in
// zmm registers), "avx2" (6×16 tiles, AVX2 with FMA), or "generic" (4×4 in
// plain Go, used on other CPUs and architectures, and with the purego build
// tag). Kernel reports the choice.
//
// # Concurrency
//
// Sgemm is safe for concurrent use. One call may use up to Threads()
// goroutines (GOMAXPROCS unless SetThreads says otherwise), all joined
// before it returns; small products run on the calling goroutine only.
// Scratch buffers come from a pool, so warm calls do not allocate.
//
// # Determinism
//
// Every element C[i][j] is computed the same way whatever the number of
// threads and whatever the other rows of the call: the sum over k runs in
// ascending order, one fused multiply-add per step, within blocks of k whose
// cut depends only on k, and each block is added to C in order. So a row of
// A multiplied alone gives the same bits as the same row inside a batch.
// Results may differ between kernels (and so between machines).
package gemm
