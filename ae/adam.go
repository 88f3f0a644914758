package ae

import "math"

// Adam is the optimiser of Kingma and Ba (2015) over a flat parameter vector.
type Adam struct {
	Beta1, Beta2, Eps float64
	M, V              []float32
	Step              int64
}

// NewAdam returns Adam with the usual constants for n parameters.
func NewAdam(n int) *Adam {
	return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		M: make([]float32, n), V: make([]float32, n)}
}

// Update applies one step with learning rate lr to params given grad.
func (o *Adam) Update(params, grad []float32, lr float64) {
	if len(params) != len(grad) || len(params) != len(o.M) {
		panic("ae: adam sizes differ")
	}
	o.Step++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	c2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	step := float32(lr * math.Sqrt(c2) / c1)
	eps := float32(o.Eps * math.Sqrt(c2))
	m, v := o.M, o.V
	for i, g := range grad {
		mi := b1*m[i] + (1-b1)*g
		vi := b2*v[i] + (1-b2)*g*g
		m[i], v[i] = mi, vi
		params[i] -= step * mi / (sqrt32(vi) + eps)
	}
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
