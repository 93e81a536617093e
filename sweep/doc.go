// Package sweep runs a grid of `aotp train` runs (tasks × methods ×
// hyperparameters × learning rates × seeds) into one output folder, and
// gathers the finished runs into the paper's comparison tables.
//
// # Config file
//
// A YAML file (JSON is accepted too: it is YAML). Relative paths are taken
// from the config file's folder; ${VAR} is expanded in paths.
//
//	model: ${AOTP_MODEL}          # backbone: model directory or hub name (or --model)
//	data: ../shared/data          # data root: glue/<TASK>, superglue/<TASK> (or --data)
//	tasks:                        # GLUE / SuperGLUE names, or custom tasks
//	  - rte
//	  - sst2
//	  - copa
//	  - {name: sentiment, train: demo/train.jsonl, dev: demo/dev.jsonl}
//	seeds: [1, 2]
//	lr: [1e-3]                    # default learning rates (a method's own lr wins)
//	train:                        # aotp train options shared by every run
//	  epochs: 3
//	  batch_size: 16
//	  max_seq_len: 128
//	  warmup_ratio: 0.06
//	  schedule: linear
//	  eval_every: 0
//	task_train:                   # per-task overrides of train
//	  sst2: {max_steps: 300}
//	methods:
//	  - {name: aot-fc,   method: aot, reparam: fc,   rank: [16, 64], lr: [1e-3, 5e-3]}
//	  - {name: aot-kron, method: aot, reparam: kron, rank: [8]}
//	  - {method: lora, rank: [8], lr: [5e-4]}
//	  - {method: adapter, bottleneck: [64]}
//	  - {method: ptv2, prefix_len: [16]}
//	  - {method: prompt, prompt_len: [16]}
//	  - {method: full, lr: [2e-5], train: {batch_size: 8}}
//
// In a method entry, `method` is the aotp method, `name` the row of the
// tables (default: the method; two entries of one method need different
// names), `lr` its learning rates and `train` fixed options for its runs.
// Every other key is a hyperparameter of the grid: a flag of `aotp train`
// (underscores or dashes), with one value or a list of alternatives; the
// entry expands into their cross product. A list-valued flag
// (target_modules) is written as one comma-separated string per
// alternative. Keys under `train` and `task_train` are `aotp train` flags
// too (`no_shuffle: true`, `threads: 4`, ...); the command checks every run's
// flags before training anything.
//
// # Runs
//
// Runs are ordered task, method entry, hyperparameters (in the order of
// Expand's canonical key list, values in listed order), learning rate, seed;
// Run.Index is the position in that order. A run is named
// `<task>/<method>[-<hparams>]-lr<lr>-seed<seed>`, e.g.
// `rte/aot-fc-r16-lr1e-3-seed1`, and trains into OUT/runs/<name>. The name
// holds every grid key, so an edit of the grid adds runs and keeps the old
// ones; the shared options are not in the name, and a run folder started
// with other options is refused (run.json records them; --threads,
// --micro-batch and paths may differ).
//
// # Running, resuming, sharding
//
// `aotp sweep run --config FILE --out OUT` trains the runs one after the
// other, in process, through the `aotp train` command itself. A run whose
// state.json says finished is skipped; an unfinished one is handed to
// `aotp train` in its folder, which resumes from its last checkpoint; a
// failed run (e.g. diverged) is reported and the sweep goes on, exiting
// non-zero at the end. `--dry-run` lists index, state, name and the
// equivalent `aotp train` command of every run.
//
// `--shard i/n` runs only the runs with Index ≡ i (mod n). n machines (or
// processes) sharing OUT, all with the same config, run the grid together
// and never the same run. A Kubernetes indexed Job:
//
//	spec:
//	  completionMode: Indexed
//	  completions: 8
//	  parallelism: 8
//	  template:
//	    spec:
//	      restartPolicy: OnFailure
//	      containers:
//	        - name: sweep
//	          command: ["sh", "-c", "aotp sweep run --config /cfg/sweep.yaml --out /results --shard ${JOB_COMPLETION_INDEX}/8"]
//
// (/results a shared volume; a restarted pod resumes its shard). Slurm:
// `sbatch --array=0-7` with `--shard ${SLURM_ARRAY_TASK_ID}/8`.
//
// # Report
//
// `aotp sweep report --out OUT` reads every run folder under OUT/runs that
// has a run.json (whatever config made it), counts the finished ones and
// applies SelectionRule; see Report.Write for the files.
package sweep
