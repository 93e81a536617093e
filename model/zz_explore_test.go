package model

import (
	"math/rand/v2"
	"testing"
)

func TestZZExplore(t *testing.T) {
	for _, name := range []string{"bert-tiny", "bert-tiny-relu"} {
		m := testEncoder(t, name)
		cfg := m.Config
		C, I := cfg.HiddenSize, cfg.IntermediateSize
		r := rand.New(rand.NewPCG(3, 4))
		b := fdBatch(r, []int{4, 9, 6}, cfg.VocabSize, 1)
		N := b.N()
		st := &TrainState{}
		st.reserve(cfg, b, 9)
		st.batch = b
		a := &st.layers[1]
		x := a.x[:N*C]
		copy(x, randn(r, N*C, 1))
		w := randn(r, N*C, 1)
		L := &m.Layers[1]
		loss := func() float64 {
			m.layerForward(L, a, st.tmp, st.g[:N*I], b, st.scores, nil)
			return dot64(w, a.out[:N*C])
		}
		loss()
		dX, dOut := make([]float32, N*C), append([]float32(nil), w...)
		m.layerBackward(L, a, dX, dOut, st, nil)
		for _, h := range []float64{3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4} {
			t.Logf("%s h=%g err1=%.3g err8=%.3g", name, h, fdErr(x, dX, loss, h, 1, 1), fdErr(x, dX, loss, h, 8, 1))
		}
	}
}
