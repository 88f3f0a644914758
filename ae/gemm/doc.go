// Package gemm multiplies float32 matrices for the autoencoder:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// where op(X) is X or its transpose Xᵀ, op(A) is m×k, op(B) is k×n and C is
// m×n. All matrices are row-major: element (i, j) of a matrix stored with
// leading dimension ld is at index i·ld + j, and ld is at least the width
// of the matrix as stored. Sgemm writes C in place and reads nothing else
// from it when beta == 0, so C may hold garbage (even NaN) then. The caller
// owns all three slices; Sgemm keeps no reference to them.
//
// # Kernels
//
// The product is cut into tiles computed by a micro-kernel in Go assembly,
// chosen once at start-up from the CPU's features (golang.org/x/sys/cpu):
//
//   - "avx512": 14×32 tiles in 28 zmm accumulators (AVX-512F);
//   - "avx2": 6×16 tiles in 12 ymm accumulators (AVX2 and FMA);
//   - "generic": 4×4 tiles in plain Go, on other CPUs and architectures,
//     and with the purego build tag.
//
// Kernel reports the choice. B is packed into panels as wide as a tile, a
// block of k at a time (at most 512 steps, about 1 MiB of panels, kept in
// each core's L2 cache); rows of A are read in place, or packed by vector
// code when A is transposed. Tiles at the right and bottom edges are
// written through masks, so no padding of C is needed.
//
// # Concurrency
//
// Sgemm is safe for concurrent use. One call uses up to Threads()
// goroutines (GOMAXPROCS unless SetThreads says otherwise), which take row
// tiles of C (or column tiles, when C is short) from a shared counter and
// are all joined before Sgemm returns; small products run on the calling
// goroutine alone. Scratch buffers come from a sync.Pool, so warm calls do
// not allocate.
//
// # Determinism
//
// Every element C[i][j] is computed the same way whatever the number of
// threads and whatever the other rows of the call: the sum over k runs in
// ascending order, one multiply-add per step (fused, in the assembly
// kernels), within blocks of k whose cut depends only on k, and the blocks
// are added to C in order. So a row
// of A multiplied alone gives the same bits as the same row inside a batch,
// at any thread count. Results may differ between kernels, and so between
// machines.
package gemm
