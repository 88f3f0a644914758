package ae

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Net is a stack of dense layers: ReLU after every layer but the last, which
// is linear. All weights and biases live in one flat slice, Params, so that
// optimisers and checksums can treat them as a single vector; Layers views
// into it.
type Net struct {
	Sizes  []int // Sizes[0] inputs, then the width of every layer
	Params []float32
	Layers []Layer
}

// Layer is one dense layer, a view into its net's Params.
type Layer struct {
	In, Out int
	W       []float32 // In×Out, row-major
	B       []float32 // Out
}

// NewNet returns a net with the given sizes and all parameters zero.
// It panics if fewer than two sizes are given or a size is not positive.
func NewNet(sizes ...int) *Net {
	if len(sizes) < 2 {
		panic("ae: a net needs at least an input and an output size")
	}
	total := 0
	for i, s := range sizes {
		if s <= 0 {
			panic(fmt.Sprintf("ae: layer size %d is %d", i, s))
		}
		if i > 0 {
			total += sizes[i-1]*s + s
		}
	}
	n := &Net{Sizes: append([]int(nil), sizes...), Params: make([]float32, total)}
	n.bind()
	return n
}

func (n *Net) bind() {
	n.Layers = n.Layers[:0]
	off := 0
	for i := 1; i < len(n.Sizes); i++ {
		in, out := n.Sizes[i-1], n.Sizes[i]
		l := Layer{In: in, Out: out}
		l.W = n.Params[off : off+in*out : off+in*out]
		off += in * out
		l.B = n.Params[off : off+out : off+out]
		off += out
		n.Layers = append(n.Layers, l)
	}
}

// In is the number of input features, Out the number of outputs.
func (n *Net) In() int  { return n.Sizes[0] }
func (n *Net) Out() int { return n.Sizes[len(n.Sizes)-1] }

// InitHe draws hidden weights from N(0, 2/in) (He et al.) and sets the last
// layer's weights to lastScale times that, biases to zero. A small lastScale
// starts a residual denoiser close to the identity.
func (n *Net) InitHe(rng *rand.Rand, lastScale float64) {
	for i, l := range n.Layers {
		std := math.Sqrt(2 / float64(l.In))
		if i == len(n.Layers)-1 {
			std *= lastScale
		}
		for j := range l.W {
			l.W[j] = float32(rng.NormFloat64() * std)
		}
		clear(l.B)
	}
}

// Clone returns a deep copy.
func (n *Net) Clone() *Net {
	c := NewNet(n.Sizes...)
	copy(c.Params, n.Params)
	return c
}

// Activations holds the per-layer outputs of one forward pass over a batch.
// Acts[0] is the input; Acts[i] is the output of layer i-1.
type Activations struct {
	Rows int
	Acts [][]float32
}

// ensure sizes the activation buffers for rows rows, reusing memory.
func (a *Activations) ensure(n *Net, rows int) {
	if len(a.Acts) != len(n.Sizes) {
		a.Acts = make([][]float32, len(n.Sizes))
	}
	for i, s := range n.Sizes {
		need := rows * s
		if cap(a.Acts[i]) < need {
			a.Acts[i] = make([]float32, need)
		}
		a.Acts[i] = a.Acts[i][:need]
	}
	a.Rows = rows
}

// Forward evaluates the net on the rows × In() batch in a.Acts[0] (the caller
// fills it after calling a.Input) and returns the rows × Out() output, which
// aliases a's memory.
func (n *Net) Forward(a *Activations) []float32 {
	rows := a.Rows
	for i, l := range n.Layers {
		x, y := a.Acts[i], a.Acts[i+1]
		for r := 0; r < rows; r++ {
			copy(y[r*l.Out:(r+1)*l.Out], l.B)
		}
		sgemm(false, false, rows, l.Out, l.In, 1, x, l.In, l.W, l.Out, 1, y, l.Out)
		if i < len(n.Layers)-1 {
			relu(y)
		}
	}
	return a.Acts[len(n.Layers)]
}

// Input sizes a for a batch of rows rows and returns the input matrix to fill.
func (a *Activations) Input(n *Net, rows int) []float32 {
	a.ensure(n, rows)
	return a.Acts[0]
}

// relu clamps negative values to zero without branches: the signs of
// activations are close to random, so a branch mispredicts about half the
// time. The sign bit, spread over the word, masks the value.
func relu(v []float32) {
	for i, x := range v {
		b := math.Float32bits(x)
		v[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
	}
}

// Backward computes the gradient of the loss with respect to every parameter,
// given the activations of the forward pass and dOut, the gradient with
// respect to the net's output (rows × Out()). It overwrites grad.Params and
// uses scratch for intermediate gradients; dOut is overwritten.
func (n *Net) Backward(a *Activations, dOut []float32, grad *Net, scratch *Activations) {
	rows := a.Rows
	scratch.ensure(n, rows)
	dz := dOut
	for i := len(n.Layers) - 1; i >= 0; i-- {
		l, g := n.Layers[i], grad.Layers[i]
		x := a.Acts[i]

		// dW = Xᵀ·dZ, db = column sums of dZ.
		sgemm(true, false, l.In, l.Out, rows, 1, x, l.In, dz, l.Out, 0, g.W, l.Out)
		clear(g.B)
		for r := 0; r < rows; r++ {
			row := dz[r*l.Out : (r+1)*l.Out]
			for j, v := range row {
				g.B[j] += v
			}
		}
		if i == 0 {
			break
		}

		// dX = dZ·Wᵀ, then through the ReLU of the layer below.
		dx := scratch.Acts[i]
		sgemm(false, true, rows, l.In, l.Out, 1, dz, l.Out, l.W, l.Out, 0, dx, l.In)
		reluGrad(dx, x)
		dz = dx
	}
}

// reluGrad zeroes the gradient where the ReLU output y is zero, without
// branches. y holds only +0 or positive values, so a nonzero bit pattern
// means a positive activation.
func reluGrad(d, y []float32) {
	y = y[:len(d)]
	for i, v := range y {
		b := math.Float32bits(v)
		mask := uint32(int32(b|-b) >> 31)
		d[i] = math.Float32frombits(math.Float32bits(d[i]) & mask)
	}
}
