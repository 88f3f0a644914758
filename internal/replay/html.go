package replay

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
)

// WriteHTML writes res as one self-contained HTML page: inline CSS, and
// plots and crops as data: URIs, so that it opens offline and fetches
// nothing. The bytes depend only on the report and crops.
func WriteHTML(w io.Writer, res *Result) error {
	r := res.Report
	page := htmlPage{R: r, Crops: res.Crops}
	var err error
	plots := []struct {
		dst *template.URL
		f   func(*Report) ([]byte, error)
	}{{&page.PSNRPlot, psnrPlot}, {&page.SigmaPlot, sigmaPlot}, {&page.LatencyPlot, latencyPlot}}
	for _, p := range plots {
		var b []byte
		if b, err = p.f(r); err != nil {
			return fmt.Errorf("replay: plot: %w", err)
		}
		*p.dst = pngURI(b)
	}
	for m := range r.Models {
		c := modelColour(m)
		page.Colours = append(page.Colours, template.CSS(fmt.Sprintf("#%02x%02x%02x",
			c.R, c.G, c.B)))
	}
	if len(r.Errors) > 20 {
		cp := *r
		cp.Errors = r.Errors[:20]
		page.R = &cp
	}
	page.MoreErrors = r.Failed - len(page.R.Errors)
	return pageTmpl.Execute(w, page)
}

type htmlPage struct {
	R                                *Report
	Crops                            []CropSet
	PSNRPlot, SigmaPlot, LatencyPlot template.URL
	Colours                          []template.CSS
	MoreErrors                       int
}

