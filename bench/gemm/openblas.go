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
		gemm: func(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int,
			c []float32) {
			C.cblas_sgemm(C.CblasRowMajor, cblasTrans(tA), cblasTrans(tB),
				C.blasint(m), C.blasint(n), C.blasint(k), 1,
				(*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
				0, (*C.float)(&c[0]), C.blasint(n))
		},
	}
}

// openblasInfo describes the OpenBLAS build and the core it chose.
func openblasInfo() string {
	return C.GoString(C.openblas_get_config()) + ", core " +
		C.GoString(C.openblas_get_corename())
}

func cblasTrans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
