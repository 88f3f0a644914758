//go:build race

package gemm

// raceEnabled is set under the race detector, where sync.Pool drops items
// at random and so warm calls may allocate.
const raceEnabled = true
