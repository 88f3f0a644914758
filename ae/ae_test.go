package ae

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

func testModel(t *testing.T, arch Arch) *Model {
	t.Helper()
	m, err := NewModel("test", arch, 51)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Version = "test-1"
	return m
}

func randomGray(rng *rand.Rand, w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8(rng.IntN(256))
	}
	return g
}

// With zero weights the network predicts no noise, so denoising must give
// back the input exactly: this checks patch extraction, mirror padding,
// blending and rounding for every size and stride.
func TestPatchRoundTripIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	archs := []Arch{
		{PatchIn: 7, PatchOut: 5, Stride: 2, Hidden: []int{3}},
		{PatchIn: 17, PatchOut: 9, Stride: 3, Hidden: []int{4}, SigmaInput: true},
		{PatchIn: 4, PatchOut: 4, Stride: 4},
	}
	sizes := [][2]int{{1, 1}, {1, 9}, {9, 1}, {2, 3}, {13, 7}, {31, 30}, {64, 17}}
	for _, a := range archs {
		m := testModel(t, a)
		for _, sz := range sizes {
			src := randomGray(rng, sz[0], sz[1])
			out, err := m.DenoiseImageSigma(src, 25)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := out.(*image.Gray)
			if !ok {
				t.Fatalf("arch %v size %v: got %T, want *image.Gray", a, sz, out)
			}
			if g.Bounds() != src.Bounds() {
				t.Fatalf("arch %v: bounds %v, want %v", a, g.Bounds(), src.Bounds())
			}
			for i := range src.Pix {
				if g.Pix[i] != src.Pix[i] {
					t.Fatalf("arch %v size %v: pixel %d is %d, want %d",
						a, sz, i, g.Pix[i], src.Pix[i])
				}
			}
		}
	}
}

func TestColourRoundTripIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := testModel(t, Arch{PatchIn: 9, PatchOut: 5, Stride: 2, Hidden: []int{2},
		SigmaInput: true})
	src := image.NewNRGBA(image.Rect(0, 0, 23, 11))
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	out, err := m.DenoiseImageSigma(src, 10)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := out.(*image.NRGBA)
	if !ok {
		t.Fatalf("got %T, want *image.NRGBA", out)
	}
	for i := range src.Pix {
		if n.Pix[i] != src.Pix[i] {
			t.Fatalf("byte %d is %d, want %d (alpha kept, colour exact)", i, n.Pix[i],
				src.Pix[i])
		}
	}
}

func TestMirror(t *testing.T) {
	cases := []struct{ i, n, want int }{
		{0, 1, 0}, {-1, 1, 0}, {5, 1, 0}, {-1, 4, 0}, {-2, 4, 1}, {4, 4, 3}, {5, 4, 2},
		{-9, 4, 0}, {11, 4, 3},
	}
	for _, c := range cases {
		if got := mirror(c.i, c.n); got != c.want {
			t.Errorf("mirror(%d, %d) = %d, want %d", c.i, c.n, got, c.want)
		}
	}
}

// A constant image with a trained-like random net must stay finite.
func TestConstantImageNoNaN(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 9, PatchOut: 5, Stride: 2, Hidden: []int{16, 16},
		SigmaInput: true})
	m.Net.InitHe(rand.New(rand.NewPCG(5, 6)), 1)
	for _, v := range []uint8{0, 128, 255} {
		src := image.NewGray(image.Rect(0, 0, 20, 20))
		for i := range src.Pix {
			src.Pix[i] = v
		}
		p := ImagePlanes(src)
		dst := []Plane{{W: 20, H: 20, Pix: make([]float32, 400)}}
		if err := m.DenoisePlanes(dst, p, -1, 0); err != nil {
			t.Fatal(err)
		}
		for i, x := range dst[0].Pix {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("constant %d: pixel %d is %v", v, i, x)
			}
		}
	}
}

