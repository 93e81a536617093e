package peft

import (
	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/model"
)

// Mixed serves a batch whose sequences belong to different tasks: tasks
// differ only in their AoT rows, so one forward pass of the shared backbone
// serves them all. Seq[s] is the AoT of sequence s (nil: the plain backbone).
type Mixed struct {
	Seq  []*AoT
	rows []float32
}

// BeforeLayer adds each sequence's own task rows (model.LayerHook).
func (m *Mixed) BeforeLayer(l int, H []float32, b *model.Batch) error {
	for s := 0; s < b.B(); s++ {
		a := m.Seq[s]
		if a == nil {
			continue
		}
		C := a.C
		lo, hi := b.Seq(s)
		if t := a.Layers[l].Table; t != nil {
			for i := lo; i < hi; i++ {
				t.AddRow(H[i*C:(i+1)*C], int(b.IDs[i]))
			}
			continue
		}
		m.rows = grow(m.rows, (hi-lo)*C)
		a.Rows(l, b.IDs[lo:hi], m.rows)
		vec.AddInPlace(H[lo*C:hi*C], m.rows)
	}
	return nil
}
