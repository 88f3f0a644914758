package ae

import (
	"sync/atomic"

	"github.com/cleanframe/cleanframe/ae/gemm"
)

// Stats are running totals of this process's matrix and batch work, for
// telemetry: a rate of Flops is the GEMM throughput, Rows/Batches the mean
// batch size of denoising. They are updated with one atomic add per matrix
// product or batch, not per element.
type Stats struct {
	Flops   uint64 // floating-point operations of matrix products, 2·m·n·k each
	Rows    uint64 // patch rows run through the network while denoising
	Batches uint64 // batches of patch rows (at most MaxBatchRows each)
}

var stats struct{ flops, rows, batches atomic.Uint64 }

// ReadStats returns the totals since the process started.
func ReadStats() Stats {
	return Stats{Flops: stats.flops.Load(), Rows: stats.rows.Load(),
		Batches: stats.batches.Load()}
}

// countedSgemm is gemm.Sgemm that adds its operations to the totals.
func countedSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	stats.flops.Add(2 * uint64(m) * uint64(n) * uint64(k))
	gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// countBatch adds one denoising batch of rows patch rows to the totals.
func countBatch(rows int) {
	stats.rows.Add(uint64(rows))
	stats.batches.Add(1)
}
