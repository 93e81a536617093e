package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// fdPrefix is a PrefixHook with fixed random prefixes per (layer, sequence).
type fdPrefix struct {
	k, v   map[[2]int][]float32
	dk, dv map[[2]int][]float32
}

func (p *fdPrefix) Prefix(l, s int, b *Batch) ([]float32, []float32) {
	return p.k[[2]int{l, s}], p.v[[2]int{l, s}]
}

func (p *fdPrefix) PrefixBackward(l, s int, dk, dv []float32, b *Batch) error {
	key := [2]int{l, s}
	p.dk[key] = append([]float32(nil), dk...)
	p.dv[key] = append([]float32(nil), dv...)
	return nil
}

type debertaFDHooks struct {
	*addAt
	*captureDX
	*fdPrefix
}

// TestFDDebertaEncoderBackward checks the gradient handed to the
// BackwardHook at each layer (AoT's) and the prefix gradients (P-Tuning
// v2) against finite differences, with dropout on (attention, hidden,
// relative embeddings, convolution), for every DeBERTa golden model.
func TestFDDebertaEncoderBackward(t *testing.T) {
	for _, name := range debertaGoldenModels {
		for _, withPrefix := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/prefix=%v", name, withPrefix), func(t *testing.T) {
				m := testEncoder(t, name)
				cfg := m.Config
				C, NL := cfg.HiddenSize, cfg.NumHiddenLayers
				r := rand.New(rand.NewPCG(11, 12))
				b := fdBatch(r, []int{5, 37, 2}, cfg.VocabSize, max(cfg.TypeVocabSize, 1)) // 37: two blocks of addRelative
				N := b.N()
				w := randn(r, N*C, 1)
				hooks := debertaFDHooks{addAt: &addAt{d: make([]float32, N*C)}, captureDX: &captureDX{dX: make([][]float32, NL)}}
				if withPrefix {
					hooks.fdPrefix = &fdPrefix{k: map[[2]int][]float32{}, v: map[[2]int][]float32{}, dk: map[[2]int][]float32{}, dv: map[[2]int][]float32{}}
					for l := 0; l < NL; l++ {
						for s, P := range []int{2, 0, 3} {
							if P > 0 {
								hooks.k[[2]int{l, s}], hooks.v[[2]int{l, s}] = randn(r, P*C, 1), randn(r, P*C, 1)
							}
						}
					}
				}
				var hk Hooks = hooks
				if !withPrefix {
					hk = struct {
						*addAt
						*captureDX
					}{hooks.addAt, hooks.captureDX}
				}
				st := &TrainState{}
				opt := TrainOptions{Dropout: 0.1, Seed: 3, Step: 4}
				ctx := context.Background()
				loss := func() float64 {
					out, err := m.ForwardTrain(ctx, b, st, hk, opt)
					if err != nil {
						t.Fatal(err)
					}
					return dot64(w, out.LastHiddenState)
				}
				loss()
				if err := m.Backward(ctx, st, append([]float32(nil), w...), nil, hk); err != nil {
					t.Fatal(err)
				}
				for l := 0; l < NL; l++ {
					hooks.addAt.l = l
					checkFD(t, fmt.Sprintf("dX of layer %d", l), hooks.addAt.d, hooks.dX[l], loss, hSmooth, fdTol)
				}
				hooks.addAt.l = 0
				mustFailFD(t, "dX of layer 1 as layer 0's", hooks.addAt.d, hooks.dX[1], loss, hSmooth, fdTol)
				if withPrefix {
					for key, pk := range hooks.k {
						checkFD(t, fmt.Sprintf("prefix keys %v", key), pk, hooks.dk[key], loss, hSmooth, fdTol)
						checkFD(t, fmt.Sprintf("prefix values %v", key), hooks.v[key], hooks.dv[key], loss, hSmooth, fdTol)
					}
				}
			})
		}
	}
}

// TestFDDebertaFullFineTuning checks the weight gradients of a trainable
// copy (CloneTrainable): DeBERTa's own tensors (relative embeddings and
// their LayerNorm, position projections, the convolution, embed_proj) and a
// shared query/key projection, with dropout on.
func TestFDDebertaFullFineTuning(t *testing.T) {
	for _, name := range debertaGoldenModels {
		t.Run(name, func(t *testing.T) {
			base := testEncoder(t, name)
			m, ps := base.CloneTrainable("deberta.")
			cfg := m.Config
			C := cfg.HiddenSize
			r := rand.New(rand.NewPCG(13, 14))
			b := fdBatch(r, []int{6, 40, 3}, cfg.VocabSize, max(cfg.TypeVocabSize, 1)) // 40: two blocks of addRelative
			w := randn(r, b.N()*C, 1)
			st := &TrainState{}
			opt := TrainOptions{Dropout: 0.1, Seed: 5, Step: 6}
			ctx := context.Background()
			loss := func() float64 {
				out, err := m.ForwardTrain(ctx, b, st, nil, opt)
				if err != nil {
					t.Fatal(err)
				}
				return dot64(w, out.LastHiddenState)
			}
			loss()
			if err := m.Backward(ctx, st, append([]float32(nil), w...), nil, nil); err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, p := range ps {
				n := strings.TrimPrefix(p.Name, "deberta.")
				if !(strings.HasPrefix(n, "encoder.rel_embeddings") || strings.HasPrefix(n, "encoder.LayerNorm") ||
					strings.HasPrefix(n, "encoder.conv") || strings.Contains(n, "pos_") || strings.Contains(n, "embed_proj") ||
					strings.HasPrefix(n, "encoder.layer.1.attention.self.") || strings.HasPrefix(n, "embeddings.")) {
					continue
				}
				if strings.HasSuffix(n, "pos_key_proj.bias") {
					// c2p adds q_i·b to every score of row i: softmax cancels it,
					// the true gradient is 0 (the backward's is roundoff)
					continue
				}
				checkFD(t, n, p.Data, append([]float32(nil), p.Grad...), loss, hSmooth, fdTol)
				checked++
			}
			if checked < 6 {
				t.Fatalf("only %d tensors checked", checked)
			}
		})
	}
}
