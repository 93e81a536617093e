package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/sweep"
)

func newSweepCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Run a grid of training runs (tasks × methods × hyperparameters × seeds) and tabulate it",
		Long: `sweep runs the paper's comparison grid from a config file and gathers the finished runs into tables.

  aotp sweep run --config sweep.yaml --out DIR [--shard i/n] [--dry-run]
  aotp sweep report --out DIR [--notes NOTES.md]

Each run is an ordinary aotp train into DIR/runs/<task>/<method>-<hparams>-lr<lr>-seed<seed>; running the
sweep again skips finished runs and resumes unfinished ones. --shard i/n runs the runs whose index is i mod n,
so n machines sharing DIR run the grid together: e.g. a Kubernetes indexed Job (completionMode: Indexed,
completions: n) runs  sh -c 'aotp sweep run --config /cfg/sweep.yaml --out /results --shard ${JOB_COMPLETION_INDEX}/n'
and a Slurm array  --shard ${SLURM_ARRAY_TASK_ID}/n. Every shard must use the same config.

Config (YAML or JSON; relative paths are relative to the config file, ${VAR} is expanded):

  model: /models/roberta-base       # or --model; a hub name in the HF cache works too
  data: ../shared/data              # or --data; holds glue/<TASK> and superglue/<TASK>
  tasks: [rte, stsb, cb, {name: mytask, train: my/train.jsonl, dev: my/dev.jsonl}]
  seeds: [1, 2, 3]
  lr: [1e-3]                        # default learning rates
  train: {epochs: 10, batch_size: 16, max_seq_len: 128, warmup_ratio: 0.06, schedule: linear}
  task_train: {stsb: {epochs: 20}}  # per-task overrides of train
  methods:                          # every other key of an entry is an aotp train flag; a list is a grid axis
    - {name: aot-fc, method: aot, reparam: fc, rank: [16, 64], lr: [1e-3, 5e-3]}
    - {name: aot-kron, method: aot, reparam: kron, rank: 8}
    - {method: lora, rank: 8, lr: [5e-4]}
    - {method: adapter, bottleneck: 64}
    - {method: ptv2, prefix_len: 16}
    - {method: prompt, prompt_len: 16}
    - {method: bitfit}
    - {method: full, lr: [2e-5], train: {batch_size: 8}}`,
	}
	cmd.AddCommand(newSweepRunCmd(), newSweepReportCmd())
	return cmd
}

