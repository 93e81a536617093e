package model

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// layerGrads records the gradient leaving each layer (BackwardHook).
type layerGrads struct{ d [][]float32 }

func (h *layerGrads) AfterLayerBackward(l int, dX []float32, b *Batch) error {
	h.d = append(h.d, slices.Clone(dX))
	return nil
}

// A first-token pass computes, at each sequence's first token, exactly what
// a full pass computes there, bit for bit: inference, the training forward
// with dropout, and every layer's input gradient when the loss reads the
// first tokens only. (The last layer's tail is row-wise, dropout masks are
// drawn at the rows' own indexes, and a GEMM's rows do not depend on M.)
func TestFirstTokensEqualFull(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v1-tiny", "deberta-v2-tiny-conv"} {
		t.Run(name, func(t *testing.T) {
			m := testEncoder(t, name)
			cfg := m.Config
			C := cfg.HiddenSize
			r := rand.New(rand.NewPCG(9, 10))
			b := fdBatch(r, []int{5, 1, 9, 3}, cfg.VocabSize, cfg.TypeVocabSize)
			N := b.N()
			firstRows := func(x []float32) []float32 {
				var out []float32
				for s := 0; s < b.B(); s++ {
					lo, _ := b.Seq(s)
					out = append(out, x[lo*C:(lo+1)*C]...)
				}
				return out
			}
			same := func(what string, got, want []float32) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Fatalf("%s: first-token pass differs from the full pass", what)
				}
			}
			// inference
			full, err := m.Forward(context.Background(), b, &Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantH, wantP, all := firstRows(full.LastHiddenState), slices.Clone(full.PoolerOutput), slices.Clone(full.LastHiddenState)
			ft, err := m.Forward(context.Background(), b, &Workspace{FirstTokensOnly: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			same("inference last hidden state", firstRows(ft.LastHiddenState), wantH)
			same("inference pooler output", ft.PoolerOutput, wantP)
			if slices.Equal(ft.LastHiddenState, all) {
				t.Fatal("the first-token pass computed every row: the test proves nothing")
			}

			// training, dropout on; the loss reads the first tokens only
			w := make([]float32, N*C)
			for s := 0; s < b.B(); s++ {
				lo, _ := b.Seq(s)
				for c := 0; c < C; c++ {
					w[lo*C+c] = float32(r.NormFloat64())
				}
			}
			run := func(first bool) ([]float32, [][]float32) {
				st := &TrainState{}
				opt := TrainOptions{Dropout: 0.2, Seed: 5, Step: 7, FirstTokensOnly: first}
				out, err := m.ForwardTrain(context.Background(), b, st, nil, opt)
				if err != nil {
					t.Fatal(err)
				}
				h := firstRows(out.LastHiddenState)
				g := &layerGrads{}
				if err := m.Backward(context.Background(), st, slices.Clone(w), nil, g); err != nil {
					t.Fatal(err)
				}
				return h, g.d
			}
			hFull, gFull := run(false)
			hFirst, gFirst := run(true)
			same("training last hidden state", hFirst, hFull)
			for l := range gFull {
				same("layer input gradient", gFirst[l], gFull[l])
			}
		})
	}
}
