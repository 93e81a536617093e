package sweep

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/safetensors"
)

// fakeRun writes a run folder by hand: run.json, state.json, metrics.jsonl
// (loss lines and the given dev lines) and an adapter file with a method
// tensor of methodN elements and a head of 10.
func fakeRun(t *testing.T, out string, m Manifest, finished bool, methodN int, devs ...map[string]float64) {
	t.Helper()
	dir := filepath.Join(out, "runs", m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644)
	writeState(t, dir, 10*len(devs), finished)
	var lines bytes.Buffer
	for i, d := range devs {
		l, _ := json.Marshal(map[string]any{"step": 10*i + 5, "loss": 0.7, "lr": 1e-3})
		lines.Write(append(l, '\n'))
		l, _ = json.Marshal(map[string]any{"step": 10 * (i + 1), "epoch": float64(i + 1), "dev": d})
		lines.Write(append(l, '\n'))
	}
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), lines.Bytes(), 0o644)
	ts := []safetensors.Tensor{
		safetensors.F32Tensor("aot.layer.0.fc1.weight", []int{methodN}, make([]float32, methodN)),
		safetensors.F32Tensor("classifier.out_proj.weight", []int{2, 4}, make([]float32, 8)),
		safetensors.F32Tensor("classifier.out_proj.bias", []int{2}, make([]float32, 2)),
	}
	if err := safetensors.Write(filepath.Join(dir, "adapter_model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
}

func man(task, bench string, metrics []string, label, config string, seed uint64, index int) Manifest {
	return Manifest{Name: task + "/" + config + "-seed" + itoa(int(seed)), Config: config, Index: index, Task: task, TrainTask: task,
		Benchmark: bench, Metrics: metrics, Label: label, Method: "aot", LR: 1e-3, Seed: seed,
		Hparams: []KV{{"rank", strings.TrimPrefix(strings.Split(config, "-")[1], "r")}}}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestReportSelection(t *testing.T) {
	out := t.TempDir()
	acc := []string{"accuracy"}
	mrpc := []string{"accuracy", "f1"}
	// RTE, method a: config r4 (seeds 1, 2) and r8 (seeds 1, 2); r8 has the better mean.
	// Per run the best evaluation by the main metric counts, not the last one.
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r4-lr1e-3", 1, 0), true, 100, map[string]float64{"accuracy": 0.60}, map[string]float64{"accuracy": 0.55})
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r4-lr1e-3", 2, 1), true, 100, map[string]float64{"accuracy": 0.50}, map[string]float64{"accuracy": 0.62})
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r8-lr1e-3", 1, 2), true, 200, map[string]float64{"accuracy": 0.70})
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r8-lr1e-3", 2, 3), true, 200, map[string]float64{"accuracy": 0.66})
	// r16 has one seed only (better, but not eligible: fewer seeds than the others)
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r16-lr1e-3", 1, 4), true, 400, map[string]float64{"accuracy": 0.90})
	// r32 seed 2 is unfinished: not counted at all
	fakeRun(t, out, man("rte", "glue", acc, "a", "a-r32-lr1e-3", 2, 5), false, 800, map[string]float64{"accuracy": 0.99})
	// MRPC: the score is the mean of accuracy and F1 at the evaluation with the best accuracy
	// (first one on ties), here (0.8+0.6)/2 and (0.7+0.9)/2
	fakeRun(t, out, man("mrpc", "glue", mrpc, "a", "a-r8-lr1e-3", 1, 10), true, 200,
		map[string]float64{"accuracy": 0.8, "f1": 0.6}, map[string]float64{"accuracy": 0.8, "f1": 0.9}, map[string]float64{"accuracy": 0.7, "f1": 0.95})
	fakeRun(t, out, man("mrpc", "glue", mrpc, "a", "a-r8-lr1e-3", 2, 11), true, 200, map[string]float64{"accuracy": 0.7, "f1": 0.9})
	// CB (SuperGLUE) with method a, and RTE with method b
	fakeRun(t, out, man("cb", "superglue", []string{"macro_f1", "accuracy"}, "a", "a-r8-lr1e-3", 1, 20), true, 200, map[string]float64{"accuracy": 0.8, "macro_f1": 0.5})
	fakeRun(t, out, man("rte", "glue", acc, "b", "b-r2-lr1e-3", 1, 6), true, 50, map[string]float64{"accuracy": 0.58})
	fakeRun(t, out, man("rte", "glue", acc, "b", "b-r2-lr1e-3", 2, 7), true, 50, map[string]float64{"accuracy": 0.52})
	// a finished run without dev metrics
	fakeRun(t, out, man("rte", "glue", acc, "b", "b-r4-lr1e-3", 1, 8), true, 50)

	rep, err := Collect(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 10 || len(rep.Pending) != 1 || len(rep.NoDev) != 1 {
		t.Fatalf("%d runs, pending %v, no dev %v", len(rep.Runs), rep.Pending, rep.NoDev)
	}
	if strings.Join(rep.Tasks, ",") != "rte,mrpc,cb" || strings.Join(rep.Methods, ",") != "a,b" {
		t.Fatalf("tasks %v methods %v", rep.Tasks, rep.Methods)
	}
	sel := rep.Selected[[2]string{"rte", "a"}]
	if sel == nil || sel.Config != "a-r8-lr1e-3" || !near(sel.Mean, 0.68) || !near(sel.Std, math.Sqrt(0.0008)) {
		t.Fatalf("rte/a selected %+v", sel)
	}
	for _, g := range rep.Groups {
		if g.Task == "rte" && g.Config == "a-r4-lr1e-3" && !near(g.Mean, 0.61) {
			t.Fatalf("r4 mean %v, want (0.60+0.62)/2", g.Mean)
		}
	}
	m := rep.Selected[[2]string{"mrpc", "a"}]
	if m == nil || !near(m.Runs[0].Score, 0.7) || m.Runs[0].Step != 10 || !near(m.Mean, 0.75) {
		t.Fatalf("mrpc/a: %+v (run 0 score %v step %d)", m, m.Runs[0].Score, m.Runs[0].Step)
	}
	cb := rep.Selected[[2]string{"cb", "a"}]
	if !near(cb.Mean, 0.65) || !near(cb.Runs[0].Main, 0.5) {
		t.Fatalf("cb/a mean %v main %v", cb.Mean, cb.Runs[0].Main)
	}
	if !near(rep.Macro["a"]["glue"], (0.68+0.75)/2) || rep.MacroTasks["a"]["glue"] != 2 || !near(rep.Macro["a"]["superglue"], 0.65) {
		t.Fatalf("macro a %v", rep.Macro["a"])
	}
	if !near(rep.Macro["b"]["glue"], 0.55) || rep.MacroTasks["b"]["glue"] != 1 {
		t.Fatalf("macro b %v", rep.Macro["b"])
	}
	if sel.Runs[0].MethodParams != 200 || sel.Runs[0].HeadParams != 10 {
		t.Fatalf("params %d + %d", sel.Runs[0].MethodParams, sel.Runs[0].HeadParams)
	}

	// written files
	dir := filepath.Join(out, "report")
	if err := rep.Write(dir, "# Example\n\nCaveat."); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, w := range []string{"# Example\n\nCaveat.", "Selection rule", "| a | 200 | 68.0 ± 2.8 | 75.0 ± 7.1 | 65.0 ± 0.0 | 71.5 | 65.0 |",
		"| b | 50 | 55.0 ± 4.2 | — | — | 55.0 (1/2 tasks) | — |", "rte/a-r32-lr1e-3-seed2: unfinished (step 10)"} {
		if !strings.Contains(string(md), w) {
			t.Fatalf("report.md lacks %q:\n%s", w, md)
		}
	}
	f, _ := os.Open(filepath.Join(dir, "table.csv"))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || rows[0][3] != "rte" || rows[1][0] != "a" || rows[1][3] != "0.68" {
		t.Fatalf("table.csv %v %v", rows, err)
	}
	for _, name := range []string{"configs.csv", "runs.csv", "scores.svg"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestIsHeadTensor(t *testing.T) {
	for name, head := range map[string]bool{
		"classifier.out_proj.weight": true, "pooler.dense.bias": true, "base_model.model.classifier.dense.weight": true,
		"base_model.model.classifier.modules_to_save.default.dense.weight": true, "aot.layer.0.fc1.weight": false,
		"roberta.pooler.dense.bias": false, "base_model.model.roberta.pooler.dense.weight": true,
		"base_model.model.roberta.encoder.layer.0.attention.self.query.lora_A.weight": false,
	} {
		if IsHeadTensor(name) != head {
			t.Errorf("IsHeadTensor(%q) = %v", name, !head)
		}
	}
}

func TestMeanStd(t *testing.T) {
	m, s := MeanStd([]float64{1, 2, 3, 4})
	if !near(m, 2.5) || !near(s, math.Sqrt(5.0/3)) {
		t.Fatalf("%v %v", m, s)
	}
	if m, s := MeanStd([]float64{7}); m != 7 || s != 0 {
		t.Fatalf("one value: %v %v", m, s)
	}
}