func newSweepRunCmd() *cobra.Command {
	var config, out, shard, modelDir, data string
	var dryRun bool
	var threads int
	cmd := &cobra.Command{
		Use:   "run --config FILE --out DIR [--shard i/n] [--dry-run]",
		Short: "Train the grid's runs (skipping finished ones, resuming unfinished ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			setThreads(threads)
			cfg, err := sweep.Load(config)
			if err != nil {
				return err
			}
			if modelDir != "" {
				cfg.Model = modelDir
			}
			if data != "" {
				cfg.Data = data
			}
			sh, err := sweep.ParseShard(shard)
			if err != nil {
				return err
			}
			all, err := sweep.Expand(cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			runs := sh.Select(all)
			if err := checkSweepRuns(cfg, all); err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			if dryRun {
				return listRuns(out, cfg, all, runs, sh)
			}
			if cfg.Model == "" {
				return fmt.Errorf("no backbone: set model: in %s or pass --model", config)
			}
			dir, err := resolveModel(cfg.Model)
			if err != nil {
				return err
			}
			var nparams int64
			if enc, err := model.Load(dir); err != nil {
				return err
			} else {
				nparams = int64(enc.NumParams())
				enc.Close()
			}
			ex := &sweep.Executor{Out: out, Model: cfg.Model, Data: cfg.Data, Train: trainInProcess,
				BackboneParams: nparams, Log: os.Stderr}
			fmt.Fprintf(os.Stderr, "sweep: %d runs in the grid, %d in shard %s\n", len(all), len(runs), sh)
			s, err := ex.Execute(cmd.Context(), runs)
			fmt.Fprintf(os.Stderr, "sweep: %d trained, %d resumed, %d already finished, %d failed\n", s.Trained, s.Resumed, s.Skipped, len(s.Failed))
			if err != nil {
				return err
			}
			if len(s.Failed) > 0 {
				return fmt.Errorf("%d of %d runs failed: %s", len(s.Failed), len(runs), strings.Join(s.Failed, "; "))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&config, "config", "", "sweep config (YAML or JSON)")
	fl.StringVar(&out, "out", "", "sweep folder: runs go to OUT/runs/<name>")
	fl.StringVar(&shard, "shard", "", "run only shard i of n (i/n: runs whose index is i mod n)")
	fl.BoolVar(&dryRun, "dry-run", false, "list the runs (index, state, name, command) without training")
	fl.StringVar(&modelDir, "model", "", "backbone (overrides the config's model:)")
	fl.StringVar(&data, "data", "", "data root (overrides the config's data:)")
	fl.IntVar(&threads, "threads", 0, "threads (default: all cores)")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("out")
	return cmd
}

// trainInProcess runs one sweep run through the aotp train command itself,
// so a run is exactly `aotp train ARGS`.
func trainInProcess(ctx context.Context, r *sweep.Run, args []string) error {
	cmd := newTrainCmd()
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(ctx)
}

// checkSweepRuns checks, before anything trains, that every method is
// available and every run's flags parse as aotp train's.
func checkSweepRuns(cfg *sweep.Config, runs []sweep.Run) error {
	for _, m := range cfg.Methods {
		if !slices.Contains(peft.Methods(), m.Method) {
			return fmt.Errorf("method %q is not available in this build (have: %s)", m.Method, strings.Join(peft.Methods(), ", "))
		}
	}
	for i := range runs {
		r := &runs[i]
		c := newTrainCmd()
		if err := c.ParseFlags(r.Args("model", "data", "out")); err != nil {
			return fmt.Errorf("run %s: %w", r.Name, err)
		}
	}
	return nil
}

func listRuns(out string, cfg *sweep.Config, all, runs []sweep.Run, sh sweep.Shard) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "# %d runs in the grid, %d in shard %s\n", len(all), len(runs), sh)
	fmt.Fprintln(w, "INDEX\tSTATE\tNAME\tCOMMAND")
	for i := range runs {
		r := &runs[i]
		state := "new"
		if out != "" {
			st, step, err := sweep.RunState(sweep.RunDir(out, r))
			if err != nil {
				return err
			}
			state = st.String()
			if st == sweep.Unfinished {
				state = fmt.Sprintf("step %d", step)
			}
		}
		dir := filepath.Join(out, "runs", r.Name)
		fmt.Fprintf(w, "%d\t%s\t%s\taotp train %s\n", r.Index, state, r.Name, strings.Join(r.Args(cfg.Model, cfg.Data, dir), " "))
	}
	return w.Flush()
}

func newSweepReportCmd() *cobra.Command {
	var out, to, notes string
	cmd := &cobra.Command{
		Use:   "report --out DIR [--to DIR] [--notes FILE]",
		Short: "Gather a sweep's finished runs into tables (Markdown, CSV) and a plot",
		Long: "report reads OUT/runs/*/run.json, metrics.jsonl and adapter_model.safetensors of the finished runs and writes " +
			"report.md, table.csv, configs.csv, runs.csv and scores.svg into --to (default OUT/report).\n\n" + sweep.SelectionRule,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := sweep.Collect(out)
			if err != nil {
				return err
			}
			if len(rep.Runs) == 0 {
				return fmt.Errorf("%s: no finished runs with dev metrics yet (%d not finished)", out, len(rep.Pending))
			}
			var text string
			if notes != "" {
				b, err := os.ReadFile(notes)
				if err != nil {
					return err
				}
				text = string(b)
			}
			if to == "" {
				to = filepath.Join(out, "report")
			}
			if err := rep.Write(to, text); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "report of %d runs (%d not finished) written to %s\n", len(rep.Runs), len(rep.Pending), to)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "sweep folder (as given to sweep run)")
	cmd.Flags().StringVar(&to, "to", "", "report folder (default OUT/report)")
	cmd.Flags().StringVar(&notes, "notes", "", "Markdown put at the top of report.md (title, caveats)")
	cmd.MarkFlagRequired("out")
	return cmd
}
