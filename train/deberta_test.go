package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// forEachMethod runs fn for each adapter config on each test model, as a
// subtest named model/method.
func forEachMethod(t *testing.T, models []string, methods []peft.AdapterConfig, fn func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig)) {
	for _, name := range models {
		enc, err := model.Load(filepath.Join(golden.Dir(t), "models", name))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		for _, mc := range methods {
			t.Run(name+"/"+mc.Method+mc.Reparam, func(t *testing.T) { fn(t, enc, mc) })
		}
	}
}

// Every method trains on DeBERTa (v3, v2 with conv, v1): a few AdamW steps
// through train.Stepper lower the loss of a fixed batch.
func TestDebertaTrainSteps(t *testing.T) {
	methods := []peft.AdapterConfig{
		{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "fc", Rank: 8, Activation: "tanh"}},
		{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "kron", Rank: 3, KronA: 10, KronB: 10}},
		{Method: "bitfit"},
		// HF's DeBERTa names: v2/v3 adapt query_proj, value_proj and the
		// attention output; v1 (one in_proj, refused) the attention output
		{Method: "lora", LoraConfig: peft.LoraConfig{R: 4, LoraAlpha: 8, TargetModules: peft.TargetModules{"query_proj", "value_proj", "attention.output.dense"}}},
		{Method: "adapter", Placement: "houlsby", Bottleneck: 8},
		{Method: "ptv2", PrefixLen: 3},
		{Method: "prompt", PromptLen: 3},
		{Method: "full"},
	}
	forEachMethod(t, []string{"deberta-v3-tiny", "deberta-v2-tiny-conv", "deberta-v1-tiny", "deberta-v2-tiny-noshare"}, methods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
		ad := newTestAdapter(t, enc, mc)
		st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head}
		lb := &LabeledBatch{
			Batch:  model.NewBatch([][]int32{{1, 17, 42, 2}, {1, 5, 93, 60, 61, 2, 77, 8, 2}, {1, 33, 2}}, nil),
			Labels: []int{0, 1, 1},
		}
		params := st.Params()
		opt := NewAdamW(params, 0)
		var first, last float64
		for step := 0; step < 8; step++ {
			for _, p := range params {
				p.ZeroGrad()
			}
			loss, _, err := st.LossAndGrad(context.Background(), lb, model.TrainOptions{Dropout: 0.1, Seed: 1, Step: uint64(step)})
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				t.Fatalf("step %d: loss %v", step, loss)
			}
			if step == 0 {
				first = loss
			}
			last = loss
			opt.Update(params, 1e-2)
		}
		if !(last < first) {
			t.Fatalf("loss %g -> %g: did not decrease", first, last)
		}
		t.Logf("loss %.4f -> %.4f", first, last)
	})
}

// Training at the last layer's first tokens only (the default) gives every
// method the full pass's loss bit for bit and its gradients up to the order
// of float sums over rows.
func TestFirstTokensTrainingEqualsFull(t *testing.T) {
	forEachMethod(t, []string{"roberta-tiny", "bert-tiny", "deberta-v3-tiny"}, equivalenceMethods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
		run := func(full bool) (float64, [][]float32) {
			ad := newTestAdapter(t, enc, mc)
			wakeParams(ad.Params(), 0.01)
			st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head, FullLastLayer: full}
			lb := &LabeledBatch{
				Batch:  model.NewBatch([][]int32{{0, 17, 42, 2}, {0, 5, 93, 60, 61, 2, 77, 8, 2}, {0, 33, 2}}, nil),
				Labels: []int{0, 1, 1},
			}
			loss, _, g := runStep(t, st, lb, model.TrainOptions{Dropout: 0.1, Seed: 1, Step: 3})
			return loss, g
		}
		lossFull, gFull := run(true)
		lossFirst, gFirst := run(false)
		if lossFirst != lossFull {
			t.Fatalf("loss %v, full pass %v", lossFirst, lossFull)
		}
		gradsClose(t, "first tokens", gFirst, gFull, 1e-5)
	})
}

// equivalenceMethods is every method, each site it can adapt woken (LoRA
// on every projection, with its own dropout), for the tests that compare
// two ways of running one step.
var equivalenceMethods = []peft.AdapterConfig{
	{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "fc", Rank: 8, Activation: "tanh"}},
	{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "kron", Rank: 3, KronA: 10, KronB: 10}},
	{Method: "bitfit"},
	{Method: "lora", LoraConfig: peft.LoraConfig{R: 4, LoraAlpha: 8, LoraDropout: 0.1,
		TargetModules: peft.TargetModules{`re:.*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)(_proj)?|.*dense)`}}},
	{Method: "adapter", Placement: "houlsby", Bottleneck: 8},
	{Method: "ptv2", PrefixLen: 3},
	{Method: "prompt", PromptLen: 3},
	{Method: "full"},
}

// newTestAdapter makes a 2-class adapter of method config mc on enc
// (closed at the end of the test).
func newTestAdapter(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) *peft.Adapter {
	t.Helper()
	cfg := mc
	cfg.ProblemType, cfg.NumLabels, cfg.Task = model.SingleLabel, 2, "test"
	ad, err := peft.New(enc, &cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ad.Close() })
	return ad
}
