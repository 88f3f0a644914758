package ae

// sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices with
// the engine in ae/gemm (assembly kernels chosen for the CPU, parallel,
// deterministic). It is a variable so tests can compare engines. Each call
// is counted in [ReadStats].
var sgemm = countedSgemm
