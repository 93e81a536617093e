package sweep

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const gridYAML = `
model: m
data: data
tasks: [rte, {name: sent, train: s/train.jsonl, dev: s/dev.jsonl}]
seeds: [1, 2]
lr: [1e-3]
train: {batch_size: 8, max_steps: 10}
task_train: {rte: {max_steps: 20}}
methods:
  - {name: aot-fc, method: aot, reparam: fc, rank: [4, 16], lr: [1e-3, 0.01]}
  - {name: aot-kron, method: aot, reparam: kron, rank: 4}
  - {method: lora, rank: 8, target_modules: ["query,value", "query"], train: {batch_size: 4}}
  - {method: bitfit}
`

func parseGrid(t *testing.T, text string) []Run {
	t.Helper()
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Expand(c)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestExpandOrderAndNames(t *testing.T) {
	runs := parseGrid(t, gridYAML)
	// per task: aot-fc 2 ranks x 2 lr, aot-kron 1, lora 2 target sets, bitfit 1; x 2 seeds
	perTask := (4 + 1 + 2 + 1) * 2
	if len(runs) != 2*perTask {
		t.Fatalf("%d runs, want %d", len(runs), 2*perTask)
	}
	want := []string{
		"rte/aot-fc-r4-lr1e-3-seed1", "rte/aot-fc-r4-lr1e-3-seed2", "rte/aot-fc-r4-lr1e-2-seed1", "rte/aot-fc-r4-lr1e-2-seed2",
		"rte/aot-fc-r16-lr1e-3-seed1", "rte/aot-fc-r16-lr1e-3-seed2", "rte/aot-fc-r16-lr1e-2-seed1", "rte/aot-fc-r16-lr1e-2-seed2",
		"rte/aot-kron-r4-lr1e-3-seed1", "rte/aot-kron-r4-lr1e-3-seed2",
		"rte/lora-r8-tmquery+value-lr1e-3-seed1", "rte/lora-r8-tmquery+value-lr1e-3-seed2",
		"rte/lora-r8-tmquery-lr1e-3-seed1", "rte/lora-r8-tmquery-lr1e-3-seed2",
		"rte/bitfit-lr1e-3-seed1", "rte/bitfit-lr1e-3-seed2",
	}
	for i, w := range want {
		if runs[i].Name != w || runs[i].Index != i {
			t.Fatalf("run %d: %q (index %d), want %q", i, runs[i].Name, runs[i].Index, w)
		}
	}
	if runs[perTask].Name != "sent/aot-fc-r4-lr1e-3-seed1" || runs[perTask].Task.Task != "custom" {
		t.Fatalf("first run of the custom task: %+v", runs[perTask])
	}
	if runs[0].Config != "aot-fc-r4-lr1e-3" || runs[0].Label != "aot-fc" || runs[10].Label != "lora" {
		t.Fatalf("config/label: %q %q %q", runs[0].Config, runs[0].Label, runs[10].Label)
	}
	// options: shared < task < entry, sorted
	args := strings.Join(runs[10].Args("M", "D", "O"), " ")
	for _, w := range []string{"--task rte --method lora", "--data D --out O --lr 1e-3 --seed 1", "--rank=8 --target-modules=query,value",
		"--batch-size=4 --max-steps=20"} {
		if !strings.Contains(args, w) {
			t.Fatalf("args %q lack %q", args, w)
		}
	}
	args = strings.Join(runs[perTask].Args("M", "D", "O"), " ")
	if !strings.Contains(args, "--task custom") || !strings.Contains(args, "--train s/train.jsonl --dev s/dev.jsonl") ||
		strings.Contains(args, "--data") || !strings.Contains(args, "--max-steps=10") {
		t.Fatalf("custom args %q", args)
	}
	// stable: the same config expands to the same runs
	again := parseGrid(t, gridYAML)
	for i := range runs {
		if runs[i].Name != again[i].Name || !slices.Equal(runs[i].Args("m", "d", "o"), again[i].Args("m", "d", "o")) {
			t.Fatalf("run %d differs between two expansions", i)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	for f, w := range map[float64]string{1e-3: "1e-3", 5e-4: "5e-4", 0.01: "1e-2", 2.5e-5: "2.5e-5", 0.1: "0.1", 16: "16", 1e-12: "1e-12", 0.5: "0.5"} {
		if g := FormatFloat(f); g != w {
			t.Errorf("FormatFloat(%v) = %q, want %q", f, g, w)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"tasks: [rte]\nseeds: [1]\nmethods: [{method: aot}]\n", "no learning rate"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethodz: []\n", "methodz"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\ntrain: {lr: 1}\nmethods: [{method: aot}]\n", "lr is set by the sweep"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{method: aot, seed: [1,2]}]\n", "seed is set by the sweep"},
		{"tasks: [{name: x, task: custom}]\nseeds: [1]\nlr: [1e-3]\nmethods: [{method: aot}]\n", "needs train"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{method: aot}, {method: aot}]\n", "different name"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\ntask_train: {cb: {max_steps: 1}}\nmethods: [{method: aot}]\n", "not one of the tasks"},
		{"tasks: [rte, rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{method: aot}]\n", "twice"},
		{"tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{method: aot, rank: []}]\n", "empty list"},
		{"", "empty config"},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	// two entries that expand to the same run names
	c, err := Parse([]byte("tasks: [rte]\nseeds: [1]\nlr: [1e-3]\nmethods: [{name: a, method: aot}, {name: b, method: aot}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Expand(c); err == nil || !strings.Contains(err.Error(), "both named") {
		t.Fatalf("duplicate names: %v", err)
	}
}

func TestJSONConfigAndPaths(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "model"), 0o755)
	t.Setenv("SWEEP_TEST_DATA", "/abs/data")
	path := filepath.Join(dir, "sweep.json")
	os.WriteFile(path, []byte(`{"model": "model", "data": "${SWEEP_TEST_DATA}", "tasks": ["cb", {"name": "s", "train": "t.jsonl"}],
		"seeds": [3], "lr": [0.001], "methods": [{"method": "prompt", "prompt_len": [4, 8]}]}`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != filepath.Join(dir, "model") || c.Data != "/abs/data" || c.Tasks[1].Train != filepath.Join(dir, "t.jsonl") {
		t.Fatalf("paths: model %q data %q train %q", c.Model, c.Data, c.Tasks[1].Train)
	}
	runs, err := Expand(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[1].Name != "cb/prompt-p8-lr1e-3-seed3" {
		t.Fatalf("runs: %d, second %q", len(runs), runs[1].Name)
	}
}

func TestShards(t *testing.T) {
	runs := parseGrid(t, gridYAML)
	for n := 1; n <= 7; n++ {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			sh, err := ParseShard(strings.Join([]string{itoa(i), itoa(n)}, "/"))
			if err != nil {
				t.Fatal(err)
			}
			part := sh.Select(runs)
			// balanced within one run, in grid order
			if d := len(part) - len(runs)/n; d < 0 || d > 1 {
				t.Fatalf("shard %d/%d has %d of %d runs", i, n, len(part), len(runs))
			}
			for j, r := range part {
				seen[r.Name]++
				if j > 0 && part[j-1].Index >= r.Index {
					t.Fatalf("shard %d/%d out of order", i, n)
				}
				if r.Index%n != i {
					t.Fatalf("run %d in shard %d/%d", r.Index, i, n)
				}
			}
		}
		if len(seen) != len(runs) {
			t.Fatalf("n=%d: %d runs covered, want %d", n, len(seen), len(runs))
		}
		for name, k := range seen {
			if k != 1 {
				t.Fatalf("n=%d: %s in %d shards", n, name, k)
			}
		}
	}
	if sh, err := ParseShard(""); err != nil || len(sh.Select(runs)) != len(runs) {
		t.Fatalf("no shard: %v", err)
	}
	for _, bad := range []string{"2/2", "-1/2", "1", "a/b", "0/0", "1/"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func itoa(i int) string { return FormatValue(i) }

// A grid of billions of runs (30 values in each of six lists) is refused
// before anything is listed.
func TestExpandRefusesHugeGrids(t *testing.T) {
	var vs []string
	for i := 1; i <= 30; i++ {
		vs = append(vs, strconv.Itoa(i))
	}
	v := "[" + strings.Join(vs, ", ") + "]"
	c, err := Parse([]byte("tasks: [rte, cola, sst2]\nseeds: " + v + "\nlr: " + v +
		"\nmethods: [{method: lora, rank: " + v + ", lora_alpha: " + v + ", lora_dropout: " + v + ", max_steps: " + v + "}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Expand(c); err == nil || !strings.Contains(err.Error(), "more than 100000 runs") {
		t.Fatalf("Expand: %v", err)
	}
}
