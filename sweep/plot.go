package sweep

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// errBars draws ± std whiskers on bars placed offset (in display units)
// from their nominal x.
type errBars struct {
	x, y, err []float64
	offset    vg.Length
	style     draw.LineStyle
}

func (e *errBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	cap := vg.Points(2.5)
	for i := range e.x {
		if math.IsNaN(e.y[i]) || e.err[i] == 0 {
			continue
		}
		x := trX(e.x[i]) + e.offset
		lo, hi := trY(e.y[i]-e.err[i]), trY(e.y[i]+e.err[i])
		c.StrokeLine2(e.style, x, lo, x, hi)
		c.StrokeLine2(e.style, x-cap, lo, x+cap, lo)
		c.StrokeLine2(e.style, x-cap, hi, x+cap, hi)
	}
}

func (e *errBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i := range e.x {
		if math.IsNaN(e.y[i]) {
			continue
		}
		xmin, xmax = math.Min(xmin, e.x[i]), math.Max(xmax, e.x[i])
		ymin, ymax = math.Min(ymin, e.y[i]-e.err[i]), math.Max(ymax, e.y[i]+e.err[i])
	}
	if xmin > xmax {
		return 0, 0, 0, 0
	}
	return
}

// Plot draws the main table as grouped bars (SVG): one group per task and
// benchmark column, one bar per method (mean ×100), whiskers ± std.
func (rep *Report) Plot(w io.Writer) error {
	p, leg, width, err := rep.plot()
	if err != nil {
		return err
	}
	canvas := vgsvg.New(width+legendWidth, 4*vg.Inch)
	drawPlot(draw.New(canvas), p, leg)
	_, err = canvas.WriteTo(w)
	return err
}

const legendWidth = 1.4 * vg.Inch

// drawPlot draws the chart with its legend in a column on the right.
func drawPlot(c draw.Canvas, p *plot.Plot, leg plot.Legend) {
	p.Draw(draw.Crop(c, 0, -legendWidth, 0, 0))
	lc := draw.Crop(c, c.Max.X-c.Min.X-legendWidth, 0, 0, -vg.Points(20))
	leg.Draw(lc)
}

// palette: Tableau 10, distinct for up to ten methods.
var palette = []color.Color{
	color.RGBA{0x4e, 0x79, 0xa7, 0xff}, color.RGBA{0xf2, 0x8e, 0x2b, 0xff}, color.RGBA{0xe1, 0x57, 0x59, 0xff},
	color.RGBA{0x76, 0xb7, 0xb2, 0xff}, color.RGBA{0x59, 0xa1, 0x4f, 0xff}, color.RGBA{0xed, 0xc9, 0x48, 0xff},
	color.RGBA{0xb0, 0x7a, 0xa1, 0xff}, color.RGBA{0xff, 0x9d, 0xa7, 0xff}, color.RGBA{0x9c, 0x75, 0x5f, 0xff},
	color.RGBA{0xba, 0xb0, 0xac, 0xff},
}

// plot builds the bar chart, its legend and its width.
func (rep *Report) plot() (*plot.Plot, plot.Legend, vg.Length, error) {
	cols := append([]string(nil), rep.Tasks...)
	bms := rep.benchmarks()
	for _, b := range bms {
		cols = append(cols, benchmarkTitle[b]+" (macro)")
	}
	nm := max(1, len(rep.Methods))
	bw := vg.Points(math.Max(4, math.Min(14, 60/float64(nm))))
	p := plot.New()
	p.Title.Text = "dev score per task and method (mean ± std over seeds)"
	p.Y.Label.Text = "dev score ×100"
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	p.Add(plotter.NewGrid())
	for i, m := range rep.Methods {
		vals := make(plotter.Values, len(cols))
		xs, ys, es := make([]float64, len(cols)), make([]float64, len(cols)), make([]float64, len(cols))
		for j := range cols {
			xs[j] = float64(j)
			ys[j], es[j] = math.NaN(), 0
			if j < len(rep.Tasks) {
				if g := rep.Selected[[2]string{rep.Tasks[j], m}]; g != nil {
					ys[j], es[j] = 100*g.Mean, 100*g.Std
				}
			} else if v, ok := rep.Macro[m][bms[j-len(rep.Tasks)]]; ok {
				ys[j] = 100 * v
			}
			if !math.IsNaN(ys[j]) {
				vals[j] = ys[j]
			}
		}
		bars, err := plotter.NewBarChart(vals, bw)
		if err != nil {
			return nil, leg, 0, fmt.Errorf("plot: %w", err)
		}
		bars.Color = palette[i%len(palette)]
		bars.LineStyle.Width = 0
		off := bw * vg.Length(float64(i)-float64(nm-1)/2)
		bars.Offset = off
		eb := &errBars{x: xs, y: ys, err: es, offset: off, style: draw.LineStyle{Width: vg.Points(0.8)}}
		p.Add(bars, eb)
		leg.Add(m, bars)
	}
	p.NominalX(cols...)
	width := vg.Length(len(cols))*(bw*vg.Length(nm)+vg.Points(24)) + vg.Points(80)
	return p, leg, max(width, 6*vg.Inch), nil
}
