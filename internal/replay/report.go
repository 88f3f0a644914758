package replay

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
)

// SchemaVersion is the version of the JSON report this package writes. It
// changes only when a field is removed or changes meaning; new fields may
// appear within a version.
const SchemaVersion = 1

// Num is a float64 that encodes a value that is not finite (the +Inf PSNR
// of identical images, or NaN for a metric without a reference) as JSON
// null, and decodes null as NaN.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// Report is the outcome of a replay; see the package doc for the schema.
type Report struct {
	SchemaVersion int            `json:"schema_version"`
	GeneratedAt   string         `json:"generated_at,omitempty"`
	Source        SourceInfo     `json:"source"`
	Settings      Settings       `json:"settings"`
	Models        []ModelInfo    `json:"models"`
	Images        int            `json:"images"`
	Failed        int            `json:"failed"`
	Noisy         *Quality       `json:"noisy"`
	Summary       []ModelSummary `json:"summary"`
	BySigma       []SigmaGroup   `json:"by_sigma"`
	Highlights    []Highlight    `json:"highlights"`
	PerImage      []ImageResult  `json:"per_image"`
	Errors        []ImageError   `json:"errors"`
}

// SourceInfo says what was replayed.
type SourceInfo struct {
	Kind      string  `json:"kind"` // "images" or "kafka"
	Images    string  `json:"images_dir,omitempty"`
	Topic     string  `json:"topic,omitempty"`
	Ranges    []Range `json:"ranges,omitempty"`
	Reference string  `json:"reference"`
}

// Range is the half-open offset range [Start, End) of one partition.
type Range struct {
	Partition int   `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
}

// Settings are the knobs that shaped the numbers.
type Settings struct {
	Sigmas   []float64 `json:"sigmas,omitempty"`
	Seed     uint64    `json:"seed"`
	Blind    bool      `json:"blind"`
	Stride   int       `json:"stride"`
	Latency  bool      `json:"latency_measured"`
	CropSize int       `json:"crop_size"`
	RankedBy string    `json:"ranked_by"`
}

// ModelInfo names one model of the replay.
type ModelInfo struct {
	Label   string `json:"label"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
	SHA256  string `json:"sha256"`
}

// Quality is an image's PSNR and SSIM against its reference.
type Quality struct {
	PSNR Num `json:"psnr_db"`
	SSIM Num `json:"ssim"`
}

// Latency summarises the seconds one model spent per image.
type Latency struct {
	Mean  Num `json:"mean"`
	P50   Num `json:"p50"`
	P90   Num `json:"p90"`
	P99   Num `json:"p99"`
	Max   Num `json:"max"`
	Total Num `json:"total"`
}

// ModelSummary aggregates one model over every scored image.
type ModelSummary struct {
	Model   string  `json:"model"`
	Images  int     `json:"images"`
	PSNR    Num     `json:"psnr_db"`
	SSIM    Num     `json:"ssim"`
	GainDB  Num     `json:"gain_db"`
	Seconds Latency `json:"seconds"`
}

// SigmaGroup aggregates the images of one noise level; Sigma is nil for
// images whose noise level is unknown.
type SigmaGroup struct {
	Sigma  *float64     `json:"sigma"`
	Images int          `json:"images"`
	Noisy  *Quality     `json:"noisy"`
	Models []GroupModel `json:"models"`
}

// GroupModel is one model's means within a group.
type GroupModel struct {
	Model string `json:"model"`
	PSNR  Num    `json:"psnr_db"`
	SSIM  Num    `json:"ssim"`
}

// Highlight points at the best, median or worst image.
type Highlight struct {
	Rank  string `json:"rank"`  // "best", "median" or "worst"
	Image int    `json:"image"` // index into per_image
	ID    string `json:"id"`
	PSNR  Num    `json:"psnr_db"`
}

// ImageResult is one scored image.
type ImageResult struct {
	Index     int          `json:"index"`
	ID        string       `json:"id"`
	Partition *int         `json:"partition,omitempty"`
	Offset    *int64       `json:"offset,omitempty"`
	Sigma     *float64     `json:"sigma"`
	Width     int          `json:"width"`
	Height    int          `json:"height"`
	Channels  int          `json:"channels"`
	Noisy     *Quality     `json:"noisy"`
	Models    []ImageModel `json:"models"`
}

// ImageModel is one model's outcome on one image.
type ImageModel struct {
	PSNR    Num `json:"psnr_db"`
	SSIM    Num `json:"ssim"`
	Seconds Num `json:"seconds"`
}

