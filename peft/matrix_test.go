package peft

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/aotp/aotp/model"
)

// The equivalence matrix: every PEFT method × every backbone must satisfy
//
//	fused ≡ unfused ≡ training forward   (≤ 1e-6 relative)
//	mixed-task batch ≡ each sequence alone with its own adapter
//	save → load ≡ original               (bit-identical tensors and logits)
//	batched ≡ one sequence at a time
//	zero last factor ≡ frozen backbone   (bit-identical logits)
//
// A method enters the matrix as one row of matrixMethods: a name and a
// value implementing matrixMethod, the few method-specific operations the
// checks need.
type matrixMethod interface {
	// Config is the method's part of adapter_config.json (method and
	// hyperparameters; the matrix fills in task and head).
	Config() AdapterConfig
	// Randomize draws every trainable tensor, last factors included, so
	// that no path of the method is trivially zero.
	Randomize(a *Adapter, seed uint64)
	// ZeroLast sets the state of training step 0: the method adds nothing.
	ZeroLast(a *Adapter)
	// Hook is the adapter's hooks for inference and training.
	Hook(a *Adapter) model.Hooks
	// Fuse converts the adapter to its inference form (no-op if none).
	Fuse(a *Adapter) error
	// Mixed is the hooks serving a batch whose sequence s belongs to
	// seq[s] (nil: the plain backbone).
	Mixed(seq []*Adapter) model.Hooks
}

// aotMethod is AoT P-Tuning in the matrix.
type aotMethod struct{ cfg AoTConfig }

func (m aotMethod) Config() AdapterConfig { return AdapterConfig{Method: "aot", AoTConfig: m.cfg} }

func (m aotMethod) Randomize(a *Adapter, seed uint64) {
	randomizeAoT(a.AoT, seed)
	r := rand.New(rand.NewPCG(seed, 0x4ead))
	for _, p := range a.Head.Params() {
		copy(p.Data, randn(r, p.Numel(), 0.1))
	}
}

func (aotMethod) ZeroLast(a *Adapter) {
	for l := range a.AoT.Layers {
		ly := &a.AoT.Layers[l]
		for _, p := range []*model.Param{ly.FC2W, ly.FC2B, ly.Right} {
			if p != nil {
				clear(p.Data)
			}
		}
	}
}

func (aotMethod) Hook(a *Adapter) model.Hooks { return a.AoT }
func (aotMethod) Fuse(a *Adapter) error       { return a.Fuse("f32") }

func (aotMethod) Mixed(seq []*Adapter) model.Hooks {
	m := &Mixed{}
	for _, a := range seq {
		if a == nil {
			m.Seq = append(m.Seq, nil)
		} else {
			m.Seq = append(m.Seq, a.AoT)
		}
	}
	return m
}

var matrixMethods = []struct {
	name string
	m    matrixMethod
}{
	{"aot-fc-relu", aotMethod{AoTConfig{Reparam: "fc", Rank: 8, Activation: "relu"}}},
	{"aot-fc-gelu", aotMethod{AoTConfig{Reparam: "fc", Rank: 8, Activation: "gelu"}}},
	{"aot-fc-tanh", aotMethod{AoTConfig{Reparam: "fc", Rank: 8, Activation: "tanh"}}},
	{"aot-kron", aotMethod{AoTConfig{Reparam: "kron", Rank: 3, KronA: 10, KronB: 10}}},
}

// matrixBackbones: DeBERTa v3, v1 (in_proj split into the q/k/v sites),
// v2 with encoder.conv (which mixes neighbouring positions of a sequence
// only: packed sequences stay separate, so batched ≡ single and mixed ≡
// alone hold bit for bit) and v2 with an embedding_size below the hidden
// size (embed_proj: AoT-FC's fc1 and the prompt read the narrower rows).
var matrixBackbones = []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v1-tiny", "deberta-v2-tiny-conv", "deberta-v2-tiny-noshare"}

// matrixTol is the "≡" of computations that differ only in the order of
// float32 operations (a table gathered vs rows recomputed; separate vs
// fused activation): a few ulp on values of order 1.
const matrixTol = 1e-6

// matrixRun is one forward's results, copied out of the workspace.
type matrixRun struct{ hidden, pooled, logits []float32 }

