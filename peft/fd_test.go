package peft

import (
	"context"
	"fmt"
	"github.com/aotp/aotp/internal/fdcheck"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
)

// Finite-difference checks of AoT's parameter gradients, with the same
// method as model/fd_test.go (see the comment there): L = Σ w ⊙ y in
// float64, central differences along the gradient's direction and random
// unit directions, error relative to the size of a directional derivative.
//
// Steps and tolerance: central differences at h = 2.5e-2 and 1.25e-2
// combined by Richardson extrapolation, tolerance 2e-3. (h = 1e-1, as in
// model/, left a truncation error of 4e-3..7e-3 on fc2.weight through the
// encoder with some dropout masks; it fell to 6e-5 at 2.5e-2, the sign of
// a correct gradient.) FC-ReLU is
// piecewise linear: a step that moves a pre-activation across 0 makes an
// O(step) error (plain steps of 3e-2 err by 1–2%), and a uniformly small
// step would drown the encoder path in roundoff (4e-3 at 1e-2). So for
// ReLU, fdErr watches the batch's pre-activations and halves a direction's
// step until none changes sign (steps of 6e-3..1e-1 are used). Observed
// errors: ≤ 1e-4 isolated, ≤ 8e-4 end to end, logged with -v; the negative controls (the wrong layer's dX; tanh's
// derivative taken from its input instead of its output) err by ≥ 0.9.
const (
	fdTol = 2e-3
	fdH   = 0.025
)

var (
	randn = fdcheck.Randn
	dot64 = fdcheck.Dot64
)

// checkFD and mustFailFD are internal/fdcheck's, with its kink handling
// for FC-ReLU (see the comment at the top of this file).
var (
	checkFD    = fdcheck.Check
	mustFailFD = fdcheck.MustFail
)

func loadModel(t testing.TB, name string) *model.Encoder {
	t.Helper()
	m, err := model.Load(filepath.Join(golden.Dir(t), "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// aotReparams are the AoT variants under test (tiny ranks: the models have
// C = 32, V ≈ 100; kron 10×10 covers V).
var aotReparams = []struct {
	name string
	cfg  AoTConfig
}{
	{"fc-relu", AoTConfig{Reparam: "fc", Rank: 8, Activation: "relu"}},
	{"fc-gelu", AoTConfig{Reparam: "fc", Rank: 8, Activation: "gelu"}},
	{"fc-tanh", AoTConfig{Reparam: "fc", Rank: 8, Activation: "tanh"}},
	{"kron", AoTConfig{Reparam: "kron", Rank: 3, KronA: 10, KronB: 10}},
}

// randomizeAoT draws every factor, the last ones included (NewAoT leaves
// them zero, which would hide half the gradient paths). FC1 gets std 1/√C:
// the word embeddings of the tiny models have ‖E_x‖ ≈ 3, so act's input has
// std ≈ 0.6, where the non-linearities bend.
func randomizeAoT(a *AoT, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0xa07))
	C := float64(a.C)
	for _, p := range a.Params() {
		std := 0.1
		switch {
		case strings.HasSuffix(p.Name, "fc1.weight") && a.Cfg.Activation == "relu":
			// ReLU: wider pre-activations (std ≈ 3), so fewer lie near the
			// kink and fdErr seldom has to shorten its step
			std = 6 / math.Sqrt(C)
		case strings.HasSuffix(p.Name, "fc1.weight"):
			std = 1 / math.Sqrt(C)
		case strings.HasSuffix(p.Name, "fc1.bias"):
			std = 0.3
		case strings.HasSuffix(p.Name, "left"), strings.HasSuffix(p.Name, "mid"):
			std = 0.5
		}
		copy(p.Data, randn(r, p.Numel(), std))
	}
}

// reluKinks returns, for FC-ReLU, a function giving the pre-activations
// z = E·W1ᵀ + b1 of the batch at the current parameters (nil otherwise):
// fdErr shortens its step where a step would move one across ReLU's kink.
func reluKinks(a *AoT, b *model.Batch) func() []float32 {
	if a.Cfg.Reparam != "fc" || a.Cfg.Activation != "relu" {
		return nil
	}
	return func() []float32 {
		a.prepare(b)
		var z []float32
		for l := range a.Layers {
			a.computeRows(&a.Layers[l], a.uniq, a.eU, &a.Layers[l].rowScratch)
			z = append(z, a.Layers[l].z...)
		}
		return z
	}
}

// aotBatch has repeated ids within and across sequences (the per-id sums).
func aotBatch(V int) *model.Batch {
	r := rand.New(rand.NewPCG(21, 22))
	var ids [][]int32
	for _, n := range []int{6, 9, 4} {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(3 + r.IntN(V-3))
		}
		ids = append(ids, s)
	}
	ids[1][3], ids[1][7], ids[2][0] = ids[0][1], ids[0][1], ids[0][1]
	return model.NewBatch(ids, nil)
}

