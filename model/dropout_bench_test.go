package model

import "testing"

// The attention-probability dropout of one roberta-base layer at batch 16,
// sequence 128: 16·12·128·128 elements (it runs three times per layer and
// step: forward, and twice in the backward).
func BenchmarkDropoutApply(b *testing.B) {
	x := make([]float32, 16*12*128*128)
	for i := range x {
		x[i] = float32(i%97) * 0.01
	}
	s := newDropout(0.1, &TrainOptions{Seed: 1, Step: 2}).layer(3).site(siteAttnProbs)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		s.applyAt(x, 5)
	}
}