func newMatrixAdapter(t *testing.T, enc *model.Encoder, mm matrixMethod, seed uint64) *Adapter {
	t.Helper()
	cfg := mm.Config()
	cfg.Task, cfg.ProblemType, cfg.NumLabels = "matrix", model.SingleLabel, 3
	a, err := New(enc, &cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	mm.Randomize(a, seed)
	return a
}

// matrixSeqs are sequences of different lengths with repeated ids; the
// first token is <s>/[CLS]-like and no id is RoBERTa's pad (1).
func matrixSeqs(V int) [][]int32 {
	r := rand.New(rand.NewPCG(31, 32))
	var seqs [][]int32
	for _, n := range []int{7, 3, 11, 5, 1, 9} {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(2 + r.IntN(V-2))
		}
		s[0] = 0
		seqs = append(seqs, s)
	}
	seqs[3][2] = seqs[0][1] // an id shared across sequences
	return seqs
}

// forward runs the encoder (inference) and the head.
func forward(t *testing.T, enc *model.Encoder, b *model.Batch, hook model.Hooks, head *model.Head) matrixRun {
	t.Helper()
	out, err := enc.Forward(context.Background(), b, &model.Workspace{}, hook)
	if err != nil {
		t.Fatal(err)
	}
	return collect(t, out, b, head, nil)
}

// forwardTrain runs the training forward (no dropout) and the head.
func forwardTrain(t *testing.T, enc *model.Encoder, b *model.Batch, hook model.Hooks, head *model.Head) matrixRun {
	t.Helper()
	out, err := enc.ForwardTrain(context.Background(), b, &model.TrainState{}, hook, model.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return collect(t, out, b, head, &model.TrainOptions{})
}

func collect(t *testing.T, out model.Output, b *model.Batch, head *model.Head, opt *model.TrainOptions) matrixRun {
	t.Helper()
	r := matrixRun{hidden: clone(out.LastHiddenState), pooled: clone(out.PoolerOutput)}
	if head != nil {
		logits, err := head.Forward(out, b, opt)
		if err != nil {
			t.Fatal(err)
		}
		r.logits = clone(logits)
	}
	return r
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

// relDiff is max|got−want| / max|want|: the difference relative to the
// tensor's scale (single entries may be ~0).
func relDiff(got, want []float32) float64 {
	var d, s float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = math.Max(s, math.Abs(float64(want[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

func identical(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// close asserts got ≡ want within tol (0: bit-identical) for each tensor of a run.
func closeRuns(t *testing.T, what string, got, want matrixRun, tol float64) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"last_hidden_state", got.hidden, want.hidden}, {"pooler_output", got.pooled, want.pooled}, {"logits", got.logits, want.logits}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %s has %d values, want %d", what, c.name, len(c.got), len(c.want))
		}
		if len(c.want) == 0 {
			continue
		}
		d := relDiff(c.got, c.want)
		same := identical(c.got, c.want)
		switch {
		case tol == 0 && !same:
			t.Errorf("%s: %s not bit-identical (rel diff %.3g)", what, c.name, d)
		case !(d <= tol):
			t.Errorf("%s: %s differs by %.3g relative (tol %.0g)", what, c.name, d, tol)
		default:
			t.Logf("%s: %s rel diff %.2g (bit-identical: %v)", what, c.name, d, same)
		}
	}
}

// sliceRun cuts sequence s out of a batch run (hidden rows, pooled and
// logits rows).
func sliceRun(r matrixRun, b *model.Batch, s, C, K int) matrixRun {
	lo, hi := b.Seq(s)
	out := matrixRun{hidden: r.hidden[lo*C : hi*C]}
	if r.pooled != nil {
		out.pooled = r.pooled[s*C : (s+1)*C]
	}
	if r.logits != nil {
		out.logits = r.logits[s*K : (s+1)*K]
	}
	return out
}

func forEachMatrixCell(t *testing.T, f func(t *testing.T, enc *model.Encoder, mm matrixMethod)) {
	for _, bb := range matrixBackbones {
		enc := loadModel(t, bb)
		for _, row := range matrixMethods {
			t.Run(fmt.Sprintf("%s/%s", row.name, bb), func(t *testing.T) { f(t, enc, row.m) })
		}
	}
}

// fused ≡ unfused ≡ training-time forward.
func TestMatrixFusedUnfusedTrain(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		a := newMatrixAdapter(t, enc, mm, 1)
		b := model.NewBatch(matrixSeqs(enc.Config.VocabSize), nil)
		unfused := forward(t, enc, b, mm.Hook(a), a.Head)
		train := forwardTrain(t, enc, b, mm.Hook(a), a.Head)
		if err := mm.Fuse(a); err != nil {
			t.Fatal(err)
		}
		fused := forward(t, enc, b, mm.Hook(a), a.Head)
		closeRuns(t, "training forward vs unfused", train, unfused, matrixTol)
		closeRuns(t, "fused vs unfused", fused, unfused, matrixTol)
		// the method must matter, or the comparisons above are vacuous
		plain := forward(t, enc, b, nil, a.Head)
		if d := relDiff(unfused.hidden, plain.hidden); d < 1e-2 {
			t.Fatalf("the adapter barely changes the output (rel diff %.3g): randomize its factors", d)
		}
	})
}

// mixedFixture is a batch of matrixSeqs whose sequences belong to two
// adapters of the method and to none, in turn.
func mixedFixture(t *testing.T, enc *model.Encoder, mm matrixMethod) (a1, a2 *Adapter, seqs [][]int32, owner []*Adapter, b *model.Batch) {
	t.Helper()
	a1, a2 = newMatrixAdapter(t, enc, mm, 1), newMatrixAdapter(t, enc, mm, 2)
	seqs = matrixSeqs(enc.Config.VocabSize)
	owner = make([]*Adapter, len(seqs))
	for s := range seqs {
		owner[s] = []*Adapter{a1, a2, nil}[s%3]
	}
	return a1, a2, seqs, owner, model.NewBatch(seqs, nil)
}

// withW8A8 runs f on enc as loaded (float32 weights), then with its weights
// packed for W8A8 products (model.Encoder.PackWeightsW8A8, `--weights
// w8a8`), whose activations are quantized per row: the serving properties
// must hold there too.
func withW8A8(t *testing.T, enc *model.Encoder, f func(t *testing.T)) {
	t.Run("f32", f)
	enc.PackWeightsW8A8()
	defer enc.Unpack()
	t.Run("w8a8", f)
}

// mixed-task batch ≡ each sequence alone with its own adapter, unfused and
// fused, on float32 and W8A8 weights.
func TestMatrixMixed(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		withW8A8(t, enc, func(t *testing.T) { checkMixed(t, enc, mm) })
	})
}

