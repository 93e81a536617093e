package sweep

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/safetensors"
	"github.com/aotp/aotp/tasks"
)

// SelectionRule states how the report picks its numbers.
const SelectionRule = `Selection rule:
1. Per run (one task, method, hyperparameters, learning rate and seed): the dev evaluation with the best main
   metric (the task's first metric; the first such evaluation on ties), i.e. the checkpoint the run saved as its
   adapter. The run's score is tasks.Score at that evaluation: the mean of the task's metrics (e.g. MRPC: accuracy
   and F1; STS-B: Pearson and Spearman), as on the GLUE leaderboard.
2. Per (task, method): among the configurations (hyperparameters and learning rate) with the most finished seeds,
   the one with the best mean score over seeds (the first in grid order on ties).
3. Reported: mean ± sample standard deviation (n-1; 0 for one seed) over the seeds of that configuration.
   Benchmark columns are tasks.MacroScore of the per-task means over the benchmark's tasks present for the method
   (MNLI matched/mismatched averaged first; SuperGLUE has no ReCoRD here, so it is never the official 8-task number).
4. Trainable parameters are counted from the selected runs' adapter_model.safetensors: the method's tensors, and
   the task head (classifier.*, a pooler trained with it; LoRA: its modules_to_save) apart.`

// RunResult is one finished run with its selected evaluation.
type RunResult struct {
	Manifest
	Dir          string
	Step         int                // step of the selected evaluation
	Dev          map[string]float64 // metrics there
	Main         float64            // main metric there
	Score        float64            // tasks.Score there
	Evals        int                // evaluations in metrics.jsonl
	MethodParams int64              // adapter tensors other than the head
	HeadParams   int64
}

// Group is one configuration of a (task, method): its runs over seeds.
type Group struct {
	Task, Label, Config, Method, Benchmark string
	Hparams                                []KV
	LR                                     float64
	Runs                                   []*RunResult // by seed
	Mean, Std                              float64
	Selected                               bool
	index                                  int // grid order of the first run
}

// Report is the gathered sweep.
type Report struct {
	Runs       []*RunResult
	Pending    []string // run folders without a finished run (name: state)
	NoDev      []string // finished runs without dev metrics
	Groups     []*Group // every configuration, grid order
	Tasks      []string // grid order
	Methods    []string // table rows, grid order
	Benchmark  map[string]string
	Selected   map[[2]string]*Group // (task, method) -> selected configuration
	Macro      map[string]map[string]float64
	MacroTasks map[string]map[string]int // method -> benchmark -> tasks averaged
}

// Benchmarks in table order.
var benchmarkOrder = []string{tasks.BenchmarkGLUE, tasks.BenchmarkSuperGLUE, tasks.BenchmarkCustom}

var benchmarkTitle = map[string]string{tasks.BenchmarkGLUE: "GLUE", tasks.BenchmarkSuperGLUE: "SuperGLUE", tasks.BenchmarkCustom: "custom"}

// Collect reads every run folder under OUT/runs and builds the report.
func Collect(out string) (*Report, error) {
	root := filepath.Join(out, "runs")
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == ManifestFile {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no runs folder (run aotp sweep run --out %s first)", out, out)
	}
	if err != nil {
		return nil, err
	}
	rep := &Report{Benchmark: map[string]string{}}
	for _, dir := range dirs {
		m, err := ReadManifest(dir)
		if err != nil {
			return nil, err
		}
		st, step, err := RunState(dir)
		if err != nil {
			return nil, err
		}
		if st != Finished {
			rep.Pending = append(rep.Pending, fmt.Sprintf("%s: %s (step %d)", m.Name, st, step))
			continue
		}
		r, err := readRun(dir, m)
		if err != nil {
			return nil, err
		}
		if r == nil {
			rep.NoDev = append(rep.NoDev, m.Name)
			continue
		}
		rep.Runs = append(rep.Runs, r)
	}
	sort.Strings(rep.Pending)
	sort.Strings(rep.NoDev)
	rep.build()
	return rep, nil
}

