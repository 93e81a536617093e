package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/tasks"
)

// ManifestFile is the sweep's record of a run, written into its folder
// before training: what the report groups by.
const ManifestFile = "run.json"

// Manifest describes one run folder.
type Manifest struct {
	Name           string   `json:"name"`
	Config         string   `json:"config"` // name without task and seed
	Index          int      `json:"index"`
	Task           string   `json:"task"`       // sweep task name
	TrainTask      string   `json:"train_task"` // aotp train --task
	Benchmark      string   `json:"benchmark"`  // glue, superglue, custom
	Metrics        []string `json:"metrics"`    // the task's metrics, main first
	Label          string   `json:"label"`      // table row
	Method         string   `json:"method"`
	Hparams        []KV     `json:"hparams"`
	LR             float64  `json:"lr"`
	Seed           uint64   `json:"seed"`
	Options        []KV     `json:"options"`
	Args           []string `json:"args"`
	BackboneParams int64    `json:"backbone_params,omitempty"`
}

// TaskInfo returns the benchmark and metrics (main first) of a task; a
// custom task reads its training file to know its problem type.
func TaskInfo(t TaskSpec) (benchmark string, metrics []string, err error) {
	var tk *tasks.Task
	if t.Task == "custom" {
		tk, err = tasks.NewCustom(t.Train)
	} else {
		tk, err = tasks.Lookup(t.Task)
	}
	if err != nil {
		return "", nil, err
	}
	return tk.Benchmark, tk.Metrics, nil
}

// RunDir is the folder of a run under the sweep's output folder.
func RunDir(out string, r *Run) string { return filepath.Join(out, "runs", filepath.FromSlash(r.Name)) }

// State of a run folder.
type State int

const (
	NotStarted State = iota // no checkpoint yet
	Unfinished              // a checkpoint to resume from
	Finished                // state.json says finished
)

func (s State) String() string {
	return [...]string{"new", "unfinished", "finished"}[s]
}

// RunState reads a run folder's state.json (written by the train loop):
// its state and the step of its checkpoint.
func RunState(dir string) (State, int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return NotStarted, 0, nil
	}
	if err != nil {
		return NotStarted, 0, err
	}
	var st struct {
		Step     int  `json:"step"`
		Finished bool `json:"finished"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return NotStarted, 0, fmt.Errorf("%s: %v", filepath.Join(dir, "state.json"), err)
	}
	if st.Finished {
		return Finished, st.Step, nil
	}
	return Unfinished, st.Step, nil
}

// ReadManifest reads a run folder's run.json.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

// Trainer trains one run into dir, resuming an unfinished run there (the
// code path of `aotp train`).
type Trainer func(ctx context.Context, r *Run, args []string) error

// Executor runs a list of runs one after the other.
type Executor struct {
	Out            string // sweep output folder
	Model, Data    string // backbone and data root, as given to aotp train
	Train          Trainer
	BackboneParams int64     // recorded in manifests (0: unknown)
	Log            io.Writer // one line per run (nil: discard)
}

// Summary counts what Execute did.
type Summary struct {
	Trained, Resumed, Skipped int
	Failed                    []string // "name: error"
}

// comparable is what must not change between two starts of a run folder
// (paths, thread counts and micro-batches may differ between machines).
func comparable(opts []KV) []KV {
	return slices.DeleteFunc(slices.Clone(opts), func(kv KV) bool { return kv.Key == "threads" || kv.Key == "micro-batch" })
}

func sameRun(m *Manifest, r *Run) bool {
	return m.Method == r.Method && m.TrainTask == r.Task.Task && m.LR == r.LR && m.Seed == r.Seed &&
		slices.Equal(m.Hparams, r.Hparams) && slices.Equal(comparable(m.Options), comparable(r.Options))
}

// Check reports run folders that hold a run started with other options
// than the grid now asks for (all of them, in one error).
func (e *Executor) Check(runs []Run) error {
	var bad []string
	for i := range runs {
		m, err := ReadManifest(RunDir(e.Out, &runs[i]))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !sameRun(m, &runs[i]) {
			bad = append(bad, fmt.Sprintf("%s (was started with %s)", runs[i].Name, strings.Join(m.Args, " ")))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d run folder(s) in %s were started with other options than the config now gives; use another --out or remove them: %s",
			len(bad), e.Out, strings.Join(bad, "; "))
	}
	return nil
}

// Execute trains the runs in order: finished ones are skipped, unfinished
// ones resume, the others start. A failed run is reported and the next one
// starts; cancelling ctx stops after the current run's last checkpoint.
func (e *Executor) Execute(ctx context.Context, runs []Run) (Summary, error) {
	var s Summary
	log := e.Log
	if log == nil {
		log = io.Discard
	}
	if err := e.Check(runs); err != nil {
		return s, err
	}
	info := map[string]*Manifest{} // task -> benchmark and metrics
	for i := range runs {
		r := &runs[i]
		dir := RunDir(e.Out, r)
		st, step, err := RunState(dir)
		if err != nil {
			return s, err
		}
		prefix := fmt.Sprintf("[%d/%d] #%d %s", i+1, len(runs), r.Index, r.Name)
		if st == Finished {
			fmt.Fprintf(log, "%s: finished (step %d), skipped\n", prefix, step)
			s.Skipped++
			continue
		}
		ti := info[r.Task.Name]
		if ti == nil {
			b, ms, err := TaskInfo(r.Task)
			if err != nil {
				return s, fmt.Errorf("task %s: %w", r.Task.Name, err)
			}
			ti = &Manifest{Benchmark: b, Metrics: ms}
			info[r.Task.Name] = ti
		}
		args := r.Args(e.Model, e.Data, dir)
		m := Manifest{Name: r.Name, Config: r.Config, Index: r.Index, Task: r.Task.Name, TrainTask: r.Task.Task,
			Benchmark: ti.Benchmark, Metrics: ti.Metrics, Label: r.Label, Method: r.Method, Hparams: r.Hparams,
			LR: r.LR, Seed: r.Seed, Options: r.Options, Args: args, BackboneParams: e.BackboneParams}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return s, err
		}
		data, _ := json.MarshalIndent(m, "", "  ")
		if err := fsutil.WriteFile(filepath.Join(dir, ManifestFile), append(data, '\n')); err != nil {
			return s, err
		}
		if st == Unfinished {
			fmt.Fprintf(log, "%s: resuming from step %d\n", prefix, step)
		} else {
			fmt.Fprintf(log, "%s: training\n", prefix)
		}
		start := time.Now()
		err = e.Train(ctx, r, args)
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(log, "%s: failed: %v\n", prefix, err)
			s.Failed = append(s.Failed, r.Name+": "+err.Error())
			continue
		}
		if st2, _, err := RunState(dir); err != nil || st2 != Finished {
			msg := "the run folder has no finished state.json after training"
			fmt.Fprintf(log, "%s: failed: %s\n", prefix, msg)
			s.Failed = append(s.Failed, r.Name+": "+msg)
			continue
		}
		fmt.Fprintf(log, "%s: done in %s\n", prefix, time.Since(start).Round(time.Millisecond))
		if st == Unfinished {
			s.Resumed++
		} else {
			s.Trained++
		}
	}
	return s, nil
}