func checkMixed(t *testing.T, enc *model.Encoder, mm matrixMethod) {
	a1, a2, seqs, owner, b := mixedFixture(t, enc, mm)
	C := enc.Config.HiddenSize
	for _, fused := range []bool{false, true} {
		if fused {
			for _, a := range []*Adapter{a1, a2} {
				if err := mm.Fuse(a); err != nil {
					t.Fatal(err)
				}
			}
		}
		mixed := forward(t, enc, b, mm.Mixed(owner), nil)
		for s, seq := range seqs {
			var hook model.Hooks
			if owner[s] != nil {
				hook = mm.Hook(owner[s])
			}
			one := model.NewBatch([][]int32{seq}, nil)
			alone := forward(t, enc, one, hook, nil)
			// Bit-identical: attention is per sequence and every other
			// op is row-wise, so nothing may depend on the batch. (This
			// used to need a 1e-6 tolerance: gemm.Linear's bias epilogue
			// on edge tiles depended on M; fixed in 106607d, edge tiles
			// get the bias inside the kernel.) A difference here means an
			// M-dependent path in a kernel or a hook that leaks across
			// sequences.
			closeRuns(t, fmt.Sprintf("fused=%v seq %d (adapter %d) mixed vs alone", fused, s, s%3), sliceRun(mixed, b, s, C, 0), alone, 0)
		}
		// negative control: the adapters of sequences 0 and 1 swapped
		// must change them (the two adapters really differ)
		swapped := append([]*Adapter(nil), owner...)
		swapped[0], swapped[1] = owner[1], owner[0]
		other := forward(t, enc, b, mm.Mixed(swapped), nil)
		if d := relDiff(sliceRun(other, b, 0, C, 0).hidden, sliceRun(mixed, b, 0, C, 0).hidden); d < 1e-2 {
			t.Errorf("swapping the adapters of two sequences changes their output by only %.3g", d)
		}
	}
}

