package model

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// Full fine-tuning: every weight's gradient (embeddings, LayerNorms,
// projections, pooler) agrees with finite differences, with dropout on.
func TestFDFullFineTuning(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			m, ps := testEncoder(t, name).CloneTrainable("")
			cfg := m.Config
			r := rand.New(rand.NewPCG(11, 12))
			b := fdBatch(r, []int{4, 7, 3}, cfg.VocabSize, cfg.TypeVocabSize)
			N, B, C := b.N(), b.B(), cfg.HiddenSize
			w, wp := randn(r, N*C, 1), randn(r, B*C, 1)
			st := &TrainState{}
			opt := TrainOptions{Dropout: 0.1, Seed: 5, Step: 2}
			loss := func() float64 {
				out, err := m.ForwardTrain(context.Background(), b, st, nil, opt)
				if err != nil {
					t.Fatal(err)
				}
				return dot64(w, out.LastHiddenState) + dot64(wp, out.PoolerOutput)
			}
			loss()
			if err := m.Backward(context.Background(), st, append([]float32(nil), w...), append([]float32(nil), wp...), nil); err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, p := range ps {
				// every kind of tensor, in the first and the last layer
				if strings.Contains(p.Name, "layer.") && !strings.Contains(p.Name, "layer.0.") && !strings.Contains(p.Name, "layer.1.") {
					continue
				}
				g := append([]float32(nil), p.Grad...)
				if strings.HasSuffix(p.Name, "attention.self.key.bias") {
					// softmax is invariant to q·b_k, the same for every key of a
					// query: the true gradient is 0 and the computed one is
					// roundoff, so relative FD errors mean nothing; check it is tiny
					var gn, ref float64
					for _, v := range g {
						gn += float64(v) * float64(v)
					}
					for _, v := range m.Layers[0].Attention.Self.Query.BGrad {
						ref += float64(v) * float64(v)
					}
					if gn > 1e-8*ref {
						t.Fatalf("%s: gradient norm² %g should be ~0 (query bias: %g)", p.Name, gn, ref)
					}
					continue
				}
				checkFD(t, p.Name, p.Data, g, loss, hSmooth, fdTol)
				checked++
			}
			if checked < 20 {
				t.Fatalf("only %d tensors checked", checked)
			}
			// negative control: the word-embedding gradient of a row that is
			// not in the batch must be zero
			used := map[int32]bool{}
			for _, x := range b.IDs {
				used[x] = true
			}
			for x := 0; x < cfg.VocabSize; x++ {
				if used[int32(x)] {
					continue
				}
				for _, g := range m.Embeddings.WordGrad[x*C : (x+1)*C] {
					if g != 0 {
						t.Fatalf("word %d is not in the batch but has gradient %v", x, g)
					}
				}
			}
			mustFailFD(t, "output.dense.weight from layer 0 for layer 1", m.Layers[1].Output.Dense.Weight, m.Layers[0].Output.Dense.WGrad, loss, hSmooth, fdTol)
		})
	}
}
