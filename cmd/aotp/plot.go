package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/aotp/aotp/internal/fsutil"
)

// plotRun draws training loss and dev metrics over steps from
// RUN/metrics.jsonl into RUN/training.svg (two panels, shared step axis).
func plotRun(dir string) error {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	var loss plotter.XYs
	dev := map[string]plotter.XYs{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Step float64            `json:"step"`
			Loss *float64           `json:"loss"`
			Dev  map[string]float64 `json:"dev"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if rec.Loss != nil {
			loss = append(loss, plotter.XY{X: rec.Step, Y: *rec.Loss})
		}
		for k, v := range rec.Dev {
			dev[k] = append(dev[k], plotter.XY{X: rec.Step, Y: v})
		}
	}
	top := plot.New()
	top.Title.Text = "training loss"
	top.X.Label.Text = "step"
	if len(loss) > 0 {
		l, err := plotter.NewLine(loss)
		if err != nil {
			return err
		}
		top.Add(l)
	}
	bottom := plot.New()
	bottom.Title.Text = "dev metrics"
	bottom.X.Label.Text = "step"
	names := make([]string, 0, len(dev))
	for k := range dev {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		l, pts, err := plotter.NewLinePoints(dev[k])
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		pts.Color = l.Color
		bottom.Add(l, pts)
		bottom.Legend.Add(k, l)
	}
	bottom.Legend.Top = false
	canvas := vgsvg.New(7*vg.Inch, 6*vg.Inch)
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	plots := [][]*plot.Plot{{top}, {bottom}}
	cs := plot.Align(plots, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])
	out, err := fsutil.Create(filepath.Join(dir, "training.svg"))
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(out); err != nil {
		out.Abort()
		return err
	}
	return out.Commit()
}