// ImageError is an input that could not be scored.
type ImageError struct {
	Index     int    `json:"index"`
	ID        string `json:"id"`
	Partition *int   `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Err       string `json:"error"`
}

// WriteJSON writes r as indented JSON followed by a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// aggregate fills Noisy, Summary, BySigma and Highlights from PerImage.
// Means are accumulated as Σ x/n in image order, exactly as
// evaluate.Run does, so that a group's mean PSNR matches denoiser eval's.
func (r *Report) aggregate() {
	n := len(r.PerImage)
	r.Images = n
	r.Summary = make([]ModelSummary, len(r.Models))
	r.BySigma = nil
	r.Highlights = nil
	if n == 0 {
		return
	}
	r.Noisy = meanNoisy(r.PerImage)
	for m, info := range r.Models {
		q := meanModel(r.PerImage, m)
		s := ModelSummary{Model: info.Label, Images: n, PSNR: q.PSNR, SSIM: q.SSIM,
			Seconds: latency(r.PerImage, m)}
		s.GainDB = Num(math.NaN())
		if r.Noisy != nil {
			s.GainDB = q.PSNR - r.Noisy.PSNR
		}
		r.Summary[m] = s
	}
	r.BySigma = groups(r.PerImage, r.Models)
	r.Highlights = highlights(r.PerImage)
}

func meanNoisy(imgs []ImageResult) *Quality {
	var q Quality
	for _, im := range imgs {
		if im.Noisy == nil {
			return nil
		}
		q.PSNR += im.Noisy.PSNR / Num(len(imgs))
		q.SSIM += im.Noisy.SSIM / Num(len(imgs))
	}
	return &q
}

func meanModel(imgs []ImageResult, m int) Quality {
	var q Quality
	for _, im := range imgs {
		q.PSNR += im.Models[m].PSNR / Num(len(imgs))
		q.SSIM += im.Models[m].SSIM / Num(len(imgs))
	}
	return q
}

// latency takes nearest-rank percentiles of model m's seconds.
func latency(imgs []ImageResult, m int) Latency {
	s := make([]float64, len(imgs))
	var l Latency
	for i, im := range imgs {
		s[i] = float64(im.Models[m].Seconds)
		l.Total += im.Models[m].Seconds
	}
	slices.Sort(s)
	rank := func(p float64) Num {
		k := int(math.Ceil(p*float64(len(s)))) - 1
		return Num(s[max(0, min(k, len(s)-1))])
	}
	l.Mean = l.Total / Num(len(s))
	l.P50, l.P90, l.P99, l.Max = rank(0.50), rank(0.90), rank(0.99), Num(s[len(s)-1])
	return l
}

// groups splits images by noise level, ascending, unknown last.
func groups(imgs []ImageResult, models []ModelInfo) []SigmaGroup {
	bySigma := map[float64][]ImageResult{}
	var unknown []ImageResult
	for _, im := range imgs {
		if im.Sigma == nil {
			unknown = append(unknown, im)
			continue
		}
		bySigma[*im.Sigma] = append(bySigma[*im.Sigma], im)
	}
	keys := make([]float64, 0, len(bySigma))
	for k := range bySigma {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	group := func(sigma *float64, g []ImageResult) SigmaGroup {
		sg := SigmaGroup{Sigma: sigma, Images: len(g), Noisy: meanNoisy(g)}
		for m, info := range models {
			q := meanModel(g, m)
			sg.Models = append(sg.Models, GroupModel{Model: info.Label, PSNR: q.PSNR,
				SSIM: q.SSIM})
		}
		return sg
	}
	var out []SigmaGroup
	for _, k := range keys {
		out = append(out, group(&k, bySigma[k]))
	}
	if len(unknown) > 0 {
		out = append(out, group(nil, unknown))
	}
	return out
}

// highlights ranks images by the first model's PSNR, ties broken by
// position, and picks the best, the median (lower middle) and the worst.
// Images without a reference have no PSNR and give no highlights.
func highlights(imgs []ImageResult) []Highlight {
	order := make([]int, 0, len(imgs))
	for i, im := range imgs {
		if len(im.Models) > 0 && !math.IsNaN(float64(im.Models[0].PSNR)) {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return nil
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := float64(imgs[a].Models[0].PSNR), float64(imgs[b].Models[0].PSNR)
		switch {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		return a - b
	})
	pick := func(rank string, i int) Highlight {
		return Highlight{Rank: rank, Image: i, ID: imgs[i].ID, PSNR: imgs[i].Models[0].PSNR}
	}
	return []Highlight{
		pick("best", order[0]),
		pick("median", order[(len(order)-1)/2]),
		pick("worst", order[len(order)-1]),
	}
}
