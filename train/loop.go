package train

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// Item is one tokenized training or evaluation example: one sequence, or
// one per choice for multiple choice.
type Item struct {
	IDs    [][]int32 // [choices or 1][T]
	Types  [][]int32 // same shape, nil = zeros
	Label  int       // class id / correct choice (-1: none)
	Target float32   // regression
}

// Options are the loop's hyperparameters (CLI flags of `aotp train`; the
// json names are the flags').
type Options struct {
	Epochs      int     `json:"epochs"`
	MaxSteps    int     `json:"max-steps"` // stop after this many optimizer steps (0: no limit)
	BatchSize   int     `json:"batch-size"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight-decay"`
	WarmupRatio float64 `json:"warmup-ratio"`
	Schedule    string  `json:"schedule"`      // "linear" or "constant"
	MaxGradNorm float64 `json:"max-grad-norm"` // 0: no clipping
	Dropout     float64 `json:"dropout"`
	Seed        uint64  `json:"seed"`
	Shuffle     bool    `json:"shuffle"`
	EvalEvery   int     `json:"eval-every"` // steps between dev evaluations (0: each epoch)
	LogEvery    int     `json:"log-every"`  // steps between loss lines in metrics.jsonl
	SaveEvery   int     `json:"save-every"` // steps between resumable checkpoints (0: with each evaluation)
	// MicroBatch runs each batch in pieces of at most this many examples
	// (Stepper.MicroBatch; 0: whole), and dev evaluation in batches of that
	// size. It bounds memory, not the training: a run may resume with
	// another value.
	MicroBatch int `json:"micro-batch,omitempty"`
}

// Validate refuses options no run could use, naming the option (its flag
// name) and the bound: before anything is loaded, and again by Run.
func (o *Options) Validate() error {
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"epochs", o.Epochs, 1}, {"max-steps", o.MaxSteps, 0}, {"batch-size", o.BatchSize, 1}, {"eval-every", o.EvalEvery, 0},
		{"log-every", o.LogEvery, 0}, {"save-every", o.SaveEvery, 0}, {"micro-batch", o.MicroBatch, 0}} {
		if c.v < c.min {
			return fmt.Errorf("train: %s %d must be at least %d", c.name, c.v, c.min)
		}
	}
	for _, c := range []struct {
		name     string
		v        float64
		min, max float64
		maxOpen  bool // v < max, not v ≤ max
	}{{"lr", o.LR, 0, math.Inf(1), true}, {"weight-decay", o.WeightDecay, 0, math.Inf(1), true},
		{"warmup-ratio", o.WarmupRatio, 0, 1, false}, {"max-grad-norm", o.MaxGradNorm, 0, math.Inf(1), true},
		{"dropout", o.Dropout, 0, 1, true}} {
		if !(c.v >= c.min && (c.v < c.max || !c.maxOpen && c.v == c.max)) {
			closing := "]"
			if c.maxOpen {
				closing = ")"
			}
			return fmt.Errorf("train: %s %g is outside [%g, %g%s", c.name, c.v, c.min, c.max, closing)
		}
	}
	return nil
}

// Evaluator scores predictions on the dev set: logits per dev item, in order.
type Evaluator func(logits [][]float32) (metrics map[string]float64, main float64, err error)

// Progress receives the loop's state after each step (progress bars).
type Progress func(step, total int, loss float64, dev map[string]float64)

// Loop trains a Stepper on items and writes the run folder.
type Loop struct {
	Stepper  *Stepper
	Opt      Options
	Train    []Item
	Dev      []Item
	Eval     Evaluator
	OutDir   string
	Save     func(dir string) error // writes the adapter (config + weights) into dir
	Progress Progress
	// Identity is what else defines the run (the adapter config, the
	// starting point): a run folder resumes only with the same Identity,
	// Options (save-every and micro-batch aside) and training and dev data.
	Identity map[string]string
	// Restart discards the folder's checkpoints and metrics and starts over.
	Restart bool
}