// Gradients from Backward must match central finite differences of the loss.
func TestGradientCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	net := NewNet(6, 5, 4, 3)
	net.InitHe(rng, 1)
	for i := range net.Params {
		net.Params[i] += float32(rng.NormFloat64() * 0.1) // nonzero biases too
	}
	const rows = 4
	var acts, scratch Activations
	x := make([]float32, rows*6)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	target := make([]float32, rows*3)
	for i := range target {
		target[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		copy(acts.Input(net, rows), x)
		pred := net.Forward(&acts)
		d := make([]float32, len(pred))
		return mseGrad(pred, target, d)
	}
	copy(acts.Input(net, rows), x)
	pred := net.Forward(&acts)
	d := make([]float32, len(pred))
	mseGrad(pred, target, d)
	grad := NewNet(net.Sizes...)
	net.Backward(&acts, d, grad, &scratch)

	const h = 1e-2
	checked := 0
	for i := range net.Params {
		orig := net.Params[i]
		net.Params[i] = orig + h
		up := loss()
		net.Params[i] = orig - h
		down := loss()
		net.Params[i] = orig
		num := (up - down) / (2 * h)
		got := float64(grad.Params[i])
		if math.Abs(num-got) > 2e-3+2e-2*math.Abs(num) {
			t.Errorf("param %d: backprop %.6f, finite difference %.6f", i, got, num)
		}
		checked++
	}
	if checked != len(net.Params) || len(net.Params) != 6*5+5+5*4+4+4*3+3 {
		t.Fatalf("checked %d of %d params", checked, len(net.Params))
	}
}

func TestModelFileRoundTrip(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 9, PatchOut: 5, Stride: 2, Hidden: []int{8},
		SigmaInput: true})
	m.Net.InitHe(rand.New(rand.NewPCG(9, 10)), 1)
	m.Header.Metrics = map[string]float64{"psnr_db": 29.5}
	path := t.TempDir() + "/m.cfm"
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != "test-1" || got.Header.Metrics["psnr_db"] != 29.5 ||
		got.Header.Arch.PatchIn != 9 || !got.Header.Arch.SigmaInput {
		t.Fatalf("header after round trip: %+v", got.Header)
	}
	for i, v := range m.Net.Params {
		if got.Net.Params[i] != v {
			t.Fatalf("param %d: %v, want %v", i, got.Net.Params[i], v)
		}
	}
}

