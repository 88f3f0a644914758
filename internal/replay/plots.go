package replay

import (
	"bytes"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// palette colours the models in order; the noisy input is grey.
var palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
}

var noisyColour = color.NRGBA{0x88, 0x88, 0x88, 0xff}

func modelColour(m int) color.NRGBA { return palette[m%len(palette)] }

func withAlpha(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

// Plot size: 6 × 3.6 inches rendered at 144 dpi (864 × 518 pixels), shown
// 576 CSS pixels wide so that it stays sharp on dense screens.
const (
	plotW   = 6 * vg.Inch
	plotH   = 3.6 * vg.Inch
	plotDPI = 144
)

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func renderPNG(p *plot.Plot) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(plotDPI))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// histograms draws overlaid histograms of series on common bins.
func histograms(title, xlabel string, series [][]float64, names []string,
	colours []color.NRGBA) ([]byte, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			if !math.IsInf(v, 0) && !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo > hi {
		return nil, nil
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	n := 30
	width := (hi - lo) / float64(n)
	p := newPlot(title, xlabel, "images")
	var top float64
	for i, s := range series {
		h := &plotter.Histogram{Width: width, FillColor: withAlpha(colours[i], 0x50)}
		h.LineStyle = draw.LineStyle{Color: colours[i], Width: vg.Points(1)}
		for b := range n {
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: lo + float64(b)*width,
				Max: lo + float64(b+1)*width})
		}
		for _, v := range s {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				continue
			}
			b := min(n-1, int((v-lo)/width))
			h.Bins[b].Weight++
			top = max(top, h.Bins[b].Weight)
		}
		p.Add(h)
		p.Legend.Add(names[i], h)
	}
	p.Y.Min, p.Y.Max = 0, top*1.35 // room for the legend above the bars
	p.Y.Tick.Marker = countTicks{}
	return renderPNG(p)
}

// sigmaPlot draws mean PSNR against the noise level, one line per model
// and one for the noisy input.
func sigmaPlot(r *Report) ([]byte, error) {
	var known []SigmaGroup
	for _, g := range r.BySigma {
		if g.Sigma != nil {
			known = append(known, g)
		}
	}
	if len(known) < 2 || r.Noisy == nil {
		return nil, nil
	}
	p := newPlot("Mean PSNR against noise level", "noise sigma (0–255)", "PSNR (dB)")
	add := func(name string, c color.NRGBA, dashed bool, y func(SigmaGroup) float64) error {
		xy := make(plotter.XYs, len(known))
		for i, g := range known {
			xy[i] = plotter.XY{X: *g.Sigma, Y: y(g)}
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		s.Shape = draw.CircleGlyph{}
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	if err := add("noisy input", noisyColour, true,
		func(g SigmaGroup) float64 { return float64(g.Noisy.PSNR) }); err != nil {
		return nil, err
	}
	for m, info := range r.Models {
		err := add(info.Label, modelColour(m), false,
			func(g SigmaGroup) float64 { return float64(g.Models[m].PSNR) })
		if err != nil {
			return nil, err
		}
	}
	// PSNR falls with sigma, so the top right is free for the legend once
	// the axis leaves it room.
	p.Y.Max += 0.3 * (p.Y.Max - p.Y.Min)
	return renderPNG(p)
}

// psnrPlot is the distribution of per-image PSNR per model.
func psnrPlot(r *Report) ([]byte, error) {
	if r.Noisy == nil {
		return nil, nil
	}
	series, names, colours := perModel(r, func(im ImageModel) float64 { return float64(im.PSNR) })
	return histograms("PSNR per image", "PSNR (dB)", series, names, colours)
}

// latencyPlot is the distribution of milliseconds per image per model.
func latencyPlot(r *Report) ([]byte, error) {
	if !r.Settings.Latency {
		return nil, nil
	}
	series, names, colours := perModel(r,
		func(im ImageModel) float64 { return 1000 * float64(im.Seconds) })
	return histograms("Latency per image", "milliseconds", series, names, colours)
}

func perModel(r *Report, f func(ImageModel) float64) ([][]float64, []string, []color.NRGBA) {
	series := make([][]float64, len(r.Models))
	var names []string
	var colours []color.NRGBA
	for m, info := range r.Models {
		for _, im := range r.PerImage {
			series[m] = append(series[m], f(im.Models[m]))
		}
		names = append(names, info.Label)
		colours = append(colours, modelColour(m))
	}
	return series, names, colours
}

// countTicks marks whole numbers only, at a step of 1, 2 or 5 × 10^k that
// gives about five labels.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	raw := max(1, (hi-lo)/5)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, f := range []float64{1, 2, 5, 10} {
		if f*mag >= raw {
			step = f * mag
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}
