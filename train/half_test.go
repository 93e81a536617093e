// Training on a backbone packed as F16 or int8 for both passes (train
// --weights f16|int8) is training on the float32 backbone whose Linear
// weights are so rounded, so the backward is the gradient of the rounded
// forward pass (the float32 one is checked against finite differences and
// PyTorch elsewhere). AoT, LoRA (whose input gradient runs through the
// frozen weights too) and BitFit, dropout on, on BERT (its own pooler in
// the head's path), RoBERTa and DeBERTa v3 (positions projected by the
// rounded key and query) and v2 without shared keys.

package train

import (
	"math"
	"testing"

	"github.com/aotp/aotp/internal/half"
	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// The frozen backbone packed as F16 for both passes (PackWeightsHalf +
// PackBackwardWeightsHalf, train --weights f16) trains exactly as float32
// training on the weights rounded to F16: loss, logits and every gradient
// bit for bit. Packed as int8 (train --weights int8), it trains as float32
// training on the weights on the int8 grid, within float32 rounding (the
// int8 forward kernels scale each column's sum instead of each weight).
func TestHalfBackboneTraining(t *testing.T) {
	for _, dt := range []struct {
		name  string
		round func(w []float32, out, in int)
		pack  func(enc *model.Encoder)
		tol   float64 // relative, of loss, logits and gradients; 0: bit for bit
	}{
		{"f16", roundHalf, func(enc *model.Encoder) {
			enc.PackWeightsHalf()
			if n := enc.PackBackwardWeightsHalf(); n == 0 {
				t.Fatal("PackBackwardWeightsHalf packed nothing")
			}
		}, 0},
		{"int8", gemm.RoundToInt8Grid, func(enc *model.Encoder) {
			enc.PackWeightsInt8()
			if n := enc.PackBackwardWeightsInt8(); n == 0 {
				t.Fatal("PackBackwardWeightsInt8 packed nothing")
			}
		}, 1e-5},
	} {
		t.Run(dt.name, func(t *testing.T) {
			forEachMethod(t, roundedBackbones, roundedMethods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
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

				// the reference: float32 weights rounded (a copy of the encoder)
				rounded := roundedCopy(enc, dt.round)
				rounded.PackWeights()
				wantLoss, wantLogits, want := step(rounded)

				dt.pack(enc)
				defer enc.Unpack()
				loss, logits, got := step(enc)
				if math.Abs(loss-wantLoss) > dt.tol*math.Abs(wantLoss) || loss == full {
					t.Fatalf("loss %v on the %s backbone, %v on its rounded float32 weights (%v unrounded)", loss, dt.name, wantLoss, full)
				}
				for i := range logits {
					if d := math.Abs(float64(logits[i] - wantLogits[i])); d > dt.tol*max(1, math.Abs(float64(wantLogits[i]))) {
						t.Fatalf("logit %d: %v, rounded float32 weights give %v", i, logits[i], wantLogits[i])
					}
				}
				if dt.tol == 0 {
					gradsClose(t, dt.name+" backbone", got, want, 0)
					return
				}
				// rounding in other orders: relative to the largest gradient
				// (some tensors' gradients are ~1e-10, sums that cancel)
				var scale, diff float64
				for i := range want {
					for j := range want[i] {
						scale = max(scale, math.Abs(float64(want[i][j])))
						diff = max(diff, math.Abs(float64(got[i][j]-want[i][j])))
					}
				}
				if diff > dt.tol*scale {
					t.Fatalf("%s backbone: gradients differ by %.3g (largest %.3g)", dt.name, diff, scale)
				}
			})
		})
	}
}

// roundedMethods are the methods trained on a rounded backbone (F16, int8,
// W8A8): AoT, LoRA (whose input gradient runs through the frozen weights
// too) and BitFit, which moves DeBERTa's relative-position projections'
// biases (the shifted tables must come from the rounded weights too).
var roundedMethods = []peft.AdapterConfig{
	{Method: "aot", AoTConfig: peft.AoTConfig{Reparam: "fc", Rank: 4, Activation: "tanh"}},
	{Method: "lora", LoraConfig: peft.LoraConfig{R: 4, LoraAlpha: 8,
		TargetModules: peft.TargetModules{`re:.*encoder\.layer\.\d+\.attention\.self\.(query|value)(_proj)?`}}},
	{Method: "bitfit"},
}

// roundedBackbones are the tiny checkpoints they train on: BERT (its own
// pooler in the head's path), RoBERTa, DeBERTa v3 (positions projected by
// the rounded key and query) and v2 without shared keys.
var roundedBackbones = []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v2-tiny-noshare"}

// roundedCopy is a shallow copy of enc whose packable Linears (the layers'
// and the pooler's) have their own weights, rounded by round.
func roundedCopy(enc *model.Encoder, round func(w []float32, out, in int)) *model.Encoder {
	return roundedCopyL(enc, func(_ *model.Linear, w []float32, out, in int) { round(w, out, in) })
}

// roundedCopyL is roundedCopy where the rounding depends on the Linear
// (as packed in enc).
func roundedCopyL(enc *model.Encoder, round func(l *model.Linear, w []float32, out, in int)) *model.Encoder {
	rounded := enc.ShallowCopy()
	for i := range rounded.Layers {
		L := &rounded.Layers[i]
		for _, l := range []*model.Linear{&L.Attention.Self.Query, &L.Attention.Self.Key, &L.Attention.Self.Value,
			&L.Attention.Output.Dense, &L.Intermediate.Dense, &L.Output.Dense} {
			roundLinear(l, round)
		}
	}
	if rounded.Pooler != nil {
		p := *rounded.Pooler
		roundLinear(&p.Dense, round)
		rounded.Pooler = &p
	}
	return rounded
}

// roundLinear gives l its own copy of its weight [Out, In], rounded.
func roundLinear(l *model.Linear, round func(l *model.Linear, w []float32, out, in int)) {
	w := append([]float32(nil), l.Weight...)
	round(l, w, l.Out, l.In)
	*l = model.Linear{Weight: w, Bias: l.Bias, In: l.In, Out: l.Out}
}

func roundHalf(w []float32, _, _ int) {
	for i, v := range w {
		w[i] = half.ToFloat32(half.FromFloat32(v))
	}
}