func TestDecodeRefusesCorruptModels(t *testing.T) {
	m := testModel(t, Arch{PatchIn: 5, PatchOut: 3, Stride: 1, Hidden: []int{4}})
	m.Net.InitHe(rand.New(rand.NewPCG(11, 12)), 1)
	good, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	reseal := func(b []byte) []byte {
		body := b[:len(b)-sha256.Size]
		sum := sha256.Sum256(body)
		return append(append([]byte(nil), body...), sum[:]...)
	}
	flip := append([]byte(nil), good...)
	flip[len(flip)/2] ^= 0x40
	nan := append([]byte(nil), good...)
	hlen := int(binary.LittleEndian.Uint32(nan[6:]))
	binary.LittleEndian.PutUint32(nan[10+hlen+4:], math.Float32bits(float32(math.NaN())))
	version := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(version[4:], 99)
	short := append([]byte(nil), good[:len(good)-sha256.Size-4]...)
	cases := map[string][]byte{
		"empty":          nil,
		"bit flip":       flip,
		"truncated":      good[:len(good)-7],
		"bad magic":      append([]byte("XXXX"), good[4:]...),
		"nan weight":     reseal(nan),
		"format version": reseal(version),
		"missing weight": reseal(append(short, make([]byte, sha256.Size)...)),
	}
	for name, data := range cases {
		if _, err := Decode(data); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
	if _, err := Decode(good); err != nil {
		t.Fatalf("good model refused: %v", err)
	}
}

// A short training run on smooth images must cut the noise error well below
// the noise itself, and denoising must then beat the noisy input.
func TestTrainingLearnsToDenoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var planes []Plane
	for range 4 {
		p := Plane{W: 48, H: 48, Pix: make([]float32, 48*48)}
		fx, fy, ph := rng.Float64()*0.3, rng.Float64()*0.3, rng.Float64()*6
		for y := range 48 {
			for x := range 48 {
				p.Pix[y*48+x] = float32(128 + 80*math.Sin(fx*float64(x)+fy*float64(y)+ph))
			}
		}
		planes = append(planes, p)
	}
	m := testModel(t, Arch{PatchIn: 7, PatchOut: 3, Stride: 1, Hidden: []int{32},
		SigmaInput: true})
	m.Net.InitHe(rng, 0.1)
	var last Progress
	got, err := Train(context.Background(), m, planes, TrainConfig{Steps: 600, Batch: 64,
		LR: 3e-3, SigmaMin: 20, SigmaMax: 20, Seed: 1,
		Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Step != 600 || !(last.MSE < 0.5*400) {
		t.Fatalf("after training: step %d, noise MSE %.1f, want < half of 400", last.Step,
			last.MSE)
	}
	if got.Header.Parent != "test-1" || got.Version() == "" || got.Header.Steps != 600 {
		t.Fatalf("header after training: %+v", got.Header)
	}

	clean := planes[0]
	noisy := Plane{W: 48, H: 48, Pix: make([]float32, len(clean.Pix))}
	for i, v := range clean.Pix {
		noisy.Pix[i] = v + float32(rng.NormFloat64()*20)
	}
	out := []Plane{{W: 48, H: 48, Pix: make([]float32, len(clean.Pix))}}
	if err := got.DenoisePlanes(out, []Plane{noisy}, 20, 0); err != nil {
		t.Fatal(err)
	}
	before, after := planePSNR(noisy, clean), planePSNR(out[0], clean)
	if after < before+3 {
		t.Fatalf("PSNR %.2f dB after denoising, %.2f before: want a gain of 3 dB", after,
			before)
	}
}

func planePSNR(a, b Plane) float64 {
	var s float64
	for i := range a.Pix {
		d := float64(a.Pix[i] - b.Pix[i])
		s += d * d
	}
	return 10 * math.Log10(255*255/(s/float64(len(a.Pix))))
}

// Pure noise on a flat plane must read right at every size, from the
// smallest plane with patches to a large one.
func TestEstimateSigma(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, side := range []int{16, 23, 32, 64, 256, 700} {
		for _, sigma := range []float64{5, 15, 25, 50} {
			p := Plane{W: side, H: side, Pix: make([]float32, side*side)}
			for i := range p.Pix {
				p.Pix[i] = 128 + float32(rng.NormFloat64()*sigma)
			}
			got := float64(EstimateSigma(p))
			if tol := 0.05 + 3/float64(side); math.Abs(got-sigma) > tol*sigma {
				t.Errorf("%d×%d, sigma %v: estimated %.2f", side, side, sigma, got)
			}
		}
	}
}

func TestOpponentTransformInverts(t *testing.T) {
	for _, c := range []color.RGBA{{0, 0, 0, 0}, {255, 255, 255, 0}, {255, 0, 10, 0},
		{3, 200, 77, 0}} {
		p0, p1, p2 := toOpponent(float32(c.R), float32(c.G), float32(c.B))
		r, g, b := fromOpponent(p0, p1, p2)
		if math.Abs(float64(r)-float64(c.R)) > 1e-3 ||
			math.Abs(float64(g)-float64(c.G)) > 1e-3 ||
			math.Abs(float64(b)-float64(c.B)) > 1e-3 {
			t.Errorf("%v -> %v %v %v", c, r, g, b)
		}
	}
}

func TestDefaultModelLoads(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() == "" || m.Header.Steps < 100 || !m.Header.Arch.SigmaInput {
		t.Fatalf("default model header: %+v", m.Header)
	}
}
