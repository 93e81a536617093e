package model

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
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// Finite-difference checks of the backward functions.
//
// Method. Every check builds a scalar loss L = Σ w ⊙ y (y: the function's
// output, w: fixed random weights, the sum taken in float64) whose exact
// gradient w.r.t. y is w, runs the analytic backward from dy = w, and compares
// the analytic gradient g = ∂L/∂x with central differences of L along a few
// unit directions v of x:
//
//	e(h) = (L(x⁺) − L(x⁻) − Σ_i g_i·(x⁺_i − x⁻_i)) / 2h,  x± = float32(x ± h·v)
//
// (the analytic side uses the perturbation actually realised in float32, so
// the rounding of x ± h·v is no error source). The first direction is g/‖g‖ (catches any
// error in the gradient's scale), the others are random Gaussian directions
// (catch errors in any component, e.g. a wrong sign on one token or one head).
//
// Tolerance. The error is measured relative to the size of a directional
// derivative, max(|⟨g,v⟩|, ‖g‖/√n): a random unit direction sees ‖g‖/√n on
// average, so a bug that changes the gradient by δ shows up as a relative
// error ≈ ‖δ‖/‖g‖ whatever the direction. A correct backward still shows
// (1) truncation, c·h² for central differences, and (2) float32 roundoff of
// the forward: a layer's loss carries ~1e-5 absolute noise, ≈ 5e-6/h
// relative to a directional derivative (bert-tiny layer 1: 5.6e-3 at
// h = 1e-3, 5.6e-4 at 1e-2, 1.3e-4 at 3e-2). Roundoff wants a large h,
// truncation a small one (plain central differences at h = 1e-1 err by ~2%
// along g on the AoT→encoder path), so each direction is evaluated at h and
// h/2 and combined by Richardson extrapolation, (4·e(h/2) − e(h))/3, which
// cancels the h² term. With h = 1e-1 every smooth check then errs by
// ≤ 2e-4 (observed, logged with -v; h = 5e-2: ≤ 4e-4, 3e-2: ≤ 9e-4). ReLU
// is not smooth: a step that moves a pre-activation across 0 costs O(h)
// error, so ReLU layers use h = 1e-2 (observed ≤ 5e-4). The tolerance 2e-3
// is ≥ 4× above all observed errors and 30× below the smallest error of the
// negative controls (0.06: "wrong activation derivative" on bert-tiny),
// which show for each family that a realistic bug — a missing dropout mask,
// a wrong activation derivative, a missing scale, tanh' dropped, the wrong
// layer's gradient — is caught.
const (
	fdTol   = 2e-3
	hSmooth = 1e-1 // step (and 5e-2) for smooth functions
	hKink   = 1e-2 // step (and 5e-3) across ReLU's kinks
)

var (
	randn = fdcheck.Randn
	dot64 = fdcheck.Dot64
)

// checkFD asserts that g is the gradient of loss w.r.t. x within tol.
func checkFD(t *testing.T, what string, x, g []float32, loss func() float64, h, tol float64) {
	t.Helper()
	fdcheck.Check(t, what, x, g, loss, nil, h, tol)
}

// mustFailFD is a negative control: a deliberately wrong gradient g must
// fail the same check.
func mustFailFD(t *testing.T, what string, x, g []float32, loss func() float64, h, tol float64) {
	t.Helper()
	fdcheck.MustFail(t, what, x, g, loss, nil, h, tol)
}

func scoresPool(maxT int) chan []float32 {
	nt := parallel.Threads()
	c := make(chan []float32, nt)
	for i := 0; i < nt; i++ {
		c <- make([]float32, 2*maxT*maxT)
	}
	return c
}

