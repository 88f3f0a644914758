package gemm_test

import (
	"fmt"

	"github.com/cleanframe/cleanframe/ae/gemm"
)

// A batch of two patches of three pixels through a layer of two units:
// C = A·W, with A 2×3 and W 3×2, all row-major.
func ExampleSgemm() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float32, 2*2)
	gemm.Sgemm(false, false, 2, 2, 3, 1, a, 3, w, 2, 0, c, 2)
	fmt.Println(c)

	// The same weights transposed, stored 2×3: C = A·Wᵀ, accumulated.
	wt := []float32{
		1, 0, 1,
		0, 1, 1,
	}
	gemm.Sgemm(false, true, 2, 2, 3, 1, a, 3, wt, 3, 1, c, 2)
	fmt.Println(c)
	// Output:
	// [4 5 10 11]
	// [8 10 20 22]
}
