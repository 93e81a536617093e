package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// overheadMethod is one column of the inference-overhead study: how to
// build one task's random adapter in its serving form. Configs are written
// as adapter_config.json text, the format every method reads.
type overheadMethod struct {
	name string
	cfg  string
	fuse string // AoT: fuse to this dtype ("" = compact)
}

var overheadMethods = []overheadMethod{
	{name: "aot-fused", cfg: `{"method": "aot", "reparam": "fc", "rank": 64}`, fuse: "f16"},
	{name: "aot-compact", cfg: `{"method": "aot", "reparam": "fc", "rank": 64}`},
	{name: "bitfit", cfg: `{"method": "bitfit"}`},
	{name: "lora", cfg: `{"method": "lora", "peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["query", "value"]}`},
	{name: "adapter", cfg: `{"method": "adapter", "placement": "houlsby", "bottleneck": 64, "activation": "relu"}`},
	{name: "ptv2-p8", cfg: `{"method": "ptv2", "prefix_len": 8}`},
	{name: "ptv2-p128", cfg: `{"method": "ptv2", "prefix_len": 128}`},
}

type overheadRow struct {
	Method   string  `json:"method"`
	Batch    int     `json:"batch"`
	Seq      int     `json:"seq"`
	Ms       float64 `json:"ms_median"`
	Relative float64 `json:"relative_to_backbone"`
	Note     string  `json:"note,omitempty"`
}

