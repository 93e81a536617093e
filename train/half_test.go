package train

import (
	"math"
	"testing"

	"github.com/aotp/aotp/internal/half"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// Training on a backbone packed as F16 for both passes (PackWeightsHalf +
// PackBackwardWeightsHalf: `aotp train --weights f16`) is training on the
// float32 backbone whose Linear weights are rounded to F16, bit for bit:
// the loss, the logits and every gradient, so the backward is the exact
// gradient of the F16 forward pass (the float32 one is checked against
// finite differences and PyTorch elsewhere). AoT and LoRA (whose input
// gradient runs through the frozen weights too), dropout on, on BERT (its
// own pooler in the head's path), RoBERTa and DeBERTa v3 (positions
// projected by the F16 key and query) and v2 without shared keys.
func TestHalfBackboneTraining(t *testing.T) {
	methods := []peft.AdapterConfig{
		{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "fc", Rank: 4, Activation: "tanh"}},
		{Method: "lora", LoraConfig: peft.LoraConfig{R: 4, LoraAlpha: 8,
			TargetModules: peft.TargetModules{`re:.*encoder\.layer\.\d+\.attention\.self\.(query|value)(_proj)?`}}},
		// BitFit moves DeBERTa's relative-position projections' biases: the
		// shifted tables must come from the F16 weights too.
		{Method: "bitfit"},
	}
	forEachMethod(t, []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v2-tiny-noshare"}, methods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
		step := func(enc *model.Encoder) (float64, []float32, [][]float32) {
			ad := newTestAdapter(t, enc, mc)
			wakeParams(ad.Params(), 0.05)
			st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head}
			lb := &LabeledBatch{
				Batch:  model.NewBatch([][]int32{{1, 17, 42, 2}, {1, 5, 93, 60, 61, 2, 77, 8, 2}, {1, 33, 2}}, nil),
				Labels: []int{0, 1, 1},
			}
			return runStep(t, st, lb, model.TrainOptions{Dropout: 0.1, Seed: 1, Step: 2})
		}
		full, _, _ := step(enc)

		// the reference: float32 weights rounded to F16 (a copy of the encoder)
		rounded := enc.ShallowCopy()
		for i := range rounded.Layers {
			L := &rounded.Layers[i]
			for _, l := range []*model.Linear{&L.Attention.Self.Query, &L.Attention.Self.Key, &L.Attention.Self.Value,
				&L.Attention.Output.Dense, &L.Intermediate.Dense, &L.Output.Dense} {
				roundLinear(l)
			}
		}
		if rounded.Pooler != nil {
			p := *rounded.Pooler
			roundLinear(&p.Dense)
			rounded.Pooler = &p
		}
		rounded.PackWeights()
		wantLoss, wantLogits, want := step(rounded)

		enc.PackWeightsHalf()
		if n := enc.PackBackwardWeightsHalf(); n == 0 {
			t.Fatal("PackBackwardWeightsHalf packed nothing")
		}
		defer enc.Unpack()
		loss, logits, got := step(enc)
		if loss != wantLoss || loss == full {
			t.Fatalf("loss %v on the F16 backbone, %v on its rounded float32 weights (%v unrounded)", loss, wantLoss, full)
		}
		for i := range logits {
			if math.Float32bits(logits[i]) != math.Float32bits(wantLogits[i]) {
				t.Fatalf("logit %d: %v, rounded float32 weights give %v", i, logits[i], wantLogits[i])
			}
		}
		gradsClose(t, "F16 backbone", got, want, 0)
	})
}

// roundLinear gives l its own copy of its weight rounded to F16.
func roundLinear(l *model.Linear) {
	w := make([]float32, len(l.Weight))
	for i, v := range l.Weight {
		w[i] = half.ToFloat32(half.FromFloat32(v))
	}
	*l = model.Linear{Weight: w, Bias: l.Bias, In: l.In, Out: l.Out}
}
