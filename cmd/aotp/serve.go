package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/serve"
	"github.com/aotp/aotp/tokenizer"
)

func newServeCmd() *cobra.Command {
	var modelName, addr, adminToken, budget, tasksDir, weights string
	var taskSpecs, baselineSpecs []string
	var threads int
	var o serve.Options
	cmd := &cobra.Command{
		Use:   "serve --model DIR --task NAME=ADAPTER_DIR ... [--addr 127.0.0.1:8080]",
		Short: "Serve many tasks of one backbone over HTTP, batching requests of all tasks together",
		Long: `Serve every task (AoT adapter) of one frozen backbone from one process: requests of
all tasks are tokenized, queued and run together in mixed-task batches.

API: POST /v1/predict, GET /v1/tasks, PUT|DELETE /v1/tasks/{name} (admin token),
GET /healthz /readyz /metrics, and Hugging Face TEI's /predict /tokenize /info /health
under /tasks/{name}/ (and at the root for --default-task). SIGTERM or SIGINT drains
requests in flight, then exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			setThreads(threads)
			if adminToken == "" {
				adminToken = os.Getenv("AOTP_ADMIN_TOKEN")
			}
			o.AdminToken = adminToken
			if budget != "" {
				n, err := serve.ParseBytes(budget)
				if err != nil {
					return fmt.Errorf("--memory-budget: %w", err)
				}
				o.MemoryBudget = n
				// Tie the garbage collector to the budget (a soft limit: the
				// heap is collected harder as it nears it), unless GOMEMLIMIT
				// says otherwise. Mapped files and packed weights are not Go
				// heap and do not count against it.
				if os.Getenv("GOMEMLIMIT") == "" {
					debug.SetMemoryLimit(n)
				}
			}
			if err := serve.CheckFuse(o.FuseOnLoad); err != nil {
				return fmt.Errorf("--fuse-on-load: %w", err)
			}
			specs := taskSpecs
			if tasksDir != "" {
				more, err := tasksInDir(tasksDir)
				if err != nil {
					return err
				}
				specs = append(specs, more...)
			}
			tasks, err := parseTaskSpecs(specs)
			if err != nil {
				return err
			}
			baselines, err := parseTaskSpecs(baselineSpecs)
			if err != nil {
				return err
			}
			for _, b := range baselines {
				for _, t := range tasks {
					if t[0] == b[0] {
						return fmt.Errorf("--baseline %q: task %q is also given by --task or --tasks-dir", b[0], b[0])
					}
				}
			}
			dir, enc, err := loadModel(modelName, true)
			if err != nil {
				return err
			}
			defer enc.Close()
			if err := packWeights(enc, weights, true); err != nil {
				return err
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				return err
			}
			if o.ModelID == "" {
				o.ModelID = modelName
			}
			o.Logger = slog.Default()
			srv, err := serve.New(enc, tok, o)
			if err != nil {
				return err
			}
			load := func(t [2]string, to serve.TaskOptions) error {
				if _, err := srv.LoadTaskWith(t[0], t[1], to); err != nil {
					srv.Close()
					return err
				}
				if len(tasks) <= 20 {
					info := srv.Tasks()
					for _, ti := range info {
						if ti.Name == t[0] {
							slog.Info("task loaded", "task", t[0], "adapter", t[1], "form", ti.Form,
								"resident", serve.FormatBytes(ti.ResidentBytes), "row_cache", serve.FormatBytes(ti.RowCacheBytes), "mapped", serve.FormatBytes(ti.MappedBytes))
						}
					}
				}
				return nil
			}
			for _, t := range tasks {
				if err := load(t, serve.TaskOptions{}); err != nil {
					return err
				}
			}
			for _, t := range baselines {
				if err := load(t, serve.TaskOptions{HeadOnly: true}); err != nil {
					return err
				}
			}
			mem := srv.Memory()
			forms := map[string]int{}
			for _, ti := range srv.Tasks() {
				forms[ti.Form]++
			}
			slog.Info("tasks loaded", "tasks", len(tasks)+len(baselines), "forms", forms, "budget", serve.FormatBytes(mem.Budget),
				"backbone", serve.FormatBytes(mem.Backbone), "task_resident", serve.FormatBytes(mem.TaskResident),
				"row_caches", serve.FormatBytes(mem.RowCaches), "mapped", serve.FormatBytes(mem.Mapped))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				srv.Close()
				return fmt.Errorf("--addr: %w", err)
			}
			opts := srv.Options()
			slog.Info("serving", "addr", ln.Addr().String(), "model", modelName, "tasks", len(tasks),
				"max_batch_tokens", opts.MaxBatchTokens, "max_wait", opts.MaxWait, "max_queue_tokens", opts.MaxQueueTokens,
				"max_input_length", opts.MaxInputLength, "admin", opts.AdminToken != "")
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "backbone: model directory or hub name")
	addWeightsFlag(f, &weights)
	f.StringArrayVar(&taskSpecs, "task", nil, "NAME=ADAPTER_DIR, a task to serve (repeat for more)")
	f.StringVar(&tasksDir, "tasks-dir", "", "serve every subdirectory of DIR holding an adapter_config.json as a task named after it")
	f.StringArrayVar(&baselineSpecs, "baseline", nil, "NAME=ADAPTER_DIR: serve only the adapter's head over the plain backbone (its method ignored), to measure what adapters cost")
	f.StringVar(&budget, "memory-budget", "", "bound on the backbone's weights plus all tasks' memory, e.g. 8GiB (default: none); a task over it is refused and each task's form is chosen within it")
	f.StringVar(&o.FuseOnLoad, "fuse-on-load", "none", "fuse factor (FC/Kron) adapters into in-memory tables of this dtype when the budget allows: none, f32, f16, bf16, int8")
	f.IntVar(&o.RowCacheRows, "row-cache-rows", serve.DefaultRowCacheRows, "cap on a compact task's row cache, in ids per layer (the cache also gets at most 1/8 of the budget left); negative: no caches")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.StringVar(&adminToken, "admin-token", "", "bearer token for PUT/DELETE /v1/tasks/{name} (default $AOTP_ADMIN_TOKEN; none: those answer 403)")
	f.StringVar(&o.DefaultTask, "default-task", "", "also serve this task's TEI routes (/predict, /tokenize, /info, /health) at the root, and use it when a request names no task")
	f.StringVar(&o.ModelID, "model-id", "", "model id reported by TEI /info (default: --model)")
	f.IntVar(&o.MaxBatchTokens, "max-batch-tokens", 8192, "tokens per forward pass at most")
	f.DurationVar(&o.MaxWait, "max-wait", 5*time.Millisecond, "longest wait for a batch to fill after its first request arrives")
	f.IntVar(&o.MaxQueueTokens, "max-queue", 0, "tokens waiting at most; more answers 429 (default 8 × --max-batch-tokens)")
	f.Int64Var(&o.MaxBody, "max-body", 1<<20, "request body bytes at most (413 beyond)")
	f.IntVar(&o.MaxInputs, "max-inputs", 256, "inputs per request at most (413 beyond)")
	f.IntVar(&o.MaxInputLength, "max-input-length", 0, "tokens per input at most (default: the backbone's maximum); longer inputs answer 413 unless truncated")
	f.BoolVar(&o.Truncate, "truncate", false, "truncate too-long inputs instead of answering 413 (a request's \"truncate\" overrides)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 30*time.Second, "time limit per prediction request (503 beyond)")
	f.IntVar(&o.MaxConcurrent, "max-concurrent-requests", 512, "prediction requests handled at once (429 beyond)")
	f.DurationVar(&o.DrainDelay, "drain-delay", 0, "on SIGTERM, keep answering 503 (readyz false) this long before closing the listener")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, wait this long at most for requests in flight")
	f.IntVar(&threads, "threads", 0, "threads for the forward pass (default: all cores)")
	cmd.MarkFlagRequired("model")
	return cmd
}

// tasksInDir lists NAME=DIR for every subdirectory of dir that holds an
// adapter_config.json, sorted by name.
func tasksInDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--tasks-dir: %w", err)
	}
	var out []string
	for _, e := range ents {
		sub := filepath.Join(dir, e.Name())
		if st, err := os.Stat(sub); err != nil || !st.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(sub, "adapter_config.json")); err != nil {
			continue
		}
		out = append(out, e.Name()+"="+sub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--tasks-dir %s: no subdirectory with an adapter_config.json", dir)
	}
	return out, nil
}

// parseTaskSpecs splits NAME=DIR flags, refusing duplicate names.
func parseTaskSpecs(specs []string) ([][2]string, error) {
	seen := map[string]bool{}
	var out [][2]string
	for _, s := range specs {
		name, dir, ok := strings.Cut(s, "=")
		if !ok || name == "" || dir == "" {
			return nil, fmt.Errorf("--task %q: want NAME=ADAPTER_DIR", s)
		}
		if seen[name] {
			return nil, fmt.Errorf("--task %q: task %q given twice", s, name)
		}
		seen[name] = true
		out = append(out, [2]string{name, dir})
	}
	return out, nil
}