// fdBatch is a batch of sequences of different lengths with random ids in
// [3, V) (repeats likely; never RoBERTa's pad id 1), and token types 0 then
// 1 when TV > 1.
func fdBatch(r *rand.Rand, lens []int, V, TV int) *Batch {
	var ids, types [][]int32
	for _, n := range lens {
		s, tt := make([]int32, n), make([]int32, n)
		for i := range s {
			s[i] = int32(3 + r.IntN(V-3))
			if TV > 1 && i >= n/2 {
				tt[i] = 1
			}
		}
		ids, types = append(ids, s), append(types, tt)
	}
	return NewBatch(ids, types)
}

func TestFDAttention(t *testing.T) {
	const C, NH = 16, 4
	for _, c := range []struct {
		name    string
		p       float32
		prefLen []int // per sequence; nil: no prefixes
	}{{"no-dropout", 0, nil}, {"dropout", 0.25, nil}, {"prefix", 0, []int{2, 0, 3, 1}}, {"prefix-dropout", 0.25, []int{2, 2, 0, 4}}} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			b := fdBatch(r, []int{3, 7, 1, 5}, 50, 1)
			N := b.N()
			q, k, v := randn(r, N*C, 1), randn(r, N*C, 1), randn(r, N*C, 1)
			w := randn(r, N*C, 1)
			var pre *prefixes
			var dpk, dpv [][]float32
			if c.prefLen != nil {
				pre = &prefixes{C: C}
				for _, P := range c.prefLen {
					var pk, pv, gk, gv []float32
					if P > 0 {
						pk, pv, gk, gv = randn(r, P*C, 1), randn(r, P*C, 1), make([]float32, P*C), make([]float32, P*C)
					}
					pre.k, pre.v = append(pre.k, pk), append(pre.v, pv)
					dpk, dpv = append(dpk, gk), append(dpv, gv)
				}
			}
			_, nprobs := probOffsets(b, NH, pre)
			probs, out := make([]float32, nprobs), make([]float32, N*C)
			scores := scoresPool(7 + pre.max())
			drop := dropSite{p: c.p, key: 0x1234}
			loss := func() float64 {
				attentionForward(out, probs, q, k, v, b, NH, C, pre, scores, drop)
				return dot64(w, out)
			}
			backward := func(drop dropSite) (dq, dk, dv []float32) {
				loss() // probs at the unperturbed point
				dq, dk, dv = make([]float32, N*C), make([]float32, N*C), make([]float32, N*C)
				attentionBackward(dq, dk, dv, w, probs, q, k, v, b, NH, C, pre, dpk, dpv, scores, drop)
				return
			}
			dq, dk, dv := backward(drop)
			const h = hSmooth
			checkFD(t, "dq", q, dq, loss, h, fdTol)
			checkFD(t, "dk", k, dk, loss, h, fdTol)
			checkFD(t, "dv", v, dv, loss, h, fdTol)
			for s := range dpk {
				if dpk[s] == nil {
					continue
				}
				gk, gv := append([]float32(nil), dpk[s]...), append([]float32(nil), dpv[s]...)
				checkFD(t, fmt.Sprintf("prefix keys of sequence %d", s), pre.k[s], gk, loss, h, fdTol)
				checkFD(t, fmt.Sprintf("prefix values of sequence %d", s), pre.v[s], gv, loss, h, fdTol)
			}

			// negative controls
			if c.p != 0 {
				// backward that forgets the dropout mask
				bq, _, bv := backward(dropSite{})
				mustFailFD(t, "dq without dropout mask", q, bq, loss, h, fdTol)
				mustFailFD(t, "dv without dropout mask", v, bv, loss, h, fdTol)
			} else {
				// dK without the 1/√hd scale
				bad := append([]float32(nil), dk...)
				vec.Scale(bad, float32(math.Sqrt(C/NH)))
				mustFailFD(t, "dk without 1/sqrt(hd)", k, bad, loss, h, fdTol)
			}
		})
	}
}

