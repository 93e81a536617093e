package peft

import (
	"slices"

	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/model"
)

// Mixed serves a batch whose sequences belong to different tasks: tasks
// differ only in their AoT rows, so one forward pass of the shared backbone
// serves them all. Seq[s] is the AoT of sequence s (nil: the plain backbone).
//
// Fused tasks gather their rows from their tables. Compact tasks (FC or
// Kronecker factors) compute the rows of the distinct ids of their tokens
// once per layer per batch, taking hot rows from the task's RowCache when
// it has one.
type Mixed struct {
	Seq []*AoT

	batch  *model.Batch
	groups []*taskGroup
	byAoT  map[*AoT]*taskGroup
	spare  []*taskGroup
}

// taskGroup is one task's share of a batch.
type taskGroup struct {
	aot  *AoT
	pos  []int32   // positions of the task's tokens in the batch
	uniq []int32   // their distinct ids, sorted
	idx  []int32   // per position: index into uniq
	eU   []float32 // [U, CE] FC: embedding rows of uniq
	s    rowScratch
	// row cache scratch
	miss    []int32   // ids not in the cache
	missIdx []int32   // their indices into uniq
	eMiss   []float32 // [M, C]
	rows    []float32 // [U, C] assembled rows
}

func (m *Mixed) prepare(b *model.Batch) {
	if m.batch == b {
		return
	}
	m.batch = b
	if m.byAoT == nil {
		m.byAoT = map[*AoT]*taskGroup{}
	}
	for _, g := range m.groups {
		g.aot, g.pos = nil, g.pos[:0]
		m.spare = append(m.spare, g)
	}
	m.groups = m.groups[:0]
	clear(m.byAoT)
	for s := 0; s < b.B() && s < len(m.Seq); s++ {
		a := m.Seq[s]
		if a == nil {
			continue
		}
		g := m.byAoT[a]
		if g == nil {
			if n := len(m.spare); n > 0 {
				g, m.spare = m.spare[n-1], m.spare[:n-1]
			} else {
				g = &taskGroup{}
			}
			g.aot = a
			m.byAoT[a] = g
			m.groups = append(m.groups, g)
		}
		lo, hi := b.Seq(s)
		for i := lo; i < hi; i++ {
			g.pos = append(g.pos, int32(i))
		}
	}
	for _, g := range m.groups {
		if g.aot.Fused() {
			continue
		}
		g.uniq = g.uniq[:0]
		for _, i := range g.pos {
			g.uniq = append(g.uniq, b.IDs[i])
		}
		slices.Sort(g.uniq)
		g.uniq = slices.Compact(g.uniq)
		g.idx = g.idx[:0]
		for _, i := range g.pos {
			j, _ := slices.BinarySearch(g.uniq, b.IDs[i])
			g.idx = append(g.idx, int32(j))
		}
		if g.aot.Cache == nil {
			g.eU = g.aot.gatherE(g.eU, g.uniq)
		}
	}
}

// BeforeLayer adds each sequence's own task rows (model.LayerHook).
func (m *Mixed) BeforeLayer(l int, H []float32, b *model.Batch) error {
	m.prepare(b)
	for _, g := range m.groups {
		a := g.aot
		C := a.C
		if t := a.Layers[l].Table; t != nil {
			parallel.For(len(g.pos), 64, func(lo, hi int) {
				for _, i := range g.pos[lo:hi] {
					t.AddRow(H[int(i)*C:(int(i)+1)*C], int(b.IDs[i]))
				}
			})
			continue
		}
		rows := g.layerRows(l)
		parallel.For(len(g.pos), 64, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				i, u := int(g.pos[k]), int(g.idx[k])
				vec.AddInPlace(H[i*C:(i+1)*C], rows[u*C:(u+1)*C])
			}
		})
	}
	return nil
}

// layerRows returns the rows [U, C] of the group's distinct ids at layer l.
func (g *taskGroup) layerRows(l int) []float32 {
	a := g.aot
	ly := &a.Layers[l]
	if a.Cache == nil {
		a.computeRows(ly, g.uniq, g.eU, &g.s)
		return g.s.rows
	}
	C := a.C
	g.rows = grow(g.rows, len(g.uniq)*C)
	g.miss, g.missIdx = g.miss[:0], g.missIdx[:0]
	a.Cache.mu.Lock()
	defer a.Cache.mu.Unlock()
	lc := a.Cache.layers[l]
	for u, x := range g.uniq {
		if row, ok := lc.get(x); ok {
			copy(g.rows[u*C:(u+1)*C], row)
			continue
		}
		g.miss, g.missIdx = append(g.miss, x), append(g.missIdx, int32(u))
	}
	if len(g.miss) == 0 {
		return g.rows
	}
	g.eMiss = a.gatherE(g.eMiss, g.miss)
	a.computeRows(ly, g.miss, g.eMiss, &g.s)
	for k, x := range g.miss {
		row := g.s.rows[k*C : (k+1)*C]
		copy(g.rows[int(g.missIdx[k])*C:], row)
		lc.put(x, row)
	}
	return g.rows
}
