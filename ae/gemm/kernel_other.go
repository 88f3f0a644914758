//go:build !amd64 || purego

package gemm

// archKernels lists no assembly kernels: the portable one serves.
func archKernels() []*kernel { return nil }