// state.json: what a resumed run needs besides the tensors.
type runState struct {
	Step          int     `json:"step"`
	Finished      bool    `json:"finished"`
	BestMetric    float64 `json:"best_metric"`
	HaveBest      bool    `json:"have_best"`
	MetricsOffset int64   `json:"metrics_offset"` // bytes of metrics.jsonl written at this step
	LossSum       float64 `json:"loss_sum"`       // since the last log line
	LossCount     int     `json:"loss_count"`
	Checkpoint    string  `json:"checkpoint"`
	// what the run was started with (absent in folders of older versions)
	Options  *Options          `json:"options,omitempty"`
	Identity map[string]string `json:"identity,omitempty"`
}

// StepsPerEpoch is the number of batches in an epoch (short last batch kept).
func (l *Loop) StepsPerEpoch() int { return (len(l.Train) + l.Opt.BatchSize - 1) / l.Opt.BatchSize }

// TotalSteps is the number of optimizer steps the run makes.
func (l *Loop) TotalSteps() int {
	n := l.Opt.Epochs * l.StepsPerEpoch()
	if l.Opt.MaxSteps > 0 && l.Opt.MaxSteps < n {
		n = l.Opt.MaxSteps
	}
	return n
}

// LR is the learning rate of optimizer step k (0-based), as HF's
// get_linear_schedule_with_warmup / get_constant_schedule_with_warmup.
func (l *Loop) LR(k int) float64 {
	total := l.TotalSteps()
	warm := int(math.Ceil(l.Opt.WarmupRatio * float64(total)))
	if k < warm {
		return l.Opt.LR * float64(k) / float64(warm)
	}
	if l.Opt.Schedule == "constant" {
		return l.Opt.LR
	}
	return l.Opt.LR * math.Max(0, float64(total-k)/float64(max(1, total-warm)))
}

// order returns the item order of an epoch: shuffled by (seed, epoch), so a
// resumed run sees the same batches.
func (l *Loop) order(epoch int) []int {
	idx := make([]int, len(l.Train))
	for i := range idx {
		idx[i] = i
	}
	if l.Opt.Shuffle {
		r := rand.New(rand.NewPCG(l.Opt.Seed, uint64(epoch)+1))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx
}

// MakeBatch packs items into a LabeledBatch (choices flattened).
func MakeBatch(items []Item, regression bool) *LabeledBatch {
	var ids, types [][]int32
	lb := &LabeledBatch{}
	for _, it := range items {
		for c := range it.IDs {
			ids = append(ids, it.IDs[c])
			if it.Types != nil {
				types = append(types, it.Types[c])
			} else {
				types = append(types, nil)
			}
		}
		if regression {
			lb.Targets = append(lb.Targets, it.Target)
		} else {
			lb.Labels = append(lb.Labels, it.Label)
		}
	}
	lb.Batch = model.NewBatch(ids, types)
	return lb
}

// ErrNonFinite is returned when the loss or a parameter becomes NaN or infinite.
var ErrNonFinite = errors.New("training diverged")

// allFinite reports the first parameter holding NaN or Inf.
func allFinite(params []*model.Param) (string, bool) {
	for _, p := range params {
		for _, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return p.Name, false
			}
		}
	}
	return "", true
}