// readRun picks the run's evaluation from metrics.jsonl (nil: no dev
// metrics) and counts its adapter's tensors.
func readRun(dir string, m *Manifest) (*RunResult, error) {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &RunResult{Manifest: *m, Dir: dir}
	task := &tasks.Task{Metrics: m.Metrics}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Step int                `json:"step"`
			Dev  map[string]float64 `json:"dev"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s line %d: %v", f.Name(), line, err)
		}
		if len(rec.Dev) == 0 || len(m.Metrics) == 0 {
			continue
		}
		main, ok := rec.Dev[m.Metrics[0]]
		if !ok {
			return nil, fmt.Errorf("%s line %d: dev metrics %v lack %s", f.Name(), line, rec.Dev, m.Metrics[0])
		}
		r.Evals++
		if r.Evals == 1 || better(main, r.Main) {
			r.Step, r.Dev, r.Main, r.Score = rec.Step, rec.Dev, main, tasks.Score(task, rec.Dev)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if r.Evals == 0 {
		return nil, nil
	}
	r.MethodParams, r.HeadParams, err = CountParams(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// better: a > b, NaN below every number.
func better(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	return math.IsNaN(b) || a > b
}

// IsHeadTensor tells task-head tensors (classifier.*, an own pooler.*)
// from the method's. In HF PEFT's LoRA layout (base_model.model.*) every
// tensor but lora_A/lora_B is a module to save: the head, with a pooler
// under the backbone's path when the checkpoint has none.
func IsHeadTensor(name string) bool {
	if rest, ok := strings.CutPrefix(name, "base_model.model."); ok {
		return !strings.Contains(rest, ".lora_")
	}
	return strings.HasPrefix(name, "classifier.") || strings.HasPrefix(name, "pooler.")
}

// CountParams counts the elements of an adapter file's tensors: the
// method's and the head's.
func CountParams(path string) (method, head int64, err error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		if IsHeadTensor(n) {
			head += info.NumElements()
		} else {
			method += info.NumElements()
		}
	}
	return method, head, nil
}

// build groups runs into configurations and applies the selection rule.
func (rep *Report) build() {
	sort.Slice(rep.Runs, func(i, j int) bool { return rep.Runs[i].Index < rep.Runs[j].Index })
	byKey := map[[3]string]*Group{}
	taskIdx, methodIdx := map[string]int{}, map[string]int{}
	for _, r := range rep.Runs {
		k := [3]string{r.Task, r.Label, r.Config}
		g := byKey[k]
		if g == nil {
			g = &Group{Task: r.Task, Label: r.Label, Config: r.Config, Method: r.Method, Benchmark: r.Benchmark,
				Hparams: r.Hparams, LR: r.LR, index: r.Index}
			byKey[k] = g
			rep.Groups = append(rep.Groups, g)
		}
		g.Runs = append(g.Runs, r)
		if _, ok := taskIdx[r.Task]; !ok {
			taskIdx[r.Task] = r.Index
			rep.Tasks = append(rep.Tasks, r.Task)
			rep.Benchmark[r.Task] = r.Benchmark
		}
		if _, ok := methodIdx[r.Label]; !ok {
			methodIdx[r.Label] = r.Index
			rep.Methods = append(rep.Methods, r.Label)
		}
	}
	// rep.Methods is in the order of first runs: the order of the method entries
	rep.Selected = map[[2]string]*Group{}
	maxSeeds := map[[2]string]int{}
	for _, g := range rep.Groups {
		sort.Slice(g.Runs, func(i, j int) bool { return g.Runs[i].Seed < g.Runs[j].Seed })
		s := make([]float64, len(g.Runs))
		for i, r := range g.Runs {
			s[i] = r.Score
		}
		g.Mean, g.Std = MeanStd(s)
		k := [2]string{g.Task, g.Label}
		maxSeeds[k] = max(maxSeeds[k], len(g.Runs))
	}
	for _, g := range rep.Groups { // grid order: the first wins ties
		k := [2]string{g.Task, g.Label}
		if len(g.Runs) < maxSeeds[k] {
			continue
		}
		if cur := rep.Selected[k]; cur == nil || better(g.Mean, cur.Mean) {
			rep.Selected[k] = g
		}
	}
	for _, g := range rep.Selected {
		g.Selected = true
	}
	rep.Macro = map[string]map[string]float64{}
	rep.MacroTasks = map[string]map[string]int{}
	for _, m := range rep.Methods {
		per := map[string]map[string]float64{}
		for _, t := range rep.Tasks {
			if g := rep.Selected[[2]string{t, m}]; g != nil {
				b := rep.Benchmark[t]
				if per[b] == nil {
					per[b] = map[string]float64{}
				}
				per[b][t] = g.Mean
			}
		}
		rep.Macro[m], rep.MacroTasks[m] = map[string]float64{}, map[string]int{}
		for b, scores := range per {
			rep.Macro[m][b] = tasks.MacroScore(b, scores)
			rep.MacroTasks[m][b] = len(scores)
		}
	}
}

// MeanStd returns the mean and the sample standard deviation (n-1; 0 for
// one value).
func MeanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
}

// benchmarks present, in table order.
func (rep *Report) benchmarks() []string {
	var out []string
	for _, b := range benchmarkOrder {
		for _, t := range rep.Tasks {
			if rep.Benchmark[t] == b {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

func (rep *Report) tasksOf(b string) int {
	n := 0
	for _, t := range rep.Tasks {
		if rep.Benchmark[t] == b {
			n++
		}
	}
	return n
}

// methodParams is the method's trainable size over its selected runs
// ("n" or "min–max").
func (rep *Report) methodParams(label string) (lo, hi int64) {
	lo, hi = -1, -1
	for _, t := range rep.Tasks {
		g := rep.Selected[[2]string{t, label}]
		if g == nil {
			continue
		}
		for _, r := range g.Runs {
			if lo < 0 || r.MethodParams < lo {
				lo = r.MethodParams
			}
			hi = max(hi, r.MethodParams)
		}
	}
	return lo, hi
}

// backboneParams is the backbone's size recorded by sweep run (0: unknown).
func (rep *Report) backboneParams() int64 {
	var n int64
	for _, r := range rep.Runs {
		n = max(n, r.BackboneParams)
	}
	return n
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "NaN"
	}
	return strconv.FormatFloat(100*x, 'f', 1, 64)
}

func count(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

func hparamText(hp []KV, lr float64) string {
	parts := make([]string, 0, len(hp)+1)
	for _, kv := range hp {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	return strings.Join(append(parts, "lr="+FormatFloat(lr)), " ")
}

func seedList(g *Group) string {
	s := make([]string, len(g.Runs))
	for i, r := range g.Runs {
		s[i] = strconv.FormatUint(r.Seed, 10)
	}
	return strings.Join(s, ",")
}

// Markdown writes the report: notes (verbatim), the selection rule, the
// main table, the selected configurations and every configuration.
func (rep *Report) Markdown(w io.Writer, notes string) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	if notes != "" {
		p("%s\n\n", strings.TrimRight(notes, "\n"))
	} else {
		p("# Sweep report\n\n")
	}
	p("%d finished runs", len(rep.Runs))
	if len(rep.Pending) > 0 {
		p(", %d not finished (not counted)", len(rep.Pending))
	}
	if len(rep.NoDev) > 0 {
		p(", %d without dev metrics (not counted)", len(rep.NoDev))
	}
	p(". Scores are dev-set scores ×100.")
	if bb := rep.backboneParams(); bb > 0 {
		p(" Trainable parameters exclude the task head; the percentage is of the backbone's %s parameters.", count(bb))
	}
	p("\n\n")
	p("%s\n\n", SelectionRule)
	bms := rep.benchmarks()
	p("## Dev scores: mean ± std over seeds\n\n| Method | Trainable params (method) |")
	for _, t := range rep.Tasks {
		p(" %s |", t)
	}
	for _, b := range bms {
		p(" %s |", benchmarkTitle[b])
	}
	p("\n|---|---:|%s\n", strings.Repeat("---:|", len(rep.Tasks)+len(bms)))
	for _, m := range rep.Methods {
		lo, hi := rep.methodParams(m)
		ps := count(lo)
		if hi != lo {
			ps = count(lo) + "–" + count(hi)
		}
		if bb := rep.backboneParams(); bb > 0 {
			ps += fmt.Sprintf(" (%.3g%%)", 100*float64(hi)/float64(bb))
		}
		p("| %s | %s |", m, ps)
		for _, t := range rep.Tasks {
			if g := rep.Selected[[2]string{t, m}]; g != nil {
				p(" %s ± %s |", pct(g.Mean), pct(g.Std))
			} else {
				p(" — |")
			}
		}
		for _, b := range bms {
			v, ok := rep.Macro[m][b]
			switch {
			case !ok:
				p(" — |")
			case rep.MacroTasks[m][b] < rep.tasksOf(b):
				p(" %s (%d/%d tasks) |", pct(v), rep.MacroTasks[m][b], rep.tasksOf(b))
			default:
				p(" %s |", pct(v))
			}
		}
		p("\n")
	}
	p("\nBenchmark columns average the tasks of this sweep only (")
	for i, b := range bms {
		if i > 0 {
			p("; ")
		}
		var ts []string
		for _, t := range rep.Tasks {
			if rep.Benchmark[t] == b {
				ts = append(ts, t)
			}
		}
		p("%s: %s", benchmarkTitle[b], strings.Join(ts, ", "))
	}
	p("), not the full benchmark.\n\n")
	p("## Selected configurations\n\n| Task | Method | Configuration | Seeds | Score | Per seed | Best step (per seed) | Main metric | Params (method + head) |\n|---|---|---|---|---:|---|---|---:|---:|\n")
	for _, t := range rep.Tasks {
		for _, m := range rep.Methods {
			g := rep.Selected[[2]string{t, m}]
			if g == nil {
				continue
			}
			var per, steps []string
			var mains []float64
			for _, r := range g.Runs {
				per = append(per, pct(r.Score))
				steps = append(steps, strconv.Itoa(r.Step))
				mains = append(mains, r.Main)
			}
			mm, ms := MeanStd(mains)
			r0 := g.Runs[0]
			p("| %s | %s | %s | %s | %s ± %s | %s | %s | %s %s ± %s | %s + %s |\n", t, m, hparamText(g.Hparams, g.LR), seedList(g),
				pct(g.Mean), pct(g.Std), strings.Join(per, ", "), strings.Join(steps, ", "), r0.Metrics[0], pct(mm), pct(ms),
				count(r0.MethodParams), count(r0.HeadParams))
		}
	}
	p("\n## All configurations\n\n| Task | Method | Configuration | Seeds | Score | Selected |\n|---|---|---|---|---:|---|\n")
	for _, t := range rep.Tasks {
		for _, m := range rep.Methods {
			for _, g := range rep.Groups {
				if g.Task != t || g.Label != m {
					continue
				}
				sel := ""
				if g.Selected {
					sel = "✓"
				}
				p("| %s | %s | %s | %s | %s ± %s | %s |\n", t, m, hparamText(g.Hparams, g.LR), seedList(g), pct(g.Mean), pct(g.Std), sel)
			}
		}
	}
	if len(rep.Pending) > 0 || len(rep.NoDev) > 0 {
		p("\n## Not counted\n\n")
		for _, s := range rep.Pending {
			p("- %s\n", s)
		}
		for _, s := range rep.NoDev {
			p("- %s: finished without dev metrics\n", s)
		}
	}
	return bw.Flush()
}

func ff(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

// TableCSV writes the main table: one row per method, mean and std per
// task (0–1 scale), the benchmark macro scores and the method's
// trainable parameters.
func (rep *Report) TableCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	bms := rep.benchmarks()
	head := []string{"method", "method_params_min", "method_params_max"}
	for _, t := range rep.Tasks {
		head = append(head, t, t+"_std", t+"_seeds")
	}
	for _, b := range bms {
		head = append(head, b, b+"_tasks")
	}
	cw.Write(head)
	for _, m := range rep.Methods {
		lo, hi := rep.methodParams(m)
		row := []string{m, strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10)}
		for _, t := range rep.Tasks {
			if g := rep.Selected[[2]string{t, m}]; g != nil {
				row = append(row, ff(g.Mean), ff(g.Std), strconv.Itoa(len(g.Runs)))
			} else {
				row = append(row, "", "", "0")
			}
		}
		for _, b := range bms {
			if v, ok := rep.Macro[m][b]; ok {
				row = append(row, ff(v), strconv.Itoa(rep.MacroTasks[m][b]))
			} else {
				row = append(row, "", "0")
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// ConfigsCSV writes every configuration with its mean and std over seeds
// and whether it was selected.
func (rep *Report) ConfigsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"task", "benchmark", "method", "aotp_method", "config", "hparams", "lr", "seeds", "mean", "std", "selected", "method_params", "head_params"})
	for _, g := range rep.Groups {
		cw.Write([]string{g.Task, g.Benchmark, g.Label, g.Method, g.Config, hparamText(g.Hparams, g.LR), FormatFloat(g.LR), seedList(g),
			ff(g.Mean), ff(g.Std), strconv.FormatBool(g.Selected), strconv.FormatInt(g.Runs[0].MethodParams, 10), strconv.FormatInt(g.Runs[0].HeadParams, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// RunsCSV writes every finished run with its selected evaluation.
func (rep *Report) RunsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"name", "task", "method", "config", "seed", "best_step", "evals", "score", "main_metric", "main", "dev_metrics"})
	for _, r := range rep.Runs {
		dev, _ := json.Marshal(r.Dev)
		cw.Write([]string{r.Name, r.Task, r.Label, r.Config, strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Step), strconv.Itoa(r.Evals),
			ff(r.Score), r.Metrics[0], ff(r.Main), string(dev)})
	}
	cw.Flush()
	return cw.Error()
}

// Write puts report.md, table.csv, configs.csv, runs.csv and scores.svg
// into dir (each written whole, then renamed).
func (rep *Report) Write(dir, notes string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, fn := range map[string]func(io.Writer) error{
		"report.md":   func(w io.Writer) error { return rep.Markdown(w, notes) },
		"table.csv":   rep.TableCSV,
		"configs.csv": rep.ConfigsCSV,
		"runs.csv":    rep.RunsCSV,
		"scores.svg":  rep.Plot,
	} {
		f, err := fsutil.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Abort()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Commit(); err != nil {
			return err
		}
	}
	return nil
}
