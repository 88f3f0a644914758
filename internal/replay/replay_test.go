package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/evaluate"
)

// testImage is a smooth pattern with an edge, different for each seed.
func testImage(w, h, seed int, colour bool) image.Image {
	var img draw8
	if colour {
		img = image.NewNRGBA(image.Rect(0, 0, w, h))
	} else {
		img = image.NewGray(image.Rect(0, 0, w, h))
	}
	for y := range h {
		for x := range w {
			v := 128 + 90*math.Sin(float64(x+seed)/6+float64(y)/9)
			if x > w/2+seed {
				v = 255 - v
			}
			img.Set(x, y, color.NRGBA{R: uint8(v), G: uint8(255 - v), B: uint8(v / 2), A: 255})
		}
	}
	return img
}

type draw8 interface {
	image.Image
	Set(x, y int, c color.Color)
}

func writeImages(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		img := testImage(40+4*i, 36, i, i == n-1)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "img"+string(rune('a'+i))+".png")
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// identityModel has zero weights: it predicts no noise, so its output is
// the noisy input, rounded.
func identityModel(t *testing.T) *ae.Model {
	t.Helper()
	def, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ae.NewModel("identity", def.Header.Arch, def.Header.NormScale)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Version = "identity-1"
	m.Header.Created = time.Time{}
	return m
}

func twoModels(t *testing.T) []Model {
	t.Helper()
	def, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	ms := []Model{{Model: def, Source: "default"},
		{Model: identityModel(t), Source: "test", Label: "identity"}}
	UniqueLabels(ms)
	return ms
}