// testEncoder loads a testdata model.
func testEncoder(t *testing.T, name string) *Encoder {
	t.Helper()
	m, err := Load(filepath.Join(golden.Dir(t), "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// randomEncoder builds a 2-layer C=32 BERT with hidden_act act. The layer
// weights are scaled ×10 (std 0.2) so that activations and softmaxes are in
// their non-linear range (at std 0.02 every layer is nearly linear and the
// activation's derivative would be barely exercised).
func randomEncoder(t *testing.T, act string, seed uint64) *Encoder {
	t.Helper()
	cfg := bertShape(99, 32, 2, 4, 64)
	cfg.HiddenAct = act
	cfg.MaxPositionEmbeddings = 64
	src := RandomSource(&cfg, seed)
	for name, ten := range src {
		if strings.HasPrefix(name, "encoder.layer.") && len(ten.Shape) == 2 {
			vec.Scale(ten.Data, 10)
		}
	}
	m, err := FromSource(&cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFDLayerBackward(t *testing.T) {
	type tc struct {
		name    string
		enc     func(t *testing.T) *Encoder
		dropout float64
		first   bool // the tail at each sequence's first token only (first.go)
	}
	load := func(n string) func(t *testing.T) *Encoder {
		return func(t *testing.T) *Encoder { return testEncoder(t, n) }
	}
	rnd := func(act string) func(t *testing.T) *Encoder {
		return func(t *testing.T) *Encoder { return randomEncoder(t, act, 5) }
	}
	cases := []tc{
		{"gelu/bert-tiny", load("bert-tiny"), 0, false},
		{"gelu/bert-tiny/dropout", load("bert-tiny"), 0.2, false},
		{"gelu_new/bert-tiny-gelu-new", load("bert-tiny-gelu-new"), 0, false},
		{"relu/bert-tiny-relu", load("bert-tiny-relu"), 0, false},
		{"gelu/roberta-tiny", load("roberta-tiny"), 0, false},
		{"tanh/random", rnd("tanh"), 0, false},
		{"tanh/random/dropout", rnd("tanh"), 0.2, false},
		{"silu/random", rnd("silu"), 0, false},
		{"gelu/bert-tiny/dropout/first-tokens", load("bert-tiny"), 0.2, true},
		{"gelu/roberta-tiny/first-tokens", load("roberta-tiny"), 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.enc(t)
			cfg := m.Config
			C, I := cfg.HiddenSize, cfg.IntermediateSize
			r := rand.New(rand.NewPCG(3, 4))
			b := fdBatch(r, []int{4, 9, 6}, cfg.VocabSize, 1)
			N := b.N()
			const l = 1
			st := &TrainState{}
			st.reserve(cfg, b, 9)
			st.batch = b
			drop := newDropout(c.dropout, &TrainOptions{Seed: 7, Step: 3}).layer(l)
			a := &st.layers[l]
			x := a.x[:N*C]
			copy(x, randn(r, N*C, 1))
			w := randn(r, N*C, 1)
			hs := &hookSet{}
			var first *firstTokens
			if c.first {
				// the loss reads the first tokens only (the rest of a.out is
				// not computed): w is zero elsewhere
				first = &firstTokens{}
				for s := 0; s < b.B(); s++ {
					lo, hi := b.Seq(s)
					clear(w[(lo+1)*C : hi*C])
				}
			}
			loss := func() float64 {
				m.layerForward(l, a, st.tmp, st.g[:N*I], b, st.scores, drop, hs, first)
				if first == nil {
					return dot64(w, a.out[:N*C])
				}
				var sum float64
				for _, r := range first.rows {
					sum += dot64(w[r*C:(r+1)*C], a.out[r*C:(r+1)*C])
				}
				return sum
			}
			backward := func(drop *dropout) []float32 {
				loss()
				dX, dOut := make([]float32, N*C), append([]float32(nil), w...)
				m.layerBackward(l, a, dX, dOut, st, drop, hs, first)
				return dX
			}
			dX := backward(drop)
			h, tol := hSmooth, fdTol
			if cfg.HiddenAct == "relu" {
				// a small step crosses few of ReLU's kinks (at 1e-1 some
				// crossings make a 2% error; at 1e-2 it is 4e-4)
				h = hKink
			}
			checkFD(t, "dX", x, dX, loss, h, tol)

			// negative controls: the wrong activation derivative, and (with
			// dropout) a backward without the dropout masks
			saved := m.actBack
			if cfg.HiddenAct == "relu" {
				m.actBack = vec.GELUBackward
			} else {
				m.actBack = vec.ReLUBackward
			}
			bad := backward(drop)
			m.actBack = saved
			mustFailFD(t, "dX with the wrong activation derivative", x, bad, loss, h, tol)
			if c.dropout != 0 {
				mustFailFD(t, "dX without dropout masks", x, backward(nil), loss, h, tol)
			}
		})
	}
}

func TestFDPoolerBackward(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			m := testEncoder(t, name)
			if m.Pooler == nil {
				t.Skip("no pooler")
			}
			C := m.Config.HiddenSize
			r := rand.New(rand.NewPCG(5, 6))
			b := fdBatch(r, []int{3, 1, 5}, m.Config.VocabSize, 1)
			N, B := b.N(), b.B()
			H := randn(r, N*C, 3) // ×3: push the pooler's tanh out of its linear range
			w := randn(r, B*C, 1)
			pooled, first := make([]float32, B*C), make([]float32, B*C)
			loss := func() float64 {
				m.poolerForward(pooled, first, H, b)
				return dot64(w, pooled)
			}
			backward := func(pooledArg func() []float32) []float32 {
				loss()
				dH := make([]float32, N*C)
				m.poolerBackward(dH, w, pooledArg(), first, make([]float32, B*C), make([]float32, B*C), b)
				return dH
			}
			dH := backward(func() []float32 { return pooled })
			checkFD(t, "dH", H, dH, loss, hSmooth, fdTol)
			// negative control: tanh' dropped (backward sees a zero output)
			bad := backward(func() []float32 { return make([]float32, B*C) })
			mustFailFD(t, "dH without tanh'", H, bad, loss, hSmooth, fdTol)
		})
	}
}

func TestFDHeadBackward(t *testing.T) {
	cases := []struct {
		model, problem string
		labels, nc     int
		kind           string
		ownPooler      bool
	}{
		{"bert-tiny", SingleLabel, 3, 0, "pooled", false},
		{"bert-tiny", MultipleChoice, 0, 2, "pooled", false},
		{"roberta-tiny", SingleLabel, 3, 0, "roberta-cls", false},
		{"roberta-tiny", Regression, 0, 0, "roberta-cls", false},
		{"roberta-tiny", MultipleChoice, 0, 2, "pooled", true}, // AddPooler: the head's own pooler
	}
	for _, c := range cases {
		name := c.model + "/" + c.problem
		if c.ownPooler {
			name += "/own-pooler"
		}
		t.Run(name, func(t *testing.T) {
			m := testEncoder(t, c.model)
			C := m.Config.HiddenSize
			h, err := NewHead(m.Config, c.problem, c.labels, c.nc)
			if err != nil {
				t.Fatal(err)
			}
			if c.ownPooler {
				h.AddPooler()
			}
			if h.Kind != c.kind {
				t.Fatalf("kind %q, want %q", h.Kind, c.kind)
			}
			r := rand.New(rand.NewPCG(7, 8))
			for _, p := range h.Params() {
				copy(p.Data, randn(r, p.Numel(), 0.15)) // tanh input std ≈ 1: non-linear, not saturated
			}
			b := fdBatch(r, []int{3, 5, 2, 4}, m.Config.VocabSize, 1)
			N, B := b.N(), b.B()
			out := Output{LastHiddenState: randn(r, N*C, 1), PoolerOutput: randn(r, B*C, 0.5)}
			opt := &TrainOptions{Dropout: 0.2, Seed: 11, Step: 4}
			var w []float32
			loss := func() float64 {
				logits, err := h.Forward(out, b, opt)
				if err != nil {
					t.Fatal(err)
				}
				if w == nil {
					w = randn(r, len(logits), 1)
				}
				return dot64(w, logits)
			}
			backward := func(breakDrop bool) (din []float32) {
				loss()
				for _, p := range h.Params() {
					p.ZeroGrad()
				}
				if breakDrop {
					h.drop1, h.drop2 = dropSite{}, dropSite{}
				}
				dHidden, dPooled := make([]float32, N*C), make([]float32, B*C)
				h.Backward(w, b, dHidden, dPooled)
				if h.NeedsPooler() {
					return dPooled
				}
				return dHidden
			}
			din := backward(false)
			grads := map[*Param][]float32{}
			for _, p := range h.Params() {
				grads[p] = append([]float32(nil), p.Grad...)
			}
			x := out.LastHiddenState
			if h.NeedsPooler() {
				x = out.PoolerOutput
			}
			const step = hSmooth
			checkFD(t, "input", x, din, loss, step, fdTol)
			for _, p := range h.Params() {
				checkFD(t, p.Name, p.Data, grads[p], loss, step, fdTol)
			}
			// negative control: a backward that skips the dropout masks
			bad := backward(true)
			mustFailFD(t, "input without dropout masks", x, bad, loss, step, fdTol)
		})
	}
}

// addAt is a LayerHook that adds d to the input of layer l.
type addAt struct {
	l int
	d []float32
}

func (a *addAt) BeforeLayer(l int, H []float32, b *Batch) error {
	if l == a.l {
		vec.AddInPlace(H, a.d)
	}
	return nil
}

// captureDX is a BackwardHook that keeps a copy of every layer's dX.
type captureDX struct{ dX [][]float32 }

func (c *captureDX) AfterLayerBackward(l int, dX []float32, b *Batch) error {
	c.dX[l] = append([]float32(nil), dX...)
	return nil
}

// TestFDEncoderBackward checks Encoder.Backward end to end: the gradient it
// hands to the BackwardHook at layer l against finite differences of a
// perturbation added by a LayerHook at layer l, with dropout on and the
// loss reading both last_hidden_state and pooler_output.
func TestFDEncoderBackward(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			m := testEncoder(t, name)
			cfg := m.Config
			C, NL := cfg.HiddenSize, cfg.NumHiddenLayers
			r := rand.New(rand.NewPCG(9, 10))
			b := fdBatch(r, []int{5, 8, 2}, cfg.VocabSize, cfg.TypeVocabSize)
			N, B := b.N(), b.B()
			w, wp := randn(r, N*C, 1), randn(r, B*C, 1)
			hook := &addAt{d: make([]float32, N*C)}
			st := &TrainState{}
			opt := TrainOptions{Dropout: 0.1, Seed: 1, Step: 2}
			ctx := context.Background()
			loss := func() float64 {
				out, err := m.ForwardTrain(ctx, b, st, hook, opt)
				if err != nil {
					t.Fatal(err)
				}
				s := dot64(w, out.LastHiddenState)
				if out.PoolerOutput != nil {
					s += dot64(wp, out.PoolerOutput)
				}
				return s
			}
			loss()
			capt := &captureDX{dX: make([][]float32, NL)}
			var dPooled []float32
			if m.Pooler != nil {
				dPooled = append([]float32(nil), wp...)
			}
			if err := m.Backward(ctx, st, append([]float32(nil), w...), dPooled, capt); err != nil {
				t.Fatal(err)
			}
			for l := 0; l < NL; l++ {
				hook.l = l
				checkFD(t, fmt.Sprintf("dX of layer %d", l), hook.d, capt.dX[l], loss, hSmooth, fdTol)
			}
			// negative control: the gradient of the wrong layer
			hook.l = 0
			mustFailFD(t, "dX of layer 1 as layer 0's", hook.d, capt.dX[1], loss, hSmooth, fdTol)
		})
	}
}
