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
