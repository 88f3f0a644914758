package zoo

import (
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
)

func TestLoadNamesAndFiles(t *testing.T) {
	def, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fast", "balanced", "quality", "default"} {
		if !Shipped(name) {
			t.Fatalf("Shipped(%q) = false", name)
		}
	}
	if Shipped("fast.cfm") || Shipped("") {
		t.Fatal("a file name or the empty string counted as a shipped model")
	}
	for _, name := range []string{"", "default", "balanced"} {
		m, err := Load(name)
		if err != nil || m != def {
			t.Fatalf("Load(%q) = %v, %v: want the default model", name, m, err)
		}
	}
	fast, err := Load("fast")
	if err != nil {
		t.Fatal(err)
	}
	quality, err := Load("quality")
	if err != nil {
		t.Fatal(err)
	}
	if fast.Pilot != nil || len(fast.Net.Params) >= len(def.Net.Params) {
		t.Fatalf("fast: %d params (default %d), guided %v", len(fast.Net.Params),
			len(def.Net.Params), fast.Pilot != nil)
	}
	if quality.Pilot == nil || !quality.Header.Arch.Guided {
		t.Fatal("quality is not a guided model")
	}

	path := filepath.Join(t.TempDir(), "fast.cfm")
	if err := fast.Save(path); err != nil {
		t.Fatal(err)
	}
	if m, err := Load(path); err != nil || m.Version() != fast.Version() {
		t.Fatalf("Load(file) = %v, %v", m, err)
	}
	if _, err := Load("qualty"); err == nil || !strings.Contains(err.Error(), "fast, balanced, quality") {
		t.Fatalf("a misspelt name: err = %v, want the list of shipped models", err)
	}
}

// The zoo is ordered: on a photograph with noise at sigma 25, each model is
// better than the one before it.
func TestZooOrder(t *testing.T) {
	f, err := os.Open("../../examples/images/camera.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	full := ae.ImagePlanes(img)[0]
	const w, h = 192, 160
	clean := ae.Plane{W: w, H: h, Pix: make([]float32, w*h)}
	for y := range h {
		copy(clean.Pix[y*w:(y+1)*w], full.Pix[(200+y)*full.W+150:])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := ae.Plane{W: w, H: h, Pix: make([]float32, w*h)}
	for i, v := range clean.Pix {
		noisy.Pix[i] = v + float32(25*rng.NormFloat64())
	}
	last := 0.0
	for _, name := range Names {
		m, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		out := ae.Plane{W: w, H: h, Pix: make([]float32, w*h)}
		if err := m.DenoisePlane(out, noisy, 25, 0); err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range out.Pix {
			d := float64(v - clean.Pix[i])
			s += d * d
		}
		db := 10 * math.Log10(255*255/(s/float64(len(out.Pix))))
		t.Logf("%s: %.2f dB", name, db)
		if db < 28 || db <= last {
			t.Fatalf("%s: %.2f dB, the model before it %.2f: want more, and at least 28",
				name, db, last)
		}
		last = db
	}
}
