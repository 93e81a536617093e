package peft

import "github.com/aotp/aotp/model"

// mixedLinear dispatches LinearHook calls of a mixed-task batch: each run
// of consecutive sequences of one task gets its method's hook on its own
// rows, with a sub-batch of just those sequences. Row-wise methods (LoRA,
// BitFit, adapters) then act as if they ran alone.
type mixedLinear struct {
	Seq   []model.LinearHook // per sequence; nil: none
	batch *model.Batch
	runs  []linearRun
}

type linearRun struct {
	hook   model.LinearHook
	lo, hi int // token rows
	sub    model.Batch
}

func (m *mixedLinear) prepare(b *model.Batch) {
	if m.batch == b {
		return
	}
	m.batch = b
	m.runs = m.runs[:0]
	for s := 0; s < b.B() && s < len(m.Seq); s++ {
		h := m.Seq[s]
		if h == nil {
			continue
		}
		lo, hi := b.Seq(s)
		if n := len(m.runs); n > 0 && m.runs[n-1].hook == h && m.runs[n-1].hi == lo {
			r := &m.runs[n-1]
			r.hi = hi
			r.sub.Offsets = append(r.sub.Offsets, hi-r.lo)
			continue
		}
		m.runs = append(m.runs, linearRun{hook: h, lo: lo, hi: hi, sub: model.Batch{Offsets: []int{0, hi - lo}}})
	}
	for i := range m.runs {
		r := &m.runs[i]
		r.sub.IDs = b.IDs[r.lo:r.hi]
		if b.TypeIDs != nil {
			r.sub.TypeIDs = b.TypeIDs[r.lo:r.hi]
		}
	}
}

// AfterLinear runs each task's hook on its rows (model.LinearHook).
func (m *mixedLinear) AfterLinear(l int, site model.Site, out, inp []float32, b *model.Batch) error {
	m.prepare(b)
	N := b.N()
	if N == 0 {
		return nil
	}
	outW := len(out) / N
	inW := 0
	if inp != nil {
		inW = len(inp) / N
	}
	for i := range m.runs {
		r := &m.runs[i]
		var in []float32
		if inp != nil {
			in = inp[r.lo*inW : r.hi*inW]
		}
		if err := r.hook.AfterLinear(l, site, out[r.lo*outW:r.hi*outW], in, &r.sub); err != nil {
			return err
		}
	}
	return nil
}

// eachRun calls f with each run's rows of out [N, W] and its sub-batch.
func (m *mixedLinear) eachRun(out []float32, b *model.Batch, f func(h model.LinearHook, rows []float32, sub *model.Batch) error) error {
	m.prepare(b)
	N := b.N()
	if N == 0 {
		return nil
	}
	W := len(out) / N
	for i := range m.runs {
		r := &m.runs[i]
		if err := f(r.hook, out[r.lo*W:r.hi*W], &r.sub); err != nil {
			return err
		}
	}
	return nil
}

// AfterEmbeddings runs the embeddings-output hook of each run's method that
// has one (BitFit's embeddings.LayerNorm.bias) on its rows
// (model.EmbeddingsOutputHook).
func (m *mixedLinear) AfterEmbeddings(out []float32, b *model.Batch) error {
	return m.eachRun(out, b, func(h model.LinearHook, rows []float32, sub *model.Batch) error {
		if e, ok := h.(model.EmbeddingsOutputHook); ok {
			return e.AfterEmbeddings(rows, sub)
		}
		return nil
	})
}

// AfterConv and AfterConvLayerNorm run each run's method's ConvHook (BitFit's
// encoder.conv biases) on its rows (model.ConvHook).
func (m *mixedLinear) AfterConv(out []float32, b *model.Batch) error {
	return m.eachRun(out, b, func(h model.LinearHook, rows []float32, sub *model.Batch) error {
		if c, ok := h.(model.ConvHook); ok {
			return c.AfterConv(rows, sub)
		}
		return nil
	})
}

func (m *mixedLinear) AfterConvLayerNorm(out []float32, b *model.Batch) error {
	return m.eachRun(out, b, func(h model.LinearHook, rows []float32, sub *model.Batch) error {
		if c, ok := h.(model.ConvHook); ok {
			return c.AfterConvLayerNorm(rows, sub)
		}
		return nil
	})
}

// PositionGroup gives each task whose method changes DeBERTa's position
// tables its own group: the index of its first sequence in the batch
// (model.PositionHook).
func (m *mixedLinear) PositionGroup(l int, site model.Site, s int, b *model.Batch) int {
	if s >= len(m.Seq) {
		return -1
	}
	h, ok := m.Seq[s].(model.PositionHook)
	if !ok || h.PositionGroup(l, site, 0, b) < 0 {
		return -1
	}
	for first := 0; first < s; first++ {
		if m.Seq[first] == m.Seq[s] {
			return first
		}
	}
	return s
}

// AfterPositions asks group g's method for its table.
func (m *mixedLinear) AfterPositions(l int, site model.Site, g int, out, rel []float32, b *model.Batch) error {
	return m.Seq[g].(model.PositionHook).AfterPositions(l, site, 0, out, rel, b)
}

// RelativeShift asks group g's method (model.RelativeShiftHook).
func (m *mixedLinear) RelativeShift(g int) []float32 {
	if h, ok := m.Seq[g].(model.RelativeShiftHook); ok {
		return h.RelativeShift(0)
	}
	return nil
}

// mixedPrefix gives each sequence of a mixed-task batch its own task's
// attention prefix (P-Tuning v2); per-sequence state is the method's.
type mixedPrefix struct {
	Seq []model.PrefixHook // per sequence; nil: none
}

// Prefix asks sequence s's method (model.PrefixHook).
func (m *mixedPrefix) Prefix(l, s int, b *model.Batch) (k, v []float32) {
	if s >= len(m.Seq) || m.Seq[s] == nil {
		return nil, nil
	}
	return m.Seq[s].Prefix(l, 0, b)
}

// mixedEmbed gives each sequence's virtual tokens its own task's vectors
// (prompt tuning).
type mixedEmbed struct {
	Seq []model.EmbeddingHook // per sequence; nil: none
}

// VirtualEmbedding asks sequence s's method (model.EmbeddingHook).
func (m *mixedEmbed) VirtualEmbedding(id int32, s int, b *model.Batch) []float32 {
	if s >= len(m.Seq) || m.Seq[s] == nil {
		return nil
	}
	return m.Seq[s].VirtualEmbedding(id, 0, b)
}
