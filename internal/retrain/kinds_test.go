package retrain

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestEveryKindAsSample adds every decodable kind of imagetest (1×1, 1×N,
// constant, 16-bit, alpha, CMYK, ...) as a clean sample and runs a short
// training round: a strange sample must neither panic nor poison the
// round with NaN.
func TestEveryKindAsSample(t *testing.T) {
	start, err := ae.NewModel("kinds", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 1,
		Hidden: []int{8}, SigmaInput: true}, 51)
	if err != nil {
		t.Fatal(err)
	}
	start.Header.Version = "v0"
	start.Net.InitHe(rand.New(rand.NewPCG(5, 5)), 0.01)
	valid := []dataset.Image{{Name: "v", Image: smoothImage(99)}}
	svc, err := New(Config{Pipeline: &pipeline.Config{}, Validation: valid, Steps: 40,
		Batch: 16, LR: 1e-3, Margin: -100, Sigma: 20}, start)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range imagetest.Kinds() {
		img, _, err := imageio.Decode(k.Data, 0)
		if err != nil {
			continue
		}
		svc.AddImage(img)
		n++
	}
	var pub fakePublisher
	out, err := svc.Round(context.Background(), &pub)
	if err != nil {
		t.Fatalf("round over %d strange samples: %v", n, err)
	}
	t.Logf("round over %d samples: candidate %.2f dB, serving %.2f dB, published %v", n,
		out.CandPSNR, out.ServingPSNR, out.Published)
	for _, data := range pub.published {
		if _, err := ae.Decode(data); err != nil {
			t.Errorf("published model does not decode: %v", err)
		}
	}
}
