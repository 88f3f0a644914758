package ae

import (
	"image"
	"testing"
)

func TestReadStatsCountsDenoising(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	before := ReadStats()
	d := Denoiser{Model: m}
	if _, err := d.Denoise(image.NewGray(image.Rect(0, 0, 24, 17)), 25); err != nil {
		t.Fatal(err)
	}
	after := ReadStats()
	if after.Flops <= before.Flops || after.Rows <= before.Rows ||
		after.Batches <= before.Batches {
		t.Errorf("stats did not grow: before %+v, after %+v", before, after)
	}
}