// Run trains to the end, resuming from OutDir when it holds an unfinished
// run. It writes metrics.jsonl, the best dev checkpoint (via Save) and a
// resumable checkpoint.
func (l *Loop) Run(ctx context.Context) error {
	if err := l.Opt.Validate(); err != nil {
		return err
	}
	if len(l.Train) == 0 {
		return fmt.Errorf("train: no training data")
	}
	if err := os.MkdirAll(l.OutDir, 0o755); err != nil {
		return err
	}
	l.Stepper.MicroBatch = l.Opt.MicroBatch
	params := l.Stepper.Params()
	opt := NewAdamW(params, l.Opt.WeightDecay)
	if l.Restart {
		if err := l.discard(); err != nil {
			return err
		}
	}
	st := runState{}
	if err := l.resume(&st, params, opt); err != nil {
		return err
	}
	st.Options, st.Identity = &l.Opt, l.identity()
	if st.Finished {
		slog.Info("run already finished", "dir", l.OutDir, "step", st.Step)
		return nil
	}
	mpath := filepath.Join(l.OutDir, "metrics.jsonl")
	mf, err := os.OpenFile(mpath, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer mf.Close()
	// drop lines logged after the checkpoint: they will be logged again
	if err := mf.Truncate(st.MetricsOffset); err != nil {
		return err
	}
	if _, err := mf.Seek(st.MetricsOffset, 0); err != nil {
		return err
	}
	logLine := func(v any) error {
		b, _ := json.Marshal(v)
		if _, err := mf.Write(append(b, '\n')); err != nil {
			return err
		}
		off, err := mf.Seek(0, 1)
		st.MetricsOffset = off
		return err
	}
	total, spe := l.TotalSteps(), l.StepsPerEpoch()
	regression := l.Stepper.Head.Problem == model.Regression
	evalEvery := l.Opt.EvalEvery
	if evalEvery <= 0 {
		evalEvery = spe
	}
	saveEvery := l.Opt.SaveEvery
	if saveEvery <= 0 {
		saveEvery = evalEvery
	}
	logEvery := max(1, l.Opt.LogEvery)
	var lastDev map[string]float64
	start := time.Now()
	for st.Step < total {
		epoch, k := st.Step/spe, st.Step%spe
		order := l.order(epoch)
		lo, hi := k*l.Opt.BatchSize, min((k+1)*l.Opt.BatchSize, len(order))
		items := make([]Item, 0, hi-lo)
		for _, i := range order[lo:hi] {
			items = append(items, l.Train[i])
		}
		for _, p := range params {
			p.ZeroGrad()
		}
		to := model.TrainOptions{Dropout: l.Opt.Dropout, Seed: l.Opt.Seed, Step: uint64(st.Step)}
		loss, _, err := l.Stepper.LossAndGrad(ctx, MakeBatch(items, regression), to)
		if err != nil {
			return fmt.Errorf("step %d: %w", st.Step+1, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d: %w: loss is %v; the last good checkpoint is kept in %s — lower --lr or add --max-grad-norm", st.Step+1, ErrNonFinite, loss, l.OutDir)
		}
		if l.Opt.MaxGradNorm > 0 {
			ClipGradNorm(params, l.Opt.MaxGradNorm)
		}
		lr := l.LR(st.Step)
		opt.Update(params, lr)
		if name, ok := allFinite(params); !ok {
			return fmt.Errorf("step %d: %w: tensor %q became NaN or infinite after the update (lr %g); the last good checkpoint is kept in %s — lower --lr or add --max-grad-norm", st.Step+1, ErrNonFinite, name, lr, l.OutDir)
		}
		st.Step++
		st.LossSum += loss
		st.LossCount++
		if st.Step%logEvery == 0 || st.Step == total {
			if err := logLine(map[string]any{"step": st.Step, "loss": st.LossSum / float64(st.LossCount), "lr": lr}); err != nil {
				return err
			}
			st.LossSum, st.LossCount = 0, 0
		}
		if st.Step%evalEvery == 0 || st.Step == total {
			dev, main, err := l.evaluate(ctx, st.Step)
			if err != nil {
				return err
			}
			lastDev = dev
			if err := logLine(map[string]any{"step": st.Step, "epoch": float64(st.Step) / float64(spe), "dev": dev}); err != nil {
				return err
			}
			if !st.HaveBest || main > st.BestMetric {
				st.BestMetric, st.HaveBest = main, true
				if err := l.Save(l.OutDir); err != nil {
					return err
				}
			}
		}
		if l.Progress != nil {
			l.Progress(st.Step, total, loss, lastDev)
		}
		if st.Step%saveEvery == 0 || st.Step == total {
			st.Finished = st.Step == total
			if err := mf.Sync(); err != nil {
				return err
			}
			if err := l.checkpoint(&st, params, opt); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	slog.Info("training finished", "steps", total, "seconds", time.Since(start).Seconds(), "best_dev", st.BestMetric)
	return nil
}

// evaluate runs the dev set and returns its metrics. Without a dev set the
// main metric is the step, so the latest adapter counts as the best.
func (l *Loop) evaluate(ctx context.Context, step int) (map[string]float64, float64, error) {
	if l.Eval == nil || len(l.Dev) == 0 {
		return map[string]float64{}, float64(step), nil
	}
	bs := l.Opt.BatchSize
	if l.Opt.MicroBatch > 0 {
		bs = min(bs, l.Opt.MicroBatch) // bounded memory there too (a batch's logits do not depend on its size)
	}
	logits, err := Predict(ctx, l.Stepper.Enc, l.Stepper.Method, l.Stepper.Head, l.Dev, bs)
	if err != nil {
		return nil, 0, fmt.Errorf("dev evaluation: %w", err)
	}
	return l.Eval(logits)
}

// Predict returns the logits of each item (inference: no dropout).
func Predict(ctx context.Context, enc *model.Encoder, hook model.Hooks, head *model.Head, items []Item, batchSize int) ([][]float32, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("batch size %d must be at least 1", batchSize)
	}
	ws := &model.Workspace{FirstTokensOnly: true} // the head reads the first tokens only
	enc = encoderFor(enc, hook)
	out := make([][]float32, 0, len(items))
	for lo := 0; lo < len(items); lo += batchSize {
		hi := min(lo+batchSize, len(items))
		lb := MakeBatch(items[lo:hi], head.Problem == model.Regression)
		b := expand(hook, lb.Batch)
		o, err := enc.Forward(ctx, b, ws, hook)
		if err != nil {
			return nil, err
		}
		logits, err := head.Forward(o, b, nil)
		if err != nil {
			return nil, err
		}
		per := len(logits) / (hi - lo)
		for i := 0; i < hi-lo; i++ {
			out = append(out, append([]float32(nil), logits[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

// checkpoint writes a resumable checkpoint: tensors and optimizer moments
// into a new folder, then state.json pointing at it (atomic rename), then
// the previous folder is removed. A kill at any point leaves either the old
// or the new checkpoint complete. A finished run keeps no checkpoint (the
// optimizer's moments are twice the trained tensors: a sweep of full
// fine-tuning runs would keep gigabytes each), only state.json and the best
// adapter.
func (l *Loop) checkpoint(st *runState, params []*model.Param, opt *AdamW) error {
	if st.Finished {
		old := st.Checkpoint
		st.Checkpoint = ""
		data, _ := json.MarshalIndent(st, "", "  ")
		if err := fsutil.WriteFile(filepath.Join(l.OutDir, "state.json"), data); err != nil {
			return err
		}
		if old != "" {
			os.RemoveAll(filepath.Join(l.OutDir, old))
		}
		return nil
	}
	name := fmt.Sprintf("checkpoint-%d", st.Step)
	dir := filepath.Join(l.OutDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for i, p := range params {
		ts = append(ts,
			safetensors.F32Tensor("param."+p.Name, p.Shape, p.Data),
			safetensors.F32Tensor("adam_m."+p.Name, p.Shape, opt.M[i]),
			safetensors.F32Tensor("adam_v."+p.Name, p.Shape, opt.V[i]))
	}
	meta := map[string]string{"adam_step": fmt.Sprint(opt.Step)}
	if err := safetensors.Write(filepath.Join(dir, "state.safetensors"), ts, meta); err != nil {
		return err
	}
	old := st.Checkpoint
	st.Checkpoint = name
	data, _ := json.MarshalIndent(st, "", "  ")
	if err := fsutil.WriteFile(filepath.Join(l.OutDir, "state.json"), data); err != nil {
		return err
	}
	if old != "" && old != name {
		os.RemoveAll(filepath.Join(l.OutDir, old))
	}
	return nil
}

// resume loads state.json and its checkpoint when present.
func (l *Loop) resume(st *runState, params []*model.Param, opt *AdamW) error {
	path := filepath.Join(l.OutDir, "state.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, st); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := l.sameRun(st); err != nil {
		return fmt.Errorf("%s holds a run started differently: %w; train into a new --out, or pass --restart to start this one over", l.OutDir, err)
	}
	if st.Finished {
		return nil // nothing to load: Run returns
	}
	ck := filepath.Join(l.OutDir, st.Checkpoint, "state.safetensors")
	f, err := safetensors.Open(ck)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	for i, p := range params {
		for _, t := range []struct {
			key string
			dst []float32
		}{{"param.", p.Data}, {"adam_m.", opt.M[i]}, {"adam_v.", opt.V[i]}} {
			v, shape, err := f.Float32(t.key + p.Name)
			if err != nil {
				return fmt.Errorf("resume: %s: %w", ck, err)
			}
			if !slices.Equal(shape, p.Shape) {
				return fmt.Errorf("resume: %s: tensor %q has shape %v, want %v", ck, t.key+p.Name, shape, p.Shape)
			}
			copy(t.dst, v)
		}
	}
	fmt.Sscan(f.Metadata()["adam_step"], &opt.Step)
	slog.Info("resuming", "dir", l.OutDir, "step", st.Step)
	return nil
}

// identity is Identity plus fingerprints of the training and dev data.
func (l *Loop) identity() map[string]string {
	id := map[string]string{"train_data": fingerprint(l.Train), "dev_data": fingerprint(l.Dev)}
	for k, v := range l.Identity {
		id[k] = v
	}
	return id
}

// fingerprint hashes items (ids, types, labels, targets, in order).
func fingerprint(items []Item) string {
	h := fnv.New64a()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	for _, it := range items {
		put(uint64(len(it.IDs)))
		for c, ids := range it.IDs {
			put(uint64(len(ids)))
			for i, x := range ids {
				t := int32(0)
				if it.Types != nil && it.Types[c] != nil {
					t = it.Types[c][i]
				}
				put(uint64(uint32(x)) | uint64(uint32(t))<<32)
			}
		}
		put(uint64(int64(it.Label)))
		put(uint64(math.Float32bits(it.Target)))
	}
	return fmt.Sprintf("%d items, fnv64a %016x", len(items), h.Sum64())
}

// sameRun compares the stored run's options and identity with this one's,
// naming what changed (save-every and micro-batch may change).
func (l *Loop) sameRun(st *runState) error {
	var diffs []string
	if st.Options != nil {
		was, now := map[string]any{}, map[string]any{}
		for _, p := range []struct {
			o *Options
			m map[string]any
		}{{st.Options, was}, {&l.Opt, now}} {
			b, _ := json.Marshal(p.o)
			json.Unmarshal(b, &p.m)
		}
		for _, k := range slices.Sorted(maps.Keys(now)) {
			if k != "save-every" && k != "micro-batch" && fmt.Sprint(was[k]) != fmt.Sprint(now[k]) {
				diffs = append(diffs, fmt.Sprintf("--%s %v, now %v", k, was[k], now[k]))
			}
		}
	}
	if st.Identity != nil {
		now := l.identity()
		for _, k := range slices.Sorted(maps.Keys(now)) {
			if was, ok := st.Identity[k]; ok && was != now[k] {
				diffs = append(diffs, fmt.Sprintf("%s %s, now %s", k, was, now[k]))
			}
		}
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

// discard removes a run folder's resumable state, checkpoints and metrics
// (--restart); the adapter files are overwritten by the new run's first
// evaluation.
func (l *Loop) discard() error {
	entries, err := os.ReadDir(l.OutDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if n == "state.json" || n == "metrics.jsonl" || (e.IsDir() && strings.HasPrefix(n, "checkpoint-")) {
			if err := os.RemoveAll(filepath.Join(l.OutDir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}