// TestFDAoTRows checks AfterLayerBackward on its own: L = Σ_l Σ w_l ⊙ R_l,
// R_l the rows BeforeLayer adds at layer l (to a zero H), so dX = w_l.
func TestFDAoTRows(t *testing.T) {
	enc := loadModel(t, "bert-tiny")
	for _, rp := range aotReparams {
		t.Run(rp.name, func(t *testing.T) {
			a, err := NewAoT(enc, rp.cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			randomizeAoT(a, 2)
			b := aotBatch(a.V)
			kinks := reluKinks(a, b)
			N, C := b.N(), a.C
			r := rand.New(rand.NewPCG(3, 4))
			w := make([][]float32, a.L)
			for l := range w {
				w[l] = randn(r, N*C, 1)
			}
			H := make([]float32, N*C)
			loss := func() float64 {
				var s float64
				for l := range a.Layers {
					clear(H)
					if err := a.BeforeLayer(l, H, b); err != nil {
						t.Fatal(err)
					}
					s += dot64(w[l], H)
				}
				return s
			}
			grads := func(dx func(l int) []float32) map[*model.Param][]float32 {
				loss()
				for _, p := range a.Params() {
					p.ZeroGrad()
				}
				for l := len(a.Layers) - 1; l >= 0; l-- {
					if err := a.AfterLayerBackward(l, dx(l), b); err != nil {
						t.Fatal(err)
					}
				}
				g := map[*model.Param][]float32{}
				for _, p := range a.Params() {
					g[p] = append([]float32(nil), p.Grad...)
				}
				return g
			}
			g := grads(func(l int) []float32 { return w[l] })
			const h = fdH
			for _, p := range a.Params() {
				checkFD(t, p.Name, p.Data, g[p], loss, kinks, h, fdTol)
			}

			// negative controls
			first := a.Params()[0] // layer 0's fc1.weight or left
			bad := grads(func(l int) []float32 { return w[1-l] })
			mustFailFD(t, first.Name+" from the wrong layer's dX", first.Data, bad[first], loss, kinks, h, fdTol)
			if rp.cfg.Activation == "tanh" {
				// tanh's backward kernel fed the pre-activation instead of its output
				a.Cfg.Activation = "tanh (reads z)"
				bad := grads(func(l int) []float32 { return w[l] })
				a.Cfg.Activation = "tanh"
				mustFailFD(t, first.Name+" with tanh' from z", first.Data, bad[first], loss, kinks, h, fdTol)
			}
		})
	}
}

// TestFDAoTEncoder checks the factors' gradients end to end: ForwardTrain
// with AoT as the LayerHook, Backward with it as the BackwardHook, dropout
// on, the loss reading last_hidden_state and pooler_output.
func TestFDAoTEncoder(t *testing.T) {
	for _, mname := range []string{"bert-tiny", "roberta-tiny"} {
		enc := loadModel(t, mname)
		for _, rp := range aotReparams {
			t.Run(mname+"/"+rp.name, func(t *testing.T) {
				a, err := NewAoT(enc, rp.cfg, 1)
				if err != nil {
					t.Fatal(err)
				}
				randomizeAoT(a, 2)
				b := aotBatch(a.V)
				kinks := reluKinks(a, b)
				N, B, C := b.N(), b.B(), a.C
				r := rand.New(rand.NewPCG(5, 6))
				w, wp := randn(r, N*C, 1), randn(r, B*C, 1)
				st := &model.TrainState{}
				opt := model.TrainOptions{Dropout: 0.1, Seed: 3, Step: 1}
				ctx := context.Background()
				loss := func() float64 {
					out, err := enc.ForwardTrain(ctx, b, st, a, opt)
					if err != nil {
						t.Fatal(err)
					}
					return dot64(w, out.LastHiddenState) + dot64(wp, out.PoolerOutput)
				}
				loss()
				for _, p := range a.Params() {
					p.ZeroGrad()
				}
				if err := enc.Backward(ctx, st, append([]float32(nil), w...), append([]float32(nil), wp...), a); err != nil {
					t.Fatal(err)
				}
				const h = fdH
				for _, p := range a.Params() {
					checkFD(t, p.Name, p.Data, append([]float32(nil), p.Grad...), loss, kinks, h, fdTol)
				}
				// negative control: layer 1's gradient as layer 0's
				ps := a.Params()
				n := len(ps) / a.L
				mustFailFD(t, fmt.Sprintf("%s with %s's gradient", ps[0].Name, ps[n].Name), ps[0].Data, ps[n].Grad, loss, kinks, h, fdTol)
			})
		}
	}
}

// encoderLoss is the loss of the encoder FD checks: L = Σ w ⊙
// last_hidden_state + Σ wp ⊙ pooler_output (when the model has a pooler) of
// a training forward of b with hooks (dropout 0.1 at the given step), w and
// wp drawn from rand.NewPCG(seed1, seed2). backward runs the backward pass
// of L into the hooks' gradients (after a call of loss).
func encoderLoss(t *testing.T, enc *model.Encoder, b *model.Batch, hooks model.Hooks, seed1, seed2, step uint64) (loss func() float64, backward func()) {
	t.Helper()
	C := enc.Config.HiddenSize
	r := rand.New(rand.NewPCG(seed1, seed2))
	w, wp := randn(r, b.N()*C, 1), randn(r, b.B()*C, 1)
	if enc.Pooler == nil {
		wp = nil
	}
	st := &model.TrainState{}
	opt := model.TrainOptions{Dropout: 0.1, Seed: 3, Step: step}
	loss = func() float64 {
		out, err := enc.ForwardTrain(context.Background(), b, st, hooks, opt)
		if err != nil {
			t.Fatal(err)
		}
		return dot64(w, out.LastHiddenState) + poolerLoss(wp, out.PoolerOutput)
	}
	backward = func() {
		if err := enc.Backward(context.Background(), st, clone(w), clone(wp), hooks); err != nil {
			t.Fatal(err)
		}
	}
	return loss, backward
}
