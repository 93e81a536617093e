package model

import "github.com/aotp/aotp/kernels/gemm"

// PackWeights packs the weight of every encoder Linear (query, key, value,
// attention output, intermediate, output, pooler) once into the GEMM
// kernel's panel layout, so that Forward no longer repacks them on every
// call (same results, bit for bit). Call it after loading, before serving;
// it returns the bytes packed.
//
// Memory stays at one copy: when a weight is a view into the read-only
// mapped checkpoint, its pages are released once packed (madvise
// MADV_DONTNEED; they are clean and file-backed). Linear.Weight stays valid:
// the backward pass (dX = dY·W) and any other reader fault the pages back
// in from the page cache. Weights that are not mapped (converted from
// F16/BF16, FromSource) stay in memory as they are.
//
// The packed copy is for the GEMM implementation selected now
// (gemm.SetImpl); after switching, Forward falls back to the unpacked
// weights until PackWeights is called again. Weights must not be changed
// after packing (the packed copy would be stale); call PackWeights again
// if they are.
func (m *Encoder) PackWeights() int64 {
	rel, _ := m.closer.(interface {
		ReleaseView(v []float32) (int64, error)
	})
	var total int64
	pack := func(l *Linear) {
		if l.Weight == nil {
			return
		}
		l.packed = gemm.PackB(l.Weight, l.Out, l.In)
		total += int64(l.packed.Bytes())
		if rel != nil {
			// A failure only costs memory: the view stays valid.
			_, _ = rel.ReleaseView(l.Weight)
		}
	}
	for i := range m.Layers {
		L := &m.Layers[i]
		pack(&L.Attention.Self.Query)
		pack(&L.Attention.Self.Key)
		pack(&L.Attention.Self.Value)
		pack(&L.Attention.Output.Dense)
		pack(&L.Intermediate.Dense)
		pack(&L.Output.Dense)
	}
	if m.Pooler != nil {
		pack(&m.Pooler.Dense)
	}
	return total
}

// Unpack drops the packed weights (PackWeights): Forward uses Weight again.
func (m *Encoder) Unpack() {
	for i := range m.Layers {
		L := &m.Layers[i]
		for _, l := range []*Linear{&L.Attention.Self.Query, &L.Attention.Self.Key, &L.Attention.Self.Value,
			&L.Attention.Output.Dense, &L.Intermediate.Dense, &L.Output.Dense} {
			l.packed = nil
		}
	}
	if m.Pooler != nil {
		m.Pooler.Dense.packed = nil
	}
}
