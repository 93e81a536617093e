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
	m, b, r := loadWrittenModel(t, 5, safetensors.F16Tensor, LoadOptions{})
	up := &m.Layers[1].Intermediate.Dense
	wantW := append([]float32(nil), up.Weight...)
	last, pooled := forwardCopy(t, m, b)
	packed := m.PackWeights()
	linear := linearBytes(m)
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

// LoadWith(Float32File) converts an F16 or BF16 checkpoint into a mapped
// float32 file at load: the encoder is the heap-converting Load's, bit for
// bit, but every weight is a mapped view, so packing gives the pages back
// and there is nothing left to spill.
func TestLoadFloat32File(t *testing.T) {
	for _, tensor := range []func(string, []int, []float32) safetensors.Tensor{safetensors.F16Tensor, safetensors.BF16Tensor} {
		heap, b, _ := loadWrittenModel(t, 6, tensor, LoadOptions{})
		m, _, _ := loadWrittenModel(t, 6, tensor, LoadOptions{Float32File: true})
		tm, ok := m.closer.(*tempModel)
		if !ok {
			t.Skipf("no disk-backed scratch directory here (closer %T)", m.closer)
		}
		if len(tm.Names()) != len(heap.closer.(*safetensors.Model).Names()) {
			t.Fatalf("the scratch file has %d tensors, the checkpoint %d", len(tm.Names()), len(heap.closer.(*safetensors.Model).Names()))
		}
		sameBits(t, "word embeddings", m.Embeddings.WordEmbeddings, heap.Embeddings.WordEmbeddings)
		for i, l := range m.packable() {
			if !tm.Releasable(l.Weight) {
				t.Fatalf("Linear %d's weight is not a mapped view", i)
			}
			sameBits(t, "weight", l.Weight, heap.packable()[i].Weight)
		}
		want, wantP := forwardCopy(t, heap, b)
		got, gotP := forwardCopy(t, m, b)
		sameBits(t, "last_hidden_state", got, want)
		sameBits(t, "pooler_output", gotP, wantP)
		packed := m.PackWeights()
		linear := linearBytes(m)
		if got, want := m.WeightBytes(), 4*int64(m.NumParams())-linear+packed; got != want {
			t.Errorf("WeightBytes %d, want %d (packed copies only)", got, want)
		}
		if n, err := m.SpillWeights(t.TempDir()); n != 0 || err != nil {
			t.Errorf("SpillWeights moved %d bytes (%v) of a float32 file", n, err)
		}
		got, _ = forwardCopy(t, m, b)
		sameBits(t, "last_hidden_state packed", got, want)
	}
}
