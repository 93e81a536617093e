package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aotp/aotp/demo"
	"github.com/aotp/aotp/safetensors"
	"github.com/aotp/aotp/sweep"
)

// A tiny sweep on the demo backbone and the demo's two custom tasks: two
// shards run the grid together, a second pass trains nothing, an
// interrupted run resumes, and the report tables every (task, method).
func TestSweepEndToEnd(t *testing.T) {
	dir := t.TempDir()
	backbone := filepath.Join(dir, "backbone")
	if err := demo.WriteBackbone(backbone, 1); err != nil {
		t.Fatal(err)
	}
	for _, tk := range demo.Tasks(1) {
		tk.Train, tk.Dev = tk.Train[:64], tk.Dev[:32]
		if err := demo.WriteTask(filepath.Join(dir, tk.Name), tk); err != nil {
			t.Fatal(err)
		}
	}
	// JSON is accepted as well as YAML; paths are relative to the config file
	cfg := filepath.Join(dir, "sweep.json")
	os.WriteFile(cfg, []byte(`{
  "model": "backbone",
  "tasks": [{"name": "sentiment", "train": "sentiment/train.jsonl", "dev": "sentiment/dev.jsonl"},
            {"name": "topic", "train": "topic/train.jsonl", "dev": "topic/dev.jsonl"}],
  "seeds": [1, 2],
  "train": {"max_steps": 4, "batch_size": 16, "eval_every": 2, "max_seq_len": 32, "threads": 2},
  "methods": [{"name": "aot-fc", "method": "aot", "reparam": "fc", "rank": 4, "lr": [1e-2, 1e-3]},
              {"name": "aot-kron", "method": "aot", "reparam": "kron", "rank": 2, "lr": 1e-2}]
}`), 0o644)
	out := filepath.Join(dir, "out")
	list, err := run(t, "sweep", "run", "--config", cfg, "--out", out, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "# 12 runs in the grid") || !strings.Contains(list, "sentiment/aot-fc-r4-lr1e-2-seed1") ||
		!strings.Contains(list, "topic/aot-kron-r2-lr1e-2-seed2") {
		t.Fatalf("dry run:\n%s", list)
	}
	for _, sh := range []string{"0/2", "1/2"} {
		if _, err := run(t, "sweep", "run", "--config", cfg, "--out", out, "--shard", sh); err != nil {
			t.Fatal(err)
		}
	}
	runs, _ := filepath.Glob(filepath.Join(out, "runs", "*", "*", "state.json"))
	if len(runs) != 12 {
		t.Fatalf("%d run folders with state.json, want 12", len(runs))
	}
	mtimes := map[string]time.Time{}
	for _, p := range runs {
		st, _ := os.Stat(p)
		mtimes[p] = st.ModTime()
		if s, _, _ := sweep.RunState(filepath.Dir(p)); s != sweep.Finished {
			t.Fatalf("%s: %v", p, s)
		}
	}
	// interrupt one run: back to a checkpoint at step 2, as a kill would
	// leave it (a finished run keeps no checkpoint: make one from its
	// adapter, with zero optimizer moments)
	victim := filepath.Join(out, "runs", "topic", "aot-fc-r4-lr1e-3-seed2")
	if _, err := os.Stat(filepath.Join(victim, "checkpoint-4")); err == nil {
		t.Fatal("a finished run kept its optimizer checkpoint")
	}
	interrupt(t, victim, 2)
	list, err = run(t, "sweep", "run", "--config", cfg, "--out", out, "--dry-run")
	if err != nil || !strings.Contains(list, "step 2") || strings.Count(list, "finished") != 11 {
		t.Fatalf("dry run after the interruption (%v):\n%s", err, list)
	}
	if _, err := run(t, "sweep", "run", "--config", cfg, "--out", out); err != nil {
		t.Fatal(err)
	}
	for p, mt := range mtimes {
		st, _ := os.Stat(p)
		if filepath.Dir(p) == victim {
			if s, step, _ := sweep.RunState(victim); s != sweep.Finished || step != 4 {
				t.Fatalf("resumed run: %v at step %d", s, step)
			}
			continue
		}
		if !st.ModTime().Equal(mt) {
			t.Fatalf("%s was trained again", p)
		}
	}
	// a changed config is refused for the existing folders
	os.WriteFile(cfg+".changed", []byte(strings.Replace(mustRead(t, cfg), `"max_steps": 4`, `"max_steps": 6`, 1)), 0o644)
	if _, err := run(t, "sweep", "run", "--config", cfg+".changed", "--out", out); err == nil || !strings.Contains(err.Error(), "other options") {
		t.Fatalf("changed config: %v", err)
	}
	// report
	if _, err := run(t, "sweep", "report", "--out", out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "report", "table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || rows[1][0] != "aot-fc" || rows[2][0] != "aot-kron" || rows[0][3] != "sentiment" {
		t.Fatalf("table.csv: %v %v", rows, err)
	}
	for _, row := range rows[1:] {
		if row[3] == "" || row[5] != "2" || row[len(row)-1] != "2" { // score, 2 seeds, custom macro over 2 tasks
			t.Fatalf("table.csv row %v", row)
		}
	}
	md := mustRead(t, filepath.Join(out, "report", "report.md"))
	if !strings.Contains(md, "12 finished runs") || !strings.Contains(md, "| sentiment | aot-fc | reparam=fc rank=4 lr=") {
		t.Fatalf("report.md:\n%s", md)
	}
	// bad input: an unavailable method fails before training
	os.WriteFile(cfg+".bad", []byte(strings.Replace(mustRead(t, cfg), `"method": "aot", "reparam": "kron"`, `"method": "nosuch", "reparam": "kron"`, 1)), 0o644)
	if _, err := run(t, "sweep", "run", "--config", cfg+".bad", "--out", filepath.Join(dir, "out2")); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("unavailable method: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Fatal("a refused sweep wrote its output folder")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// interrupt turns a finished run folder into one killed after step's
// checkpoint: state.json pointing at checkpoint-<step>, whose tensors are
// the adapter's with zero AdamW moments.
func interrupt(t *testing.T, dir string, step int) {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		v, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		zero := make([]float32, len(v))
		ts = append(ts, safetensors.F32Tensor("param."+n, shape, v),
			safetensors.F32Tensor("adam_m."+n, shape, zero), safetensors.F32Tensor("adam_v."+n, shape, zero))
	}
	ck := fmt.Sprintf("checkpoint-%d", step)
	if err := os.MkdirAll(filepath.Join(dir, ck), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, ck, "state.safetensors"), ts, map[string]string{"adam_step": fmt.Sprint(step)}); err != nil {
		t.Fatal(err)
	}
	st := fmt.Sprintf(`{"step": %d, "finished": false, "metrics_offset": 0, "checkpoint": %q}`, step, ck)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(st), 0o644); err != nil {
		t.Fatal(err)
	}
}
