package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/tasks"
	"github.com/aotp/aotp/tokenizer"
	"github.com/aotp/aotp/train"
)

type trainFlags struct {
	model, method, task, data, out, trainFile, devFile, init string
	weights                                                  string // the frozen backbone's packed precision
	aot                                                      peft.AoTConfig
	opt                                                      train.Options
	noShuffle, restart                                       bool
	maxSeqLen, threads                                       int
	dropout                                                  float64
	rankSet                                                  bool
	// baseline methods
	loraAlpha, loraDropout           float64
	targetModules                    []string
	placement                        string
	bottleneck, prefixLen, promptLen int
	prefixHidden                     int
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --model DIR --method aot --task T --data PATH --out DIR",
		Short: "Train an adapter on a GLUE, SuperGLUE or custom task (resumes an unfinished run in --out)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.opt.Shuffle = !f.noShuffle
			f.rankSet = cmd.Flags().Changed("rank")
			if f.opt.Schedule == "constant" && !cmd.Flags().Changed("warmup-ratio") {
				// "constant" is HF's constant schedule: no warm-up unless asked
				// (then it is constant_with_warmup)
				f.opt.WarmupRatio = 0
			}
			if !cmd.Flags().Changed("dropout") {
				f.dropout = -1 // the checkpoint's hidden_dropout_prob
			}
			return runTrain(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "backbone: model directory or hub name in the HF cache")
	fl.StringVar(&f.method, "method", "aot", "method: "+strings.Join(peft.Methods(), ", "))
	fl.StringVar(&f.task, "task", "", "task: "+fmt.Sprint(tasks.Names()))
	fl.StringVar(&f.data, "data", "", "task data: the task's folder (e.g. glue/SST-2) or the benchmark folder holding it; custom: a folder holding train.jsonl and dev.jsonl (or --train, --dev)")
	fl.StringVar(&f.trainFile, "train", "", "custom task: training JSONL")
	fl.StringVar(&f.devFile, "dev", "", "custom task: dev JSONL")
	fl.StringVar(&f.out, "out", "", "run folder (adapter, metrics.jsonl, checkpoints)")
	fl.StringVar(&f.init, "init", "", "start from the tensors of this adapter directory")
	fl.StringVar(&f.aot.Reparam, "reparam", "fc", "AoT reparametrisation: fc | kron")
	fl.IntVar(&f.aot.Rank, "rank", peft.DefaultAoTRank, "rank: AoT's reparametrisation (default 64), LoRA's r (default 8)")
	fl.Float64Var(&f.loraAlpha, "lora-alpha", 16, "LoRA: alpha (output scaled by alpha/r)")
	fl.Float64Var(&f.loraDropout, "lora-dropout", 0.1, "LoRA: dropout on the LoRA input")
	fl.StringSliceVar(&f.targetModules, "target-modules", []string{"query", "value"}, "LoRA: projections to adapt (query, key, value, attention.output.dense, intermediate.dense, output.dense)")
	fl.StringVar(&f.placement, "placement", "houlsby", "adapter: houlsby (after attention and FFN) | pfeiffer (after FFN only)")
	fl.IntVar(&f.bottleneck, "bottleneck", 64, "adapter: bottleneck size m")
	fl.IntVar(&f.prefixLen, "prefix-len", 16, "ptv2: prefix length p")
	fl.IntVar(&f.prefixHidden, "prefix-hidden", 0, "ptv2: width of the prefix MLP reparametrisation in training (0: none)")
	fl.IntVar(&f.promptLen, "prompt-len", 16, "prompt: number of soft tokens p")
	fl.StringVar(&f.aot.Activation, "activation", peft.DefaultAoTActivation, "FC activation: relu | gelu | tanh")
	fl.IntVar(&f.aot.KronA, "kron-a", peft.DefaultKronA, "Kronecker a (rows of left)")
	fl.IntVar(&f.aot.KronB, "kron-b", 0, "Kronecker b (rows of mid; default ceil(vocab/a))")
	fl.Float64Var(&f.opt.LR, "lr", 1e-3, "peak learning rate")
	fl.IntVar(&f.opt.Epochs, "epochs", 3, "epochs")
	fl.IntVar(&f.opt.MaxSteps, "max-steps", 0, "stop after this many optimizer steps (0: no limit)")
	fl.IntVar(&f.opt.BatchSize, "batch-size", 16, "examples per step")
	fl.IntVar(&f.opt.MicroBatch, "micro-batch", 0, "run each step's batch in pieces of at most this many examples (gradient accumulation: the same step, less memory; may change when resuming; 0: whole batches)")
	fl.IntVar(&f.maxSeqLen, "max-seq-len", 128, "truncate inputs to this many tokens")
	var seed uint64
	fl.Uint64Var(&seed, "seed", 42, "seed (init, shuffling, dropout)")
	fl.Float64Var(&f.opt.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay")
	fl.Float64Var(&f.opt.WarmupRatio, "warmup-ratio", 0.06, "fraction of steps of linear warm-up (default 0 with --schedule constant)")
	fl.StringVar(&f.opt.Schedule, "schedule", "linear", "learning-rate schedule after warm-up: linear | constant")
	fl.Float64Var(&f.opt.MaxGradNorm, "max-grad-norm", 0, "clip the global gradient norm (0: off)")
	fl.Float64Var(&f.dropout, "dropout", 0, "dropout probability (default: the checkpoint's hidden_dropout_prob)")
	fl.BoolVar(&f.noShuffle, "no-shuffle", false, "keep the training file's order")
	fl.IntVar(&f.opt.EvalEvery, "eval-every", 0, "steps between dev evaluations (0: each epoch)")
	fl.IntVar(&f.opt.LogEvery, "log-every", 10, "steps between loss lines in metrics.jsonl")
	fl.IntVar(&f.opt.SaveEvery, "save-every", 0, "steps between resumable checkpoints (0: at each evaluation)")
	fl.IntVar(&f.threads, "threads", 0, "threads (default: all cores)")
	f.weights = "f32"
	fl.Var((*weightsValue)(&f.weights), "weights", "the frozen backbone's weights in both passes: f32 (PyTorch's training to the last digit), f16 (half the memory of the packed weights, 4 instead of 8 bytes a weight), int8 (2 bytes a weight, each output channel on 255 levels) or w8a8 (int8's weights, and the forward pass of --weights w8a8 serving: quantization-aware training, gradients straight through the activations' rounding; ~15 % faster steps); the adapter is then trained for that rounded backbone: serve it with the same --weights")
	fl.BoolVar(&f.restart, "restart", false, "discard the run folder's checkpoints and metrics and start over (a run resumes only with the same flags and data)")
	cmd.PreRun = func(*cobra.Command, []string) { f.opt.Seed = seed }
	for _, n := range []string{"model", "task", "out"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	if err := f.opt.Validate(); err != nil {
		return err
	}
	if f.weights != "f32" && f.method == "full" {
		return fmt.Errorf("--weights %s packs the frozen backbone; --method full trains its own float32 copy of it", f.weights)
	}
	setThreads(f.threads)
	if !slices.Contains(peft.Methods(), f.method) {
		return fmt.Errorf("--method %q is not available (have: %s)", f.method, strings.Join(peft.Methods(), ", "))
	}
	if f.opt.Schedule != "linear" && f.opt.Schedule != "constant" {
		return fmt.Errorf("--schedule %q: use linear or constant", f.opt.Schedule)
	}
	dir, enc, err := loadModel(f.model, true)
	if err != nil {
		return err
	}
	defer enc.Close()
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	task, trainEx, devEx, err := loadTaskData(f.task, f.data, f.trainFile, f.devFile)
	if err != nil {
		return err
	}
	if err := tasks.CheckLabels(trainEx, devEx); err != nil && task.Problem != model.Regression {
		slog.Warn("dev labels that never occur in training", "detail", err)
	}
	if f.dropout < 0 {
		f.dropout = enc.Config.HiddenDropoutProb
	}
	f.opt.Dropout = f.dropout
	maxLen := min(f.maxSeqLen, enc.Config.MaxSequenceLength())
	trainItems, err := toItems(tok, trainEx, maxLen)
	if err != nil {
		return err
	}
	devItems, err := toItems(tok, devEx, maxLen)
	if err != nil {
		return err
	}
	acfg := &peft.AdapterConfig{Method: f.method, Task: task.Name, ProblemType: task.Problem,
		NumLabels: max(1, len(task.Labels)), NumChoices: task.NumChoices, ID2Label: id2label(task.Labels)}
	f.methodConfig(acfg)
	ad, err := peft.New(enc, acfg, f.opt.Seed)
	if err != nil {
		return err
	}
	if f.init != "" {
		icfg, err := peft.ReadConfig(f.init)
		if err != nil {
			return err
		}
		if err := icfg.CheckBase(enc.Config); err != nil {
			return fmt.Errorf("--init %s: %w", f.init, err)
		}
		if err := peft.LoadParams(f.init, ad.Params()); err != nil {
			return fmt.Errorf("--init: %w", err)
		}
	}
	// the shared backbone is frozen (full fine-tuning trains its own copy):
	// pack its weights once instead of on every forward GEMM, and the
	// backward's form too (heap weights spilled to a mapped file first)
	if err := packFrozenBackbone(enc, f.weights, true); err != nil {
		return err
	}
	n := 0
	for _, p := range ad.Method.Params() {
		n += p.Numel()
	}
	slog.Info("training", "task", task.Name, "train", len(trainItems), "dev", len(devItems),
		"method", f.method, "trainable_params", n,
		"head_params", countParams(ad.Head.Params()), "backbone_params", enc.NumParams())
	loop := &train.Loop{
		Stepper: &train.Stepper{Enc: enc, Method: ad.Method, Head: ad.Head},
		Opt:     f.opt, Train: trainItems, Dev: devItems, OutDir: f.out,
		Eval: func(logits [][]float32) (map[string]float64, float64, error) {
			m, err := task.Evaluate(devEx, logitsToPredictions(task, logits))
			if err != nil {
				return nil, 0, err
			}
			return m, m[task.Metrics[0]], nil
		},
		Save:     ad.Save,
		Identity: map[string]string{"adapter_config": runIdentity(acfg), "init": f.init, "weights": f.weights},
		Restart:  f.restart,
	}
	bar := newProgress(loop.TotalSteps(), task.Metrics[0])
	loop.Progress = bar.update
	err = loop.Run(cmd.Context())
	bar.finish()
	if err != nil {
		return err
	}
	if err := plotRun(f.out); err != nil {
		slog.Warn("plot", "err", err)
	}
	fmt.Fprintf(os.Stderr, "adapter written to %s\n", f.out)
	return nil
}

// methodConfig puts the flags of the chosen method into its adapter config.
func (f *trainFlags) methodConfig(c *peft.AdapterConfig) {
	switch f.method {
	case "aot":
		c.AoTConfig = f.aot
	case "lora":
		c.PeftType, c.R, c.LoraAlpha, c.LoraDropout, c.TargetModules = "LORA", 8, f.loraAlpha, f.loraDropout, f.targetModules
		if f.rankSet {
			c.R = f.aot.Rank
		}
	case "adapter":
		c.Placement, c.Bottleneck, c.Activation = f.placement, f.bottleneck, f.aot.Activation
	case "ptv2":
		c.PrefixLen, c.PrefixHidden = f.prefixLen, f.prefixHidden
	case "prompt":
		c.PromptLen = f.promptLen
	}
}

func countParams(ps []*model.Param) int {
	n := 0
	for _, p := range ps {
		n += p.Numel()
	}
	return n
}

func id2label(labels []string) map[string]string {
	m := map[string]string{}
	for i, l := range labels {
		m[strconv.Itoa(i)] = l
	}
	return m
}

// customFiles resolves a custom task's files: --data DIR, a folder (as
// aotp demo writes them), stands for DIR/train.jsonl (train only) and
// DIR/dev.jsonl where --train and --dev are not given; --data FILE is the
// dev file (eval's form). A dev.jsonl absent from the folder is no dev set
// for train, an error for eval (needTrain false).
func customFiles(data, trainFile, devFile string, needTrain bool) (string, string, error) {
	if data == "" {
		return trainFile, devFile, nil
	}
	st, err := os.Stat(data)
	if err != nil {
		return "", "", fmt.Errorf("--data: %w", err)
	}
	if !st.IsDir() {
		if devFile == "" {
			devFile = data
		}
		return trainFile, devFile, nil
	}
	if needTrain && trainFile == "" {
		trainFile = filepath.Join(data, "train.jsonl")
		if _, err := os.Stat(trainFile); err != nil {
			return "", "", fmt.Errorf("task custom: --data %s is a folder without train.jsonl: give it, or --train FILE", data)
		}
	}
	if devFile == "" {
		devFile = filepath.Join(data, "dev.jsonl")
		if _, err := os.Stat(devFile); err != nil {
			if needTrain {
				return trainFile, "", nil
			}
			return "", "", fmt.Errorf("task custom: --data %s is a folder without dev.jsonl: give it, or --data FILE", data)
		}
	}
	return trainFile, devFile, nil
}

// loadTaskData finds the task and reads its train and dev examples.
func loadTaskData(name, data, trainFile, devFile string) (*tasks.Task, []tasks.Example, []tasks.Example, error) {
	if name == "custom" {
		var err error
		if trainFile, devFile, err = customFiles(data, trainFile, devFile, true); err != nil {
			return nil, nil, nil, err
		}
		if trainFile == "" {
			return nil, nil, nil, fmt.Errorf("task custom needs --train FILE (and --dev FILE), or --data DIR holding train.jsonl (and dev.jsonl)")
		}
		t, err := tasks.NewCustom(trainFile)
		if err != nil {
			return nil, nil, nil, err
		}
		tr, err := t.Load(trainFile, "train")
		if err != nil {
			return nil, nil, nil, err
		}
		var dev []tasks.Example
		if devFile != "" {
			if dev, err = t.Load(devFile, "dev"); err != nil {
				return nil, nil, nil, err
			}
		}
		return t, tr, dev, nil
	}
	t, err := tasks.Lookup(name)
	if err != nil {
		return nil, nil, nil, err
	}
	if data == "" {
		return nil, nil, nil, fmt.Errorf("--data is required for task %s", name)
	}
	dir := taskDir(t, data)
	tr, err := t.Load(dir, "train")
	if err != nil {
		return nil, nil, nil, err
	}
	dev, err := t.Load(dir, "dev")
	if err != nil {
		slog.Warn("no dev split; the last step's adapter is kept", "err", err)
		dev = nil
	}
	return t, tr, dev, nil
}

// taskDir accepts the task's own folder (glue/SST-2), the benchmark's
// folder (glue) or the data root holding both.
func taskDir(t *tasks.Task, data string) string {
	if d := t.Dir(); d != "" {
		for _, cand := range []string{filepath.Join(data, d), filepath.Join(data, filepath.Base(d))} {
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
		}
	}
	return data
}

// toItems tokenizes examples (each choice for multiple choice), truncating
// to maxLen tokens.
func toItems(tok tokenizer.Tokenizer, ex []tasks.Example, maxLen int) ([]train.Item, error) {
	items := make([]train.Item, len(ex))
	for i, e := range ex {
		pairs := e.Choices
		if pairs == nil {
			pairs = []tasks.Pair{{Text: e.Text, TextPair: e.TextPair}}
		}
		it := train.Item{Label: e.Label, Target: float32(e.Target)}
		for _, p := range pairs {
			enc, err := tokenizer.EncodeTruncated(tok, p.Text, p.TextPair, p.TextPair != "", maxLen)
			if err != nil {
				return nil, fmt.Errorf("example %s: %w", e.ID, err)
			}
			it.IDs = append(it.IDs, enc.IDs)
			it.Types = append(it.Types, enc.TypeIDs)
		}
		items[i] = it
	}
	return items, nil
}

// logitsToPredictions turns logits into class ids (argmax) or scores.
func logitsToPredictions(t *tasks.Task, logits [][]float32) []tasks.Prediction {
	preds := make([]tasks.Prediction, len(logits))
	for i, l := range logits {
		if t.Problem == model.Regression {
			preds[i] = tasks.Prediction{Score: float64(l[0])}
			continue
		}
		best := 0
		for k := range l {
			if l[k] > l[best] {
				best = k
			}
		}
		preds[i] = tasks.Prediction{Label: best, Score: float64(l[best])}
		if len(l) == 2 {
			preds[i].Margin = float64(l[1] - l[0])
		}
	}
	return preds
}

// runIdentity is the adapter config as a resumed run must find it again.
func runIdentity(c *peft.AdapterConfig) string {
	b, err := json.Marshal(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
