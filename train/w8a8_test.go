package train

import (
	"context"
	"math"
	"testing"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// train --weights w8a8 is quantization-aware training of the adapter. The
// training forward is the served forward: its logits are those the mixed
// predictor (serve, predict) gives on the same W8A8 backbone. The backward
// passes the gradient straight through the activations' rounding (the
// straight-through estimator) and through the weights the W8A8 products
// stand for (PackBackwardWeightsInt8: the smoothed int8 grid,
// gemm.RoundToA8Grid). Its gradients are therefore close to, not equal to,
// those of float32 training on those weights: measured here, cosine ≥ 0.999
// over all of a method's gradients and differences up to 8 % of the
// largest gradient (bounds 0.99 and 15 %); not the same bits (the rounding
// is in the forward).
func TestW8A8Training(t *testing.T) {
	seqs := [][]int32{{1, 17, 42, 2}, {1, 5, 93, 60, 61, 2, 77, 8, 2}, {1, 33, 2}}
	forEachMethod(t, roundedBackbones, roundedMethods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
		step := func(enc *model.Encoder) (*peft.Adapter, float64, []float32, [][]float32) {
			ad := newTestAdapter(t, enc, mc)
			wakeParams(ad.Params(), 0.05)
			st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head}
			lb := &LabeledBatch{Batch: model.NewBatch(seqs, nil), Labels: []int{0, 1, 1}}
			loss, logits, g := runStep(t, st, lb, model.TrainOptions{Seed: 1, Step: 2})
			return ad, loss, logits, g
		}
		enc.PackWeightsW8A8()
		enc.PackBackwardWeightsInt8()
		defer enc.Unpack()
		rounded := roundedCopyL(enc, func(l *model.Linear, w []float32, out, in int) {
			gemm.RoundToA8Grid(w, out, in, l.W8A8Smoothing())
		})
		rounded.PackWeights()
		_, wantLoss, _, want := step(rounded)
		ad, loss, logits, got := step(enc)

		// the served logits, from the same backbone and adapter
		p := &peft.MixedPredictor{Enc: enc}
		var ts []peft.TaskSeq
		for _, s := range seqs {
			ts = append(ts, peft.TaskSeq{Adapter: ad, IDs: s})
		}
		served, _, err := p.Predict(context.Background(), ts)
		if err != nil {
			t.Fatal(err)
		}
		for s := range served {
			for k, v := range served[s] {
				if d := math.Abs(float64(v - logits[s*2+k])); d > 1e-5*max(1, math.Abs(float64(v))) {
					t.Fatalf("sequence %d logit %d: training forward %v, served %v", s, k, logits[s*2+k], v)
				}
			}
		}

		if math.Abs(loss-wantLoss) > 0.1*math.Abs(wantLoss) || loss == wantLoss {
			t.Fatalf("loss %v, float32 on the int8 grid %v", loss, wantLoss)
		}
		// relative to the largest gradient (some tensors' gradients are
		// ~1e-10, sums that cancel)
		var dot, n1, n2, scale, diff float64
		same := true
		for i := range want {
			for j, w := range want[i] {
				g := float64(got[i][j])
				dot, n1, n2 = dot+g*float64(w), n1+g*g, n2+float64(w)*float64(w)
				scale = max(scale, math.Abs(float64(w)))
				diff = max(diff, math.Abs(g-float64(w)))
				same = same && got[i][j] == w
			}
		}
		cos := dot / math.Sqrt(n1*n2)
		t.Logf("cosine %.4f, largest difference %.3g of the largest gradient", cos, diff/scale)
		if cos < 0.99 || diff > 0.15*scale || same {
			t.Fatalf("gradients: cosine %.4f with float32 on the int8 grid, largest difference %.3g of the largest (same bits: %v)", cos, diff/scale, same)
		}
	})
}