func newBenchOverheadCmd() *cobra.Command {
	var shape, modelName, out, batches, seqs, methods, weights string
	var iters, threads, distinct int
	cmd := &cobra.Command{
		Use:   "overhead [--shape NAME | --model DIR]",
		Short: "Inference overhead of each PEFT method in the multi-task serving form, relative to the backbone",
		Long: `overhead times one forward pass (with heads) of a batch in which every
example belongs to its own task, for each method, against the backbone alone,
over a grid of batch sizes and sequence lengths: median of --iters timed runs,
methods interleaved within each repetition so machine noise hits all alike.
Adapters are random (speed does not depend on values). Fused AoT tables are
f16 and shared by --distinct-tables tasks in turn (a fused table is |V|·d·L
values per task; the gather per token is the same whichever task it is).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// the flags first: nothing is loaded for a grid that cannot run
			bs, err := parseInts(batches)
			if err != nil {
				return fmt.Errorf("--batches: %w", err)
			}
			ts, err := parseInts(seqs)
			if err != nil {
				return fmt.Errorf("--seqs: %w", err)
			}
			if iters < 1 || distinct < 1 {
				return fmt.Errorf("--iters and --distinct-tables must be positive")
			}
			want := map[string]bool{}
			for _, m := range strings.Split(methods, ",") {
				m = strings.TrimSpace(m)
				if !slices.ContainsFunc(overheadMethods, func(om overheadMethod) bool { return om.name == m }) {
					var names []string
					for _, om := range overheadMethods {
						names = append(names, om.name)
					}
					return fmt.Errorf("--methods: %q is not one of %s", m, strings.Join(names, ", "))
				}
				want[m] = true
			}
			setThreads(threads)
			var enc *model.Encoder
			if modelName != "" {
				var dir string
				if dir, err = resolveModel(modelName); err == nil {
					enc, err = model.Load(dir)
				}
			} else {
				var cfg *model.Config
				if cfg, err = model.ShapeConfig(shape); err == nil {
					enc, err = randomEncoder(cfg)
				}
			}
			if err != nil {
				return err
			}
			defer enc.Close()
			if err := packWeights(enc, weights, true); err != nil {
				return err
			}
			if !slices.ContainsFunc(ts, func(T int) bool { return T <= enc.Config.MaxSequenceLength() }) {
				return fmt.Errorf("--seqs: none fits the model's %d positions", enc.Config.MaxSequenceLength())
			}
			var rows []overheadRow
			for _, B := range bs {
				for _, T := range ts {
					if T > enc.Config.MaxSequenceLength() {
						continue
					}
					r, err := overheadCell(cmd, enc, B, T, iters, distinct, want)
					if err != nil {
						return err
					}
					rows = append(rows, r...)
				}
			}
			name := shape
			if modelName != "" {
				name = modelName
			}
			md := overheadMarkdown(rows, enc.Config, name, weights)
			fmt.Print(md)
			if out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
				data, _ := json.MarshalIndent(rows, "", "  ")
				if err := fsutil.WriteFile(filepath.Join(out, "overhead.json"), data); err != nil {
					return err
				}
				if err := fsutil.WriteFile(filepath.Join(out, "overhead.md"), []byte(md)); err != nil {
					return err
				}
				return overheadPlot(rows, filepath.Join(out, "overhead.svg"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&shape, "shape", "roberta-base", "random weights of a named real shape")
	f.StringVar(&modelName, "model", "", "model directory or hub name (instead of --shape)")
	f.StringVar(&batches, "batches", "1,8,32", "batch sizes")
	f.StringVar(&seqs, "seqs", "32,128,512", "sequence lengths")
	f.StringVar(&methods, "methods", "aot-fused,aot-compact,bitfit,lora,adapter,ptv2-p8,ptv2-p128", "methods to time (besides the backbone)")
	f.IntVar(&iters, "iters", 5, "timed repetitions per cell")
	f.IntVar(&distinct, "distinct-tables", 2, "distinct fused AoT tables cycled over the batch's tasks")
	f.IntVar(&threads, "threads", 0, "threads (default: all cores)")
	f.StringVar(&out, "out", "", "folder for overhead.json, overhead.md and overhead.svg")
	addWeightsFlag(f, &weights)
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// overheadCell times the backbone and every method for one (B, T).
func overheadCell(cmd *cobra.Command, enc *model.Encoder, B, T, iters, distinct int, want map[string]bool) ([]overheadRow, error) {
	cfg := enc.Config
	r := rand.New(rand.NewPCG(uint64(B), uint64(T)))
	ids := make([][]int32, B)
	for b := range ids {
		ids[b] = make([]int32, T)
		for t := range ids[b] {
			ids[b][t] = int32(cfg.PadTokenID + 1 + r.IntN(cfg.VocabSize-cfg.PadTokenID-1))
		}
	}
	type column struct {
		name string
		seqs []peft.TaskSeq
		note string
	}
	cols := []column{{name: "backbone"}}
	for _, id := range ids {
		cols[0].seqs = append(cols[0].seqs, peft.TaskSeq{IDs: id})
	}
	for _, m := range overheadMethods {
		if !want[m.name] {
			continue
		}
		col := column{name: m.name}
		var fused []*peft.Adapter
		for b := 0; b < B; b++ {
			var ad *peft.Adapter
			if m.fuse != "" && len(fused) >= distinct {
				ad = fused[b%distinct]
			} else {
				var c peft.AdapterConfig
				if err := json.Unmarshal([]byte(m.cfg), &c); err != nil {
					return nil, fmt.Errorf("%s: %w", m.name, err)
				}
				c.Task, c.ProblemType, c.NumLabels = "bench", model.SingleLabel, 2
				var err error
				if ad, err = peft.New(enc, &c, uint64(b+1)); err != nil {
					col.note = err.Error()
					break
				}
				for _, p := range ad.Params() {
					for i := range p.Data {
						if p.Data[i] == 0 {
							p.Data[i] = 1e-3 * float32(i%5-2)
						}
					}
				}
				if m.fuse != "" {
					if err := ad.Fuse(m.fuse); err != nil {
						return nil, err
					}
					fused = append(fused, ad)
				}
			}
			col.seqs = append(col.seqs, peft.TaskSeq{Adapter: ad, IDs: ids[b]})
		}
		if col.note != "" {
			col.seqs = nil
		}
		cols = append(cols, col)
	}
	times := make([][]float64, len(cols))
	p := &peft.MixedPredictor{Enc: enc, FirstTokensOnly: true} // as the server runs
	// building the adapters allocated a lot: collect now, not during timing
	runtime.GC()
	for it := -1; it < iters; it++ { // it = -1: warm-up
		// rotate the order each repetition so no column always runs first
		for j := range cols {
			c := (j + max(it, 0)) % len(cols)
			if cols[c].seqs == nil {
				continue
			}
			t0 := time.Now()
			if _, _, err := p.Predict(cmd.Context(), cols[c].seqs); err != nil {
				return nil, fmt.Errorf("%s: %w", cols[c].name, err)
			}
			if it >= 0 {
				times[c] = append(times[c], time.Since(t0).Seconds()*1e3)
			}
		}
	}
	var rows []overheadRow
	base := median(times[0])
	for c, col := range cols {
		row := overheadRow{Method: col.name, Batch: B, Seq: T, Note: col.note}
		if col.seqs != nil {
			row.Ms = median(times[c])
			row.Relative = row.Ms / base
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func overheadMarkdown(rows []overheadRow, cfg *model.Config, name, weights string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Inference time relative to the backbone alone (%s: %d layers, width %d; backbone weights %s), each example its own task, median ms in parentheses.\n\n", name, cfg.NumHiddenLayers, cfg.HiddenSize, weights)
	var methods []string
	seen := map[string]bool{}
	cells := map[string]map[string]overheadRow{}
	var keys []string
	for _, r := range rows {
		if !seen[r.Method] {
			seen[r.Method] = true
			methods = append(methods, r.Method)
		}
		k := fmt.Sprintf("%d×%d", r.Batch, r.Seq)
		if cells[k] == nil {
			cells[k] = map[string]overheadRow{}
			keys = append(keys, k)
		}
		cells[k][r.Method] = r
	}
	fmt.Fprintf(&b, "| batch×seq | %s |\n|---|%s\n", strings.Join(methods, " | "), strings.Repeat("---|", len(methods)))
	for _, k := range keys {
		fmt.Fprintf(&b, "| %s |", k)
		for _, m := range methods {
			r, ok := cells[k][m]
			switch {
			case !ok:
				b.WriteString(" – |")
			case r.Note != "":
				b.WriteString(" n/a |")
			default:
				fmt.Fprintf(&b, " %.3f (%.2f) |", r.Relative, r.Ms)
			}
		}
		b.WriteString("\n")
	}
	for _, r := range rows {
		if r.Note != "" {
			fmt.Fprintf(&b, "\n%s: not measured: %s", r.Method, r.Note)
			break
		}
	}
	b.WriteString("\n")
	return b.String()
}

// overheadPlot draws the relative time per method for each batch×seq cell.
func overheadPlot(rows []overheadRow, path string) error {
	p := plot.New()
	p.Title.Text = "inference time relative to the backbone"
	p.Y.Label.Text = "× backbone"
	var cells []string
	idx := map[string]int{}
	byMethod := map[string]plotter.XYs{}
	var methods []string
	for _, r := range rows {
		k := fmt.Sprintf("%d×%d", r.Batch, r.Seq)
		if _, ok := idx[k]; !ok {
			idx[k] = len(cells)
			cells = append(cells, k)
		}
		if r.Method == "backbone" || r.Note != "" {
			continue
		}
		if _, ok := byMethod[r.Method]; !ok {
			methods = append(methods, r.Method)
		}
		byMethod[r.Method] = append(byMethod[r.Method], plotter.XY{X: float64(idx[k]), Y: r.Relative})
	}
	for i, m := range methods {
		l, pts, err := plotter.NewLinePoints(byMethod[m])
		if err != nil {
			return err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(m, l, pts)
	}
	p.NominalX(cells...)
	p.Legend.Top = true
	w, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	f, err := fsutil.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
