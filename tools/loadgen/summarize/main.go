// Command summarize turns the load report's raw results (JSON lines written
// by report.sh, one loadgen run each) into a markdown table and a latency
// plot.
//
// Each line is {"n": tasks, "kind": "aot" | "backbone", "phase": "sat" |
// "rate", "frac": share of the saturation rate, "r": loadgen's JSON}.
// "sat" runs overload the server to measure its throughput; "rate" runs
// offer a share of it, the same rate to the AoT tasks and to the backbone.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

type loadgen struct {
	Offered  float64        `json:"offered_rps"`
	Sent     int            `json:"sent"`
	OK       int            `json:"ok"`
	Achieved float64        `json:"achieved_rps"`
	P50      float64        `json:"p50_ms"`
	P99      float64        `json:"p99_ms"`
	Codes    map[string]int `json:"codes"`
	Errors   int            `json:"transport_errors"`
}

type record struct {
	N     int     `json:"n"`
	Kind  string  `json:"kind"`
	Phase string  `json:"phase"`
	Frac  float64 `json:"frac"`
	R     loadgen `json:"r"`
}

func main() {
	results := flag.String("results", "", "raw results (JSON lines)")
	setup := flag.String("setup", "", "markdown fragment describing the setup (goes first)")
	notes := flag.String("notes", "", "markdown fragment of caveats (goes last)")
	out := flag.String("out", "docs/serving-report", "output directory: report.md and latency.png")
	flag.Parse()
	recs, err := read(*results)
	if err != nil {
		fail(err)
	}
	if len(recs) == 0 {
		fail(fmt.Errorf("%s: no results", *results))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	if err := drawPlot(recs, filepath.Join(*out, "latency.png")); err != nil {
		fail(err)
	}
	var b strings.Builder
	b.WriteString("# Serving load report: many AoT tasks in one process\n\n")
	for _, frag := range []string{*setup} {
		if frag != "" {
			data, err := os.ReadFile(frag)
			if err != nil {
				fail(err)
			}
			b.Write(data)
			b.WriteString("\n")
		}
	}
	writeTables(&b, recs)
	b.WriteString("\n![p50 and p99 latency against the offered rate, per number of tasks; grey: the plain backbone](latency.png)\n\n")
	if *notes != "" {
		data, err := os.ReadFile(*notes)
		if err != nil {
			fail(err)
		}
		b.Write(data)
	}
	if err := os.WriteFile(filepath.Join(*out, "report.md"), []byte(b.String()), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "summarize:", err)
	os.Exit(1)
}

func read(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// find returns the record of (n, kind, phase, frac), if any.
func find(recs []record, n int, kind, phase string, frac float64) (loadgen, bool) {
	for _, r := range recs {
		if r.N == n && r.Kind == kind && r.Phase == phase && (phase == "sat" || r.Frac == frac) {
			return r.R, true
		}
	}
	return loadgen{}, false
}

func ns(recs []record) []int {
	var out []int
	for _, r := range recs {
		if !slices.Contains(out, r.N) {
			out = append(out, r.N)
		}
	}
	slices.Sort(out)
	return out
}

func fracs(recs []record, n int) []float64 {
	var out []float64
	for _, r := range recs {
		if r.N == n && r.Phase == "rate" && !slices.Contains(out, r.Frac) {
			out = append(out, r.Frac)
		}
	}
	slices.Sort(out)
	return out
}

// failed counts the requests that did not answer 200.
func failed(r loadgen) int { return r.Sent - r.OK + r.Codes["client-cap"] }

func writeTables(b *strings.Builder, recs []record) {
	b.WriteString("## Throughput at saturation\n\n")
	b.WriteString("Requests offered far above capacity with at most 128 in flight (the client holds back the rest), so the server always has a full queue: answers per second.\n\n")
	b.WriteString("| tasks | AoT rps | backbone rps | AoT / backbone |\n|---:|---:|---:|---:|\n")
	for _, n := range ns(recs) {
		a, okA := find(recs, n, "aot", "sat", 0)
		k, okK := find(recs, n, "backbone", "sat", 0)
		if !okA {
			continue
		}
		row := fmt.Sprintf("| %d | %.1f |", n, a.Achieved)
		if okK && k.Achieved > 0 {
			row += fmt.Sprintf(" %.1f | %.2f |", k.Achieved, a.Achieved/k.Achieved)
		} else {
			row += " – | – |"
		}
		b.WriteString(row + "\n")
	}
	b.WriteString("\n## Latency at a share of saturation\n\n")
	b.WriteString("Each row offers the same Poisson rate (a share of that N's AoT saturation) to N AoT tasks (each request one input, task uniform) and, in a separate run on the same server, to the head-only baseline task (plain backbone). Latency is client-side, in ms; `failed` counts requests that did not answer 200.\n\n")
	b.WriteString("| tasks | share | offered rps | AoT rps | AoT p50 | AoT p99 | backbone rps | backbone p50 | backbone p99 | p50 vs backbone | p99 vs backbone | failed (AoT/backbone) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range ns(recs) {
		for _, f := range fracs(recs, n) {
			a, okA := find(recs, n, "aot", "rate", f)
			k, okK := find(recs, n, "backbone", "rate", f)
			if !okA || !okK {
				continue
			}
			fmt.Fprintf(b, "| %d | %.0f%% | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s | %d/%d |\n",
				n, 100*f, a.Offered, a.Achieved, a.P50, a.P99, k.Achieved, k.P50, k.P99, ratio(a.P50, k.P50), ratio(a.P99, k.P99), failed(a), failed(k))
		}
	}
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 255}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 255},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 255}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 255},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 255},
}

// drawPlot draws p50 (left) and p99 (right) latency against the offered
// rate: one coloured line per N for the AoT tasks, a grey dashed line per N
// for the backbone at the same rates.
func drawPlot(recs []record, path string) error {
	panels := make([]*plot.Plot, 2)
	for i, name := range []string{"p50", "p99"} {
		p := plot.New()
		p.Title.Text = name + " latency"
		p.X.Label.Text = "offered requests/s"
		p.Y.Label.Text = "ms (log)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top, p.Legend.Left = true, true
		for j, n := range ns(recs) {
			var aot, base plotter.XYs
			for _, f := range fracs(recs, n) {
				a, okA := find(recs, n, "aot", "rate", f)
				k, okK := find(recs, n, "backbone", "rate", f)
				pick := func(r loadgen) float64 {
					if i == 0 {
						return r.P50
					}
					return r.P99
				}
				if okA && pick(a) > 0 {
					aot = append(aot, plotter.XY{X: a.Offered, Y: pick(a)})
				}
				if okK && pick(k) > 0 {
					base = append(base, plotter.XY{X: k.Offered, Y: pick(k)})
				}
			}
			c := palette[j%len(palette)]
			if len(aot) > 0 {
				l, s, err := plotter.NewLinePoints(aot)
				if err != nil {
					return err
				}
				l.Color, s.Color = c, c
				p.Add(l, s)
				p.Legend.Add(fmt.Sprintf("%d tasks", n), l, s)
			}
			if len(base) > 0 {
				l, s, err := plotter.NewLinePoints(base)
				if err != nil {
					return err
				}
				grey := color.Gray{Y: 150}
				l.Color, s.Color = grey, c
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				s.Shape = draw.CrossGlyph{}
				p.Add(l, s)
				if j == 0 {
					p.Legend.Add("backbone (same rates)", l)
				}
			}
		}
		panels[i] = p
	}
	const w, h = 11 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
