package retrain

import (
	"context"
	"math/rand/v2"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/telemetry"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestRoundMetrics checks that a round reports its training loss and the
// validation PSNR of both models.
func TestRoundMetrics(t *testing.T) {
	start, err := ae.NewModel("grey", ae.Arch{PatchIn: 7, PatchOut: 3, Stride: 1,
		Hidden: []int{8}, SigmaInput: true}, 51)
	if err != nil {
		t.Fatal(err)
	}
	start.Header.Version = "v0"
	start.Net.InitHe(rand.New(rand.NewPCG(5, 5)), 0.01)
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	svc, err := New(Config{Pipeline: &pipeline.Config{}, Telemetry: tel, Steps: 20, Batch: 16,
		Validation: []dataset.Image{{Name: "v", Image: smoothImage(9)}}}, start)
	if err != nil {
		t.Fatal(err)
	}
	svc.AddImage(smoothImage(1))
	out, err := svc.Round(context.Background(), &fakePublisher{})
	if err != nil {
		t.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[float64])
			if !ok {
				continue
			}
			for _, dp := range g.DataPoints {
				role, _ := dp.Attributes.Value("cleanframe.model.role")
				got[m.Name+"/"+role.AsString()] = dp.Value
			}
		}
	}
	if got[telemetry.MetricTrainLoss+"/"] <= 0 {
		t.Errorf("training loss %v, want > 0 (metrics %v)", got[telemetry.MetricTrainLoss+"/"], got)
	}
	if got[telemetry.MetricValidPSNR+"/serving"] != out.ServingPSNR ||
		got[telemetry.MetricValidPSNR+"/candidate"] != out.CandPSNR {
		t.Errorf("validation PSNR metrics %v, want serving %v, candidate %v", got,
			out.ServingPSNR, out.CandPSNR)
	}
}
