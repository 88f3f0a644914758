//go:build race

package integration

// The race detector makes denoising about ten times slower; the load test
// sends fewer images so that it stays within its time bound.
func init() { hotswapImages = 300 }
