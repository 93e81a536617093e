package model

import (
	"errors"
	"testing"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/safetensors"
)

// An F16 checkpoint's weights are converted onto the heap; after packing,
// SpillWeights moves those originals to a mapped scratch file: the same
// values and outputs, and WeightBytes counts the packed copies only, as
// for a float32 checkpoint. The word embeddings move too.
func TestSpillWeights(t *testing.T) {
	m, b, r := loadWrittenModel(t, 5, safetensors.F16Tensor)
	up := &m.Layers[1].Intermediate.Dense
	wantW := append([]float32(nil), up.Weight...)
	last, pooled := forwardCopy(t, m, b)
	packed := m.PackWeights()
	var linear int64
	for _, l := range m.packable() {
		linear += 4 * int64(len(l.Weight))
	}
	if got, want := m.WeightBytes(), 4*int64(m.NumParams())+packed; got != want {
		t.Errorf("before spilling: WeightBytes %d, want %d (heap originals and packed copies)", got, want)
	}

	moved, err := m.SpillWeights(t.TempDir())
	if errors.Is(err, ErrNoSpill) {
		t.Skipf("no disk-backed temporary directory: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if emb := 4 * int64(len(m.Embeddings.WordEmbeddings)); moved != linear+emb {
		t.Errorf("moved %d bytes, want the %d of the Linear weights and %d of the word embeddings", moved, linear, emb)
	}
	if got, want := m.WeightBytes(), 4*int64(m.NumParams())-linear+packed; got != want {
		t.Errorf("after spilling: WeightBytes %d, want %d (packed copies only)", got, want)
	}
	rel := m.closer.(releaser)
	for _, l := range m.packable() {
		if !rel.Releasable(l.Weight) {
			t.Fatalf("a spilled weight is not a mapped view")
		}
	}
	if !rel.Releasable(m.Embeddings.WordEmbeddings) {
		t.Fatalf("the spilled word embeddings are not a mapped view")
	}
	sameBits(t, "spilled weight", up.Weight, wantW)
	l2, p2 := forwardCopy(t, m, b)
	sameBits(t, "last_hidden_state after spilling", l2, last)
	sameBits(t, "pooler_output after spilling", p2, pooled)

	// the backward product dX = dY·W reads the file's pages, then from the
	// packed copy PackBackwardWeights now makes (the weights are mapped)
	N := 7
	dout := randn(r, N*up.Out, 1)
	d1, d2 := make([]float32, N*up.In), make([]float32, N*up.In)
	gemm.Sgemm(false, false, N, up.In, up.Out, 1, dout, up.Out, wantW, up.In, 0, d1, up.In)
	linearBackwardInput(up, d2, dout, N, 0)
	sameBits(t, "dX from the spilled weight", d2, d1)
	if n := m.PackBackwardWeights(); n == 0 {
		t.Error("PackBackwardWeights packed nothing after spilling")
	}
	linearBackwardInput(up, d2, dout, N, 0)
	sameBits(t, "dX from the backward's packed weight", d2, d1)

	if again, err := m.SpillWeights(t.TempDir()); again != 0 || err != nil {
		t.Errorf("a second SpillWeights moved %d bytes (%v), want nothing", again, err)
	}
}
