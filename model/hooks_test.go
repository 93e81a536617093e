package model

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aotp/aotp/kernels/gemm"
)

// toyHook exercises every LinearHook site the way methods will: a rank-2
// delta on the projections (like LoRA: adds to dInp), a bias delta on the
// LayerNorms (like BitFit), and at the dense outputs an output-dependent
// change out += c·tanh(out) (like an adapter: rewrites dOut).
type toyHook struct {
	C, I, r int
	A, B    map[[2]int][]float32 // [r, In], [Out, r] per (layer, site)
	dA, dB  map[[2]int][]float32
	bias    map[[2]int][]float32 // [C] per LayerNorm site
	dbias   map[[2]int][]float32
	c       []float32 // one scale per layer (used at SiteAttnOut and SiteOutput)
	dc      []float32
	saved   map[[2]int][]float32 // forward values the backward needs
}

func newToyHook(r *rand.Rand, L, C, I int) *toyHook {
	h := &toyHook{C: C, I: I, r: 2, A: map[[2]int][]float32{}, B: map[[2]int][]float32{}, dA: map[[2]int][]float32{},
		dB: map[[2]int][]float32{}, bias: map[[2]int][]float32{}, dbias: map[[2]int][]float32{}, saved: map[[2]int][]float32{}}
	for l := 0; l < L; l++ {
		for s := Site(0); s < NumSites; s++ {
			k := [2]int{l, int(s)}
			in, out := h.dims(s)
			if s.IsLayerNorm() {
				h.bias[k], h.dbias[k] = randn(r, C, 0.3), make([]float32, C)
				continue
			}
			h.A[k], h.B[k] = randn(r, h.r*in, 0.3), randn(r, out*h.r, 0.3)
			h.dA[k], h.dB[k] = make([]float32, h.r*in), make([]float32, out*h.r)
		}
		h.c, h.dc = append(h.c, float32(r.NormFloat64()*0.5)), append(h.dc, 0)
	}
	return h
}

func (h *toyHook) dims(s Site) (in, out int) {
	switch s {
	case SiteIntermediate:
		return h.C, h.I
	case SiteOutput:
		return h.I, h.C
	}
	return h.C, h.C
}

func (h *toyHook) AfterLinear(l int, s Site, out, inp []float32, b *Batch) error {
	k := [2]int{l, int(s)}
	N := b.N()
	if s.IsLayerNorm() {
		for n := 0; n < N; n++ {
			for i, v := range h.bias[k] {
				out[n*h.C+i] += v
			}
		}
		return nil
	}
	in, o := h.dims(s)
	if s == SiteAttnOut || s == SiteOutput {
		h.saved[[2]int{l, -int(s)}] = append([]float32(nil), out...)
		for i, v := range out {
			out[i] = v + h.c[l]*float32(math.Tanh(float64(v)))
		}
	}
	z := make([]float32, N*h.r)
	gemm.Sgemm(false, true, N, h.r, in, 1, inp, in, h.A[k], in, 0, z, h.r)
	gemm.Sgemm(false, true, N, o, h.r, 1, z, h.r, h.B[k], h.r, 1, out, o)
	h.saved[k] = z
	return nil
}

func (h *toyHook) LinearBackward(l int, s Site, dOut, inp, dInp []float32, b *Batch) error {
	k := [2]int{l, int(s)}
	N := b.N()
	if s.IsLayerNorm() {
		for n := 0; n < N; n++ {
			for i := range h.dbias[k] {
				h.dbias[k][i] += dOut[n*h.C+i]
			}
		}
		return nil
	}
	in, o := h.dims(s)
	z := h.saved[k]
	// delta = z·Bᵀ, z = inp·Aᵀ
	gemm.Sgemm(true, false, o, h.r, N, 1, dOut, o, z, h.r, 1, h.dB[k], h.r)
	dz := make([]float32, N*h.r)
	gemm.Sgemm(false, false, N, h.r, o, 1, dOut, o, h.B[k], h.r, 0, dz, h.r)
	gemm.Sgemm(true, false, h.r, in, N, 1, dz, h.r, inp, in, 1, h.dA[k], in)
	gemm.Sgemm(false, false, N, in, h.r, 1, dz, h.r, h.A[k], in, 1, dInp, in)
	if s == SiteAttnOut || s == SiteOutput {
		pre := h.saved[[2]int{l, -int(s)}]
		for i, v := range pre {
			t := float32(math.Tanh(float64(v)))
			h.dc[l] += dOut[i] * t
			dOut[i] *= 1 + h.c[l]*(1-t*t)
		}
	}
	return nil
}

// Gradients of every kind of LinearHook parameter, through the whole
// encoder's backward, agree with finite differences.
func TestFDLinearHooks(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			m := testEncoder(t, name)
			cfg := m.Config
			C, I := cfg.HiddenSize, cfg.IntermediateSize
			r := rand.New(rand.NewPCG(5, 6))
			b := fdBatch(r, []int{5, 8, 3}, cfg.VocabSize, cfg.TypeVocabSize)
			h := newToyHook(r, cfg.NumHiddenLayers, C, I)
			w := randn(r, b.N()*C, 1)
			st := &TrainState{}
			loss := func() float64 {
				out, err := m.ForwardTrain(context.Background(), b, st, h, TrainOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return dot64(w, out.LastHiddenState)
			}
			loss()
			if err := m.Backward(context.Background(), st, append([]float32(nil), w...), nil, h); err != nil {
				t.Fatal(err)
			}
			// inference Forward applies the same hooks
			out, err := m.Forward(context.Background(), b, &Workspace{}, h)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(dot64(w, out.LastHiddenState) - loss()); d > 1e-4 {
				t.Fatalf("Forward and ForwardTrain disagree with hooks: %g", d)
			}
			for _, k := range [][2]int{{0, int(SiteQuery)}, {1, int(SiteValue)}, {0, int(SiteIntermediate)}, {1, int(SiteOutput)}, {0, int(SiteAttnOut)}} {
				checkFD(t, Site(k[1]).String()+".A", h.A[k], h.dA[k], loss, hSmooth, fdTol)
				checkFD(t, Site(k[1]).String()+".B", h.B[k], h.dB[k], loss, hSmooth, fdTol)
			}
			for _, k := range [][2]int{{0, int(SiteAttnLayerNorm)}, {1, int(SiteOutputLayerNorm)}} {
				checkFD(t, Site(k[1]).String()+".bias", h.bias[k], h.dbias[k], loss, hSmooth, fdTol)
			}
			checkFD(t, "adapter-like scales", h.c, h.dc, loss, hSmooth, fdTol)
			mustFailFD(t, "swapped layers", h.bias[[2]int{0, int(SiteAttnLayerNorm)}], h.dbias[[2]int{1, int(SiteAttnLayerNorm)}], loss, hSmooth, fdTol)
		})
	}
}