func runDir(t *testing.T, dir string, cfg Config) (*Result, []byte, []byte) {
	t.Helper()
	items, err := NewDirItems(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, items, cfg, SourceInfo{Kind: "images", Images: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	var js, page bytes.Buffer
	if err := res.Report.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, res); err != nil {
		t.Fatal(err)
	}
	return res, js.Bytes(), page.Bytes()
}

func TestSyntheticReplayMatchesEval(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir, 4)
	sigmas := []float64{15, 25, 50}
	cfg := Config{Models: twoModels(t), Sigmas: sigmas, Seed: 5, Latency: true, CropSize: 24}
	res, js, _ := runDir(t, dir, cfg)
	r := res.Report

	// Decode what a consumer of the JSON would see.
	var got Report
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if got.SchemaVersion != 1 || got.Images != 12 || got.Failed != 0 ||
		len(got.PerImage) != 12 || len(got.Models) != 2 || len(got.Summary) != 2 {
		t.Fatalf("schema %d, images %d, failed %d, per image %d, models %d, summary %d",
			got.SchemaVersion, got.Images, got.Failed, len(got.PerImage), len(got.Models),
			len(got.Summary))
	}
	if got.Models[1].Label != "identity" || got.Models[0].Source != "default" {
		t.Errorf("models %+v", got.Models)
	}
	if len(got.BySigma) != 3 || *got.BySigma[0].Sigma != 15 || *got.BySigma[2].Sigma != 50 {
		t.Fatalf("by_sigma %+v", got.BySigma)
	}

	// Each sigma's mean PSNR is denoiser eval's on the same folder.
	imgs, err := dataset.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sigmas {
		for m, mod := range cfg.Models {
			ev, err := evaluate.Run(context.Background(), mod.Model, imgs,
				evaluate.Config{Sigma: s, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			g := got.BySigma[k]
			if d := math.Abs(float64(g.Models[m].PSNR) - ev.PSNR); d > 0.01 {
				t.Errorf("sigma %g model %s: replay %.4f dB, eval %.4f dB", s, mod.Label,
					g.Models[m].PSNR, ev.PSNR)
			}
			if d := math.Abs(float64(g.Noisy.PSNR) - ev.NoisyPSNR); d > 1e-9 {
				t.Errorf("sigma %g: noisy %.4f dB, eval %.4f dB", s, g.Noisy.PSNR, ev.NoisyPSNR)
			}
		}
	}

	// The identity model returns the noisy input rounded (up to float
	// rounding in the patch blending, which can flip a pixel at .5): its
	// PSNR and SSIM are those of the rounded noisy image, recomputed here.
	for _, im := range r.PerImage {
		clean := ae.ImagePlanes(imgs[im.Index].Image)
		noisy := clonePlanes(clean)
		evaluate.AddNoise(noisy, *im.Sigma, evaluate.NoiseRand(5, im.Index))
		evaluate.Quantize(noisy)
		if d := float64(im.Models[1].PSNR) - evaluate.PSNR(noisy, clean); math.Abs(d) > 1e-3 {
			t.Errorf("%s sigma %g: identity PSNR off by %g", im.ID, *im.Sigma, d)
		}
		if d := float64(im.Models[1].SSIM - im.Noisy.SSIM); math.Abs(d) > 1e-5 {
			t.Errorf("%s sigma %g: identity SSIM off by %g", im.ID, *im.Sigma, d)
		}
		if im.Models[0].PSNR <= im.Models[1].PSNR {
			t.Errorf("%s sigma %g: default %.2f dB is no better than identity %.2f dB",
				im.ID, *im.Sigma, im.Models[0].PSNR, im.Models[1].PSNR)
		}
		if im.Models[0].Seconds <= 0 {
			t.Errorf("%s: latency not measured", im.ID)
		}
	}
	if last := r.PerImage[11]; last.Channels != 3 || last.ID != "imgd.png" || *last.Sigma != 50 {
		t.Errorf("last image %+v", last)
	}

	// Highlights: best ≥ median ≥ worst, the worst at the highest sigma.
	h := got.Highlights
	if len(h) != 3 || h[0].Rank != "best" || h[2].Rank != "worst" ||
		!(h[0].PSNR >= h[1].PSNR && h[1].PSNR >= h[2].PSNR) {
		t.Fatalf("highlights %+v", h)
	}
	if s := *got.PerImage[h[2].Image].Sigma; s != 50 {
		t.Errorf("worst image at sigma %g, want 50", s)
	}
	if len(res.Crops) != 3 || len(res.Crops[0].Models) != 2 || res.Crops[0].Clean == nil {
		t.Fatalf("crops %d", len(res.Crops))
	}
	crop, err := png.Decode(bytes.NewReader(res.Crops[2].Models[0]))
	if err != nil || crop.Bounds().Dx() != 24 || crop.Bounds().Dy() != 24 {
		t.Errorf("crop %v, %v: want 24×24", err, crop.Bounds())
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir, 3)
	cfg := Config{Models: twoModels(t), Sigmas: []float64{20, 40}, Seed: 9}
	_, js1, html1 := runDir(t, dir, cfg)
	_, js2, html2 := runDir(t, dir, cfg)
	if !bytes.Equal(js1, js2) {
		t.Error("two runs wrote different JSON")
	}
	if !bytes.Equal(html1, html2) {
		t.Error("two runs wrote different HTML")
	}
	if bytes.Contains(js1, []byte("generated_at")) {
		t.Error("JSON carries a timestamp nobody asked for")
	}

	// Self-contained: every src is a data: URI, nothing refers elsewhere.
	page := string(html1)
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "data:image/png;base64,") {
			t.Errorf("external reference %q", m[1])
		}
	}
	for _, bad := range []string{"http://", "https://", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(page, "data:image/png;base64,"); n != 2+3*4 {
		t.Errorf("%d inline images, want 2 plots and 3×4 crops", n)
	}
}

func TestRenderChecksModels(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir, 2)
	cfg := Config{Models: twoModels(t), Sigmas: []float64{30}, Seed: 2}
	res, _, page := runDir(t, dir, cfg)
	items, err := NewDirItems(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Render(context.Background(), res.Report, items, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), page) {
		t.Error("rendered page differs from the replay's")
	}
	swapped := cfg
	swapped.Models = []Model{cfg.Models[1], cfg.Models[0]}
	if _, err := Render(context.Background(), res.Report, items, swapped); err == nil ||
		!strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("models in the wrong order: %v, want a SHA-256 mismatch", err)
	}
}
