//go:build openblas && cgo

package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

func init() {
	openblas = &library{
		name:       "OpenBLAS",
		setThreads: func(n int) { C.openblas_set_num_threads(C.int(n)) },
		gemm: func(m, n, k int, a, b, c []float32) {
			C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, C.CblasNoTrans,
				C.blasint(m), C.blasint(n), C.blasint(k), 1,
				(*C.float)(&a[0]), C.blasint(k), (*C.float)(&b[0]), C.blasint(n),
				0, (*C.float)(&c[0]), C.blasint(n))
		},
	}
}

// openblasInfo describes the OpenBLAS build and the core it chose.
func openblasInfo() string {
	return C.GoString(C.openblas_get_config()) + ", core " +
		C.GoString(C.openblas_get_corename())
}