// save → load ≡ original: identical config, tensors and logits.
func TestMatrixSaveLoad(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		a := newMatrixAdapter(t, enc, mm, 3)
		dir := t.TempDir()
		if err := Save(dir, a.Config, a.Params()); err != nil {
			t.Fatal(err)
		}
		back, err := Load(enc, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer back.Close()
		if !reflect.DeepEqual(back.Config, a.Config) {
			t.Errorf("config after load:\n%+v\nwant\n%+v", back.Config, a.Config)
		}
		ps, qs := a.Params(), back.Params()
		if len(ps) != len(qs) {
			t.Fatalf("%d params after load, want %d", len(qs), len(ps))
		}
		for i := range ps {
			if ps[i].Name != qs[i].Name || !reflect.DeepEqual(ps[i].Shape, qs[i].Shape) || !identical(ps[i].Data, qs[i].Data) {
				t.Fatalf("param %d: %s %v after load differs from %s %v", i, qs[i].Name, qs[i].Shape, ps[i].Name, ps[i].Shape)
			}
		}
		b := model.NewBatch(matrixSeqs(enc.Config.VocabSize), nil)
		back.DropGrads() // inference needs no gradient buffers (as the server loads)
		for _, p := range back.Params() {
			if p.Grad != nil {
				t.Fatalf("%s keeps its gradient after DropGrads", p.Name)
			}
		}
		closeRuns(t, "loaded vs original", forward(t, enc, b, mm.Hook(back), back.Head), forward(t, enc, b, mm.Hook(a), a.Head), 0)
	})
}

// batched ≡ single: B sequences of different lengths in one batch vs one at
// a time, with the same adapter (unfused: the rows of a batch are computed
// for its distinct ids, a different set per batch), on float32 and W8A8
// weights.
func TestMatrixBatchedSingle(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		a := newMatrixAdapter(t, enc, mm, 4)
		seqs := matrixSeqs(enc.Config.VocabSize)
		b := model.NewBatch(seqs, nil)
		C := enc.Config.HiddenSize
		withW8A8(t, enc, func(t *testing.T) {
			batched := forward(t, enc, b, mm.Hook(a), a.Head)
			for s, seq := range seqs {
				one := forward(t, enc, model.NewBatch([][]int32{seq}, nil), mm.Hook(a), a.Head)
				closeRuns(t, fmt.Sprintf("seq %d batched vs alone", s), sliceRun(batched, b, s, C, a.Head.NumLabels), one, 0)
			}
		})
	})
}

// step 0 (zero last factor) ≡ frozen backbone + head, inference and
// training forward.
func TestMatrixZeroLastIsBackbone(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		a := newMatrixAdapter(t, enc, mm, 5)
		mm.ZeroLast(a)
		b := model.NewBatch(matrixSeqs(enc.Config.VocabSize), nil)
		closeRuns(t, "inference", forward(t, enc, b, mm.Hook(a), a.Head), forward(t, enc, b, nil, a.Head), 0)
		closeRuns(t, "training forward", forwardTrain(t, enc, b, mm.Hook(a), a.Head), forwardTrain(t, enc, b, nil, a.Head), 0)
		// a fresh adapter starts there too
		cfg := mm.Config()
		cfg.Task, cfg.ProblemType, cfg.NumLabels = "matrix", model.SingleLabel, 3
		fresh, err := New(enc, &cfg, 6)
		if err != nil {
			t.Fatal(err)
		}
		closeRuns(t, "fresh adapter", forward(t, enc, b, mm.Hook(fresh), fresh.Head), forward(t, enc, b, nil, fresh.Head), 0)
	})
}

// A mixed batch run at the last layer's first tokens only (as the server
// runs) gives those rows, and the pooler output, of the full pass bit for
// bit, for every method.
func TestMatrixFirstTokens(t *testing.T) {
	forEachMatrixCell(t, func(t *testing.T, enc *model.Encoder, mm matrixMethod) {
		_, _, seqs, owner, b := mixedFixture(t, enc, mm)
		C := enc.Config.HiddenSize
		full := forward(t, enc, b, mm.Mixed(owner), nil)
		out, err := enc.Forward(context.Background(), b, &model.Workspace{FirstTokensOnly: true}, mm.Mixed(owner))
		if err != nil {
			t.Fatal(err)
		}
		for s := range seqs {
			lo, _ := b.Seq(s)
			if !identical(out.LastHiddenState[lo*C:(lo+1)*C], full.hidden[lo*C:(lo+1)*C]) {
				t.Fatalf("sequence %d: first token differs from the full pass", s)
			}
		}
		if !identical(clone(out.PoolerOutput), full.pooled) {
			t.Fatal("pooler output differs from the full pass")
		}
	})
}
