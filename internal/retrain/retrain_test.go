package retrain

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/pipeline"
)

type fakePublisher struct{ published [][]byte }

func (f *fakePublisher) PublishModel(_ context.Context, name, version string,
	data []byte) (pipeline.ModelManifest, error) {
	f.published = append(f.published, data)
	return pipeline.ModelManifest{Name: name, Version: version}, nil
}

func smoothImage(seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 1))
	g := image.NewGray(image.Rect(0, 0, 40, 40))
	fx, fy := rng.Float64()*0.3, rng.Float64()*0.3
	for y := range 40 {
		for x := range 40 {
			g.Pix[y*40+x] = uint8(128 + 90*math.Sin(fx*float64(x)+fy*float64(y)))
		}
	}
	return g
}

func TestRoundGate(t *testing.T) {
	start, err := ae.NewModel("grey", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 1,
		Hidden: []int{16}, SigmaInput: true}, 51)
	if err != nil {
		t.Fatal(err)
	}
	start.Header.Version = "v0"
	start.Net.InitHe(rand.New(rand.NewPCG(5, 5)), 0.01)
	valid := []dataset.Image{{Name: "v", Image: smoothImage(99)}}
	for _, tc := range []struct {
		name    string
		margin  float64
		publish bool
	}{{"beats the zero model", 0.5, true}, {"cannot clear a 50 dB margin", 50, false}} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := New(Config{Pipeline: &pipeline.Config{}, Validation: valid,
				Steps: 300, Batch: 64, LR: 3e-3, Margin: tc.margin, Sigma: 20}, start)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if !svc.AddImage(smoothImage(uint64(i))) {
					t.Fatalf("sample %d seen as a duplicate", i)
				}
			}
			if svc.AddImage(smoothImage(0)) {
				t.Fatal("duplicate sample added")
			}
			var pub fakePublisher
			out, err := svc.Round(context.Background(), &pub)
			if err != nil {
				t.Fatal(err)
			}
			if out.Published != tc.publish || len(pub.published) != btoi(tc.publish) {
				t.Fatalf("published %v (%d records), want %v; candidate %.2f dB, "+
					"serving %.2f dB", out.Published, len(pub.published), tc.publish,
					out.CandPSNR, out.ServingPSNR)
			}
			if !tc.publish {
				if svc.Serving() != start {
					t.Fatal("serving model changed after a rejected candidate")
				}
				return
			}
			m, err := ae.Decode(pub.published[0])
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Parent != "v0" || m.Header.Metrics["valid_psnr_db_sigma20"] <
				out.ServingPSNR+0.5 || svc.Serving().Version() != m.Version() {
				t.Fatalf("published header %+v, serving %s", m.Header,
					svc.Serving().Version())
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A guided model retrains like a plain one: its net learns from guides its
// pilot makes of the samples, the pilot stays as it was, and non-Gaussian
// corruption is refused with a clear error.
func TestRoundTrainsGuidedModels(t *testing.T) {
	pilot, err := ae.NewModel("grey", ae.Arch{PatchIn: 9, PatchOut: 3, Stride: 1,
		Hidden: []int{16}, SigmaInput: true}, 51)
	if err != nil {
		t.Fatal(err)
	}
	pilot.Header.Version = "p0"
	pilot.Header.TrainNoise = ae.Noise{Kind: "gaussian", SigmaMin: 15, SigmaMax: 25}
	pilot.Net.InitHe(rand.New(rand.NewPCG(6, 6)), 0.01)
	start, err := ae.NewGuided("quality", pilot)
	if err != nil {
		t.Fatal(err)
	}
	start.Header.Version = "q0"
	valid := []dataset.Image{{Name: "v", Image: smoothImage(98)}}
	svc, err := New(Config{Pipeline: &pipeline.Config{}, Validation: valid, Steps: 100,
		Batch: 32, LR: 1e-3, Margin: 0.01, Sigma: 20}, start)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		svc.AddImage(smoothImage(uint64(10 + i)))
	}
	out, err := svc.Round(context.Background(), &fakePublisher{})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Candidate
	if c == nil || c.Pilot == nil || c.Header.Parent != "q0" {
		t.Fatalf("candidate %+v", c)
	}
	for i, v := range start.Pilot.Net.Params {
		if c.Pilot.Net.Params[i] != v {
			t.Fatalf("pilot parameter %d changed in a round", i)
		}
	}
	if math.IsNaN(out.CandPSNR) || out.CandPSNR < 10 {
		t.Fatalf("candidate validated at %.2f dB", out.CandPSNR)
	}

	jpeg, err := ae.ParseCorruption("jpeg:30-90")
	if err != nil {
		t.Fatal(err)
	}
	svc, err = New(Config{Pipeline: &pipeline.Config{}, Validation: valid, Steps: 10,
		Batch: 8, Sigma: 20, Corruption: jpeg}, start)
	if err != nil {
		t.Fatal(err)
	}
	svc.AddImage(smoothImage(20))
	if _, err := svc.Round(context.Background(), &fakePublisher{}); err == nil {
		t.Fatal("a guided model retrained on JPEG corruption")
	}
}
