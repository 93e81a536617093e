package train

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/aotp/aotp/model"
)

// wakeParams gives the zero entries of ps (the last factors start at
// zero) small distinct values, so that every path carries a gradient.
func wakeParams(ps []*model.Param, scale float32) {
	for i, p := range ps {
		for j := range p.Data {
			if p.Data[j] == 0 {
				p.Data[j] = scale * float32((i+j)%7-3)
			}
		}
	}
}

// runStep runs one LossAndGrad of st on lb and returns its loss and copies
// of its logits and of every parameter's gradient.
func runStep(t *testing.T, st *Stepper, lb *LabeledBatch, opt model.TrainOptions) (float64, []float32, [][]float32) {
	t.Helper()
	loss, logits, err := st.LossAndGrad(context.Background(), lb, opt)
	if err != nil {
		t.Fatal(err)
	}
	var g [][]float32
	for _, p := range st.Params() {
		g = append(g, slices.Clone(p.Grad))
	}
	return loss, slices.Clone(logits), g
}

// gradsClose fails t when a gradient in got differs from want's by more
// than rel of want's largest entry (a gradient that is 0 by symmetry must
// stay 0); rel = 0 asks for the same bits.
func gradsClose(t *testing.T, what string, got, want [][]float32, rel float64) {
	t.Helper()
	for i := range want {
		var scale, diff float64
		for j := range want[i] {
			if rel == 0 && math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("%s: gradient %d[%d] is %v, want %v", what, i, j, got[i][j], want[i][j])
			}
			scale = math.Max(scale, math.Abs(float64(want[i][j])))
			diff = math.Max(diff, math.Abs(float64(got[i][j]-want[i][j])))
		}
		if diff > rel*scale {
			t.Fatalf("%s: gradient %d differs by %.3g (scale %.3g)", what, i, diff, scale)
		}
	}
}