func pngURI(b []byte) template.URL {
	if len(b) == 0 {
		return ""
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
}

func finite(n Num) bool { return !math.IsInf(float64(n), 0) && !math.IsNaN(float64(n)) }

var funcs = template.FuncMap{
	"db": func(n Num) string {
		if math.IsInf(float64(n), 1) {
			return "∞"
		}
		if !finite(n) {
			return "–"
		}
		return fmt.Sprintf("%.2f", float64(n))
	},
	"gain": func(n Num) string {
		if !finite(n) {
			return "–"
		}
		return fmt.Sprintf("%+.2f", float64(n))
	},
	"ssim": func(n Num) string {
		if !finite(n) {
			return "–"
		}
		return fmt.Sprintf("%.4f", float64(n))
	},
	"ms": func(n Num) string {
		if !finite(n) {
			return "–"
		}
		return fmt.Sprintf("%.1f", 1000*float64(n))
	},
	"sigma": func(s *float64) string {
		if s == nil {
			return "unknown"
		}
		return fmt.Sprintf("%g", *s)
	},
	"png":   func(b []byte) template.URL { return pngURI(b) },
	"short": func(s string) string { return s[:min(12, len(s))] },
	"image": func(r *Report, i int) ImageResult { return r.PerImage[i] },
	"sub":   func(a, b Num) Num { return a - b },
}

var pageTmpl = template.Must(template.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cleanframe replay: {{len .R.PerImage}} images, {{len .R.Models}} models</title>
<style>
:root { --fg: #1d2330; --muted: #5b6474; --line: #d9dee7; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 8px; }
.meta { color: var(--muted); margin: 0 0 4px; }
code { font: 12.5px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; margin: 6px 0 8px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { background: var(--bg); font-weight: 600; }
th.grp { text-align: center; border-left: 2px solid #fff; }
td.l, th.l { text-align: left; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; border: 1px solid var(--line); border-radius: 4px;
  padding: 6px; background: #fff; }
.plots img { width: 576px; height: auto; display: block; }
.note { color: var(--muted); font-style: italic; }
.crops { display: flex; flex-wrap: wrap; gap: 10px; }
.crops figure { margin: 0; text-align: center; }
.crops img { width: 192px; height: 192px; object-fit: contain; image-rendering: pixelated;
  display: block; border: 1px solid var(--line); background: var(--bg); }
.crops figcaption { font-size: 12px; color: var(--muted); margin-top: 3px; max-width: 192px; }
.crops figcaption b { color: var(--fg); font-weight: 600; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<h1>cleanframe replay</h1>
<p class="meta">{{with .R.Source}}{{if eq .Kind "kafka"}}topic <code>{{.Topic}}</code>{{range .Ranges}} · p{{.Partition}} [{{.Start}}, {{.End}}){{end}}{{else}}images <code>{{.Images}}</code>{{end}} · reference <code>{{.Reference}}</code>{{end}}</p>
<p class="meta">{{len .R.PerImage}} images scored, {{.R.Failed}} failed{{with .R.Settings}}{{if .Sigmas}} · synthetic Gaussian noise, sigma {{range $i, $s := .Sigmas}}{{if $i}}, {{end}}{{$s}}{{end}}, seed {{.Seed}}{{end}}{{if .Blind}} · blind (sigma estimated){{end}}{{end}}</p>

<h2>Summary</h2>
<table>
<tr><th class="l">model</th><th>images</th><th>PSNR (dB)</th><th>gain (dB)</th><th>SSIM</th><th>ms mean</th><th>ms p50</th><th>ms p90</th><th>ms p99</th><th>ms max</th></tr>
{{with .R.Noisy}}<tr><td class="l"><span class="swatch" style="background:#888"></span>noisy input</td><td>{{len $.R.PerImage}}</td><td>{{db .PSNR}}</td><td>–</td><td>{{ssim .SSIM}}</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td></tr>{{end}}
{{range $m, $s := .R.Summary}}<tr><td class="l"><span class="swatch" style="background:{{index $.Colours $m}}"></span><b>{{$s.Model}}</b></td><td>{{$s.Images}}</td><td><b>{{db $s.PSNR}}</b></td><td>{{gain $s.GainDB}}</td><td>{{ssim $s.SSIM}}</td>{{if $.R.Settings.Latency}}<td>{{ms $s.Seconds.Mean}}</td><td>{{ms $s.Seconds.P50}}</td><td>{{ms $s.Seconds.P90}}</td><td>{{ms $s.Seconds.P99}}</td><td>{{ms $s.Seconds.Max}}</td>{{else}}<td colspan="5" class="note">not measured</td>{{end}}</tr>
{{end}}</table>
<table>
<tr><th class="l">model</th><th class="l">name</th><th class="l">version</th><th class="l">source</th><th class="l">sha256</th></tr>
{{range $m, $i := .R.Models}}<tr><td class="l"><span class="swatch" style="background:{{index $.Colours $m}}"></span>{{$i.Label}}</td><td class="l">{{$i.Name}}</td><td class="l"><code>{{$i.Version}}</code></td><td class="l"><code>{{$i.Source}}</code></td><td class="l"><code>{{short $i.SHA256}}…</code></td></tr>
{{end}}</table>

{{if .R.BySigma}}<h2>By noise level</h2>
<table>
<tr><th rowspan="2">sigma</th><th rowspan="2">images</th><th colspan="2" class="grp"><span class="swatch" style="background:#888"></span>noisy input</th>{{range $m, $i := .R.Models}}<th colspan="3" class="grp"><span class="swatch" style="background:{{index $.Colours $m}}"></span>{{$i.Label}}</th>{{end}}</tr>
<tr><th>PSNR</th><th>SSIM</th>{{range .R.Models}}<th>PSNR</th><th>gain</th><th>SSIM</th>{{end}}</tr>
{{range .R.BySigma}}{{$g := .}}<tr><td>{{sigma .Sigma}}</td><td>{{.Images}}</td>{{with .Noisy}}<td>{{db .PSNR}}</td><td>{{ssim .SSIM}}</td>{{else}}<td>–</td><td>–</td>{{end}}{{range .Models}}<td><b>{{db .PSNR}}</b></td><td>{{if $g.Noisy}}{{gain (sub .PSNR $g.Noisy.PSNR)}}{{else}}–{{end}}</td><td>{{ssim .SSIM}}</td>{{end}}</tr>
{{end}}</table>{{end}}

<h2>Distributions</h2>
<div class="plots">
{{if .PSNRPlot}}<figure><img alt="PSNR per image, per model" src="{{.PSNRPlot}}"></figure>{{end}}
{{if .SigmaPlot}}<figure><img alt="Mean PSNR against noise level" src="{{.SigmaPlot}}"></figure>{{else if .PSNRPlot}}<p class="note">PSNR against noise level needs images at two noise levels at least.</p>{{end}}
{{if .LatencyPlot}}<figure><img alt="Latency per image, per model" src="{{.LatencyPlot}}"></figure>{{else}}<p class="note">Latency was not measured in this run.</p>{{end}}
{{if not .PSNRPlot}}<p class="note">No reference images: PSNR and SSIM are not available.</p>{{end}}
</div>

{{if .Crops}}<h2>Best, median and worst images</h2>
<p class="meta">Ranked by the PSNR of {{(index .R.Models 0).Label}}; centre crops of {{.R.Settings.CropSize}}×{{.R.Settings.CropSize}} pixels at most, shown at 1.5×.</p>
{{range .Crops}}{{$im := image $.R .Highlight.Image}}<h3>{{.Highlight.Rank}}: <code>{{$im.ID}}</code> · sigma {{sigma $im.Sigma}}{{if $im.Partition}} · partition {{$im.Partition}} offset {{$im.Offset}}{{end}} · {{$im.Width}}×{{$im.Height}}</h3>
<div class="crops">
<figure><img alt="noisy" src="{{png .Noisy}}"><figcaption><b>noisy</b>{{with $im.Noisy}}<br>{{db .PSNR}} dB · {{ssim .SSIM}}{{end}}</figcaption></figure>
{{range $m, $c := .Models}}{{$r := index $im.Models $m}}<figure><img alt="{{(index $.R.Models $m).Label}}" src="{{png $c}}"><figcaption><b>{{(index $.R.Models $m).Label}}</b><br>{{db $r.PSNR}} dB · {{ssim $r.SSIM}}</figcaption></figure>
{{end}}{{if .Clean}}<figure><img alt="clean" src="{{png .Clean}}"><figcaption><b>clean</b><br>reference</figcaption></figure>{{end}}
</div>
{{end}}{{end}}

{{if .R.Errors}}<h2>Failures</h2>
<table>
<tr><th>index</th><th class="l">id</th><th class="l">error</th></tr>
{{range .R.Errors}}<tr><td>{{.Index}}</td><td class="l"><code>{{.ID}}</code></td><td class="l">{{.Err}}</td></tr>
{{end}}</table>{{if .MoreErrors}}<p class="note">and {{.MoreErrors}} more in the JSON report</p>{{end}}{{end}}

<footer>cleanframe replay report · JSON schema version {{.R.SchemaVersion}}{{if .R.GeneratedAt}} · generated {{.R.GeneratedAt}}{{end}}</footer>
</body>
</html>
`))
