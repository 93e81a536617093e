package sweep

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeState(t *testing.T, dir string, step int, finished bool) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	s := `{"step": ` + itoa(step) + `, "finished": ` + FormatValue(finished) + `, "checkpoint": "checkpoint-` + itoa(step) + `"}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const runnerYAML = `
tasks: [cb]
seeds: [1, 2]
lr: [1e-3]
train: {max_steps: 4}
methods: [{method: aot, rank: [4, 8]}]
`

// A finished run is skipped, an unfinished one is handed to the trainer in
// its folder (which resumes it), a new one starts; a failure does not stop
// the others; a second pass trains nothing.
func TestExecuteSkipsAndResumes(t *testing.T) {
	out := t.TempDir()
	runs := parseGrid(t, runnerYAML)
	if len(runs) != 4 {
		t.Fatalf("%d runs", len(runs))
	}
	writeState(t, RunDir(out, &runs[0]), 4, true)  // finished
	writeState(t, RunDir(out, &runs[1]), 2, false) // unfinished at step 2
	type call struct {
		name  string
		state State
		step  int
	}
	var calls []call
	fail := runs[3].Name
	ex := &Executor{Out: out, Model: "M", Data: "D", Train: func(ctx context.Context, r *Run, args []string) error {
		dir := args[slices.Index(args, "--out")+1]
		if dir != RunDir(out, r) {
			t.Errorf("--out %s, want %s", dir, RunDir(out, r))
		}
		if _, err := ReadManifest(dir); err != nil {
			t.Errorf("no manifest before training: %v", err)
		}
		st, step, _ := RunState(dir)
		calls = append(calls, call{r.Name, st, step})
		if r.Name == fail {
			return errors.New("diverged")
		}
		writeState(t, dir, 4, true)
		return nil
	}}
	s, err := ex.Execute(context.Background(), runs)
	if err != nil {
		t.Fatal(err)
	}
	want := []call{{runs[1].Name, Unfinished, 2}, {runs[2].Name, NotStarted, 0}, {runs[3].Name, NotStarted, 0}}
	if !slices.Equal(calls, want) {
		t.Fatalf("trainer calls %v, want %v", calls, want)
	}
	if s.Skipped != 1 || s.Resumed != 1 || s.Trained != 1 || len(s.Failed) != 1 || !strings.Contains(s.Failed[0], "diverged") {
		t.Fatalf("summary %+v", s)
	}
	m, err := ReadManifest(RunDir(out, &runs[2]))
	if err != nil || m.Benchmark != "superglue" || !slices.Equal(m.Metrics, []string{"macro_f1", "accuracy"}) || m.Seed != 1 || m.Hparams[0] != (KV{"rank", "8"}) {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	// second pass: only the failed run is tried again
	calls = nil
	fail = ""
	s, err = ex.Execute(context.Background(), runs)
	if err != nil || len(calls) != 1 || calls[0].name != runs[3].Name || s.Skipped != 3 || s.Trained != 1 {
		t.Fatalf("second pass: calls %v summary %+v err %v", calls, s, err)
	}
	// a cancelled context stops the sweep
	os.RemoveAll(filepath.Join(out, "runs"))
	ctx, cancel := context.WithCancel(context.Background())
	calls = nil
	ex.Train = func(ctx context.Context, r *Run, args []string) error {
		calls = append(calls, call{name: r.Name})
		cancel()
		return ctx.Err()
	}
	if _, err := ex.Execute(ctx, runs); !errors.Is(err, context.Canceled) || len(calls) != 1 {
		t.Fatalf("cancelled: err %v after %d runs", err, len(calls))
	}
}

// A run folder started with other options is refused before anything trains.
func TestExecuteRefusesChangedOptions(t *testing.T) {
	out := t.TempDir()
	runs := parseGrid(t, runnerYAML)
	trained := 0
	ex := &Executor{Out: out, Train: func(ctx context.Context, r *Run, args []string) error {
		trained++
		writeState(t, RunDir(out, r), 4, true)
		return nil
	}}
	if _, err := ex.Execute(context.Background(), runs[:1]); err != nil {
		t.Fatal(err)
	}
	changed := parseGrid(t, strings.Replace(runnerYAML, "max_steps: 4", "max_steps: 5", 1))
	if _, err := ex.Execute(context.Background(), changed); err == nil || !strings.Contains(err.Error(), runs[0].Name) {
		t.Fatalf("changed options: %v", err)
	}
	if trained != 1 {
		t.Fatalf("trained %d runs, want 1 (nothing after the refusal)", trained)
	}
	// threads and micro-batches may differ between machines
	threads := parseGrid(t, strings.Replace(runnerYAML, "max_steps: 4", "max_steps: 4, threads: 2, micro_batch: 2", 1))
	if _, err := ex.Execute(context.Background(), threads); err != nil {
		t.Fatal(err)
	}
}
