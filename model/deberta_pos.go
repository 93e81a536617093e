package model

import (
	"fmt"
	"slices"

	"github.com/aotp/aotp/kernels/vec"
)

// Position tables a PositionHook changes (hooks.go): with share_att_key,
// DeBERTa v2/v3 project the relative embeddings with the layer's own
// query_proj and key_proj, so LoRA or BitFit on those modules change the
// c2p/p2c terms as well as the content projections. The frozen tables stay
// cached (positionProjections); a hooked layer gets one more table per
// group of sequences (one per task in a mixed batch), computed per pass
// from the frozen table: R·C floats copied plus the method's own change
// (LoRA: two rank-r products), small beside the layer.

// posTables are one layer's tables at one site (c2p keys or p2c queries)
// when a PositionHook changes them for some sequence.
type posTables struct {
	on    bool        // some sequence has its own table
	seq   [][]float32 // per sequence: the table it uses [R,C]
	group []int       // per sequence: index into ids/tabs, -1 for the frozen table
	ids   []int       // the hook's group numbers
	tabs  [][]float32 // per group: its table [R,C]
	dtabs [][]float32 // training: per group, the gradient of its table [R,C]
	// the RelativeShiftHook's shift per group (empty: none), the projection
	// and dropout it goes through, scratch
	shift           [][]float32
	proj            *Linear
	drop            dropSite
	scratch, dshift []float32
}

// table is the table sequence s uses, def when no hook changed any.
func (p *posTables) table(s int, def []float32) []float32 {
	if !p.on {
		return def
	}
	return p.seq[s]
}

// grad is where the backward accumulates the gradient of sequence s's
// table: its group's buffer when hooked, else def (nil: not needed).
func (p *posTables) grad(s int, def []float32) []float32 {
	if !p.on {
		return def
	}
	if k := p.group[s]; k >= 0 {
		return p.dtabs[k]
	}
	return def
}

// sharedPos reports whether layer l's projection of the relative embeddings
// at site (SiteKey: c2p, SiteQuery: p2c) is the content projection itself.
func (d *DebertaEncoder) sharedPos(l int, site Site) bool {
	if d.RelEmbeddings == nil {
		return false
	}
	switch site {
	case SiteKey:
		return d.c2p && d.Pos[l].PosKey == nil
	case SiteQuery:
		return d.p2c && d.Pos[l].PosQuery == nil
	}
	return false
}

// hookPositions fills p with layer l's tables at site for the batch: the
// frozen table base [R,C] for sequences the hooks leave alone, and per group
// a copy of it changed by the hooks: shifted by the projection of the
// RelativeShiftHook's row (through drop, the layer's dropout of the
// relative embeddings), then changed by the PositionHook from rel [R,C].
func (m *Encoder) hookPositions(p *posTables, hs *hookSet, l int, site Site, base, rel []float32, b *Batch, drop dropSite) error {
	p.on = false
	h := hs.pos
	if h == nil || base == nil {
		return nil
	}
	p.group, p.ids = p.group[:0], p.ids[:0]
	for s := 0; s < b.B(); s++ {
		k := -1
		if g := h.PositionGroup(l, site, s, b); g >= 0 {
			if k = slices.Index(p.ids, g); k < 0 {
				k = len(p.ids)
				p.ids = append(p.ids, g)
			}
		}
		p.group = append(p.group, k)
	}
	if len(p.ids) == 0 {
		return nil
	}
	p.on = true
	p.proj, p.drop = m.posProj(l, site == SiteKey), drop
	for len(p.tabs) < len(p.ids) {
		p.tabs, p.shift = append(p.tabs, nil), append(p.shift, nil)
	}
	for k, g := range p.ids {
		p.tabs[k] = grow(p.tabs[k], len(base))
		copy(p.tabs[k], base)
		p.shift[k] = p.shift[k][:0]
		if hs.shift != nil {
			if d := hs.shift.RelativeShift(g); d != nil {
				if len(d) != p.proj.In {
					return fmt.Errorf("layer %d %s (relative positions): shift of %d values, not %d", l, site, len(d), p.proj.In)
				}
				p.shift[k] = append(p.shift[k], d...)
				p.shiftForward(p.tabs[k], p.shift[k])
			}
		}
		if err := h.AfterPositions(l, site, g, p.tabs[k], rel, b); err != nil {
			return fmt.Errorf("layer %d %s (relative positions): %w", l, site, err)
		}
	}
	p.seq = p.seq[:0]
	for _, k := range p.group {
		if k < 0 {
			p.seq = append(p.seq, base)
		} else {
			p.seq = append(p.seq, p.tabs[k])
		}
	}
	return nil
}

// shiftForward adds to tab [R,C] the projection (without bias) of the
// relative embeddings' shift: every row of them gets + d [C], then the
// layer's dropout. Without dropout that is one row W·d added to every row,
// else drop(d broadcast)·Wᵀ, an R×C×C product (as PyTorch projects the
// shifted embeddings anew). Both go through the projection's packed
// weights, as its table does (F16-rounded ones after PackWeightsHalf).
func (p *posTables) shiftForward(tab, d []float32) {
	C, O := p.proj.In, p.proj.Out // W [O, C], d [C], tab [R, O]
	R := len(tab) / O
	if p.drop.p == 0 {
		p.scratch = grow(p.scratch, O)
		v := p.scratch[:O]
		p.proj.MulT(v, d, 1, 0)
		for r := 0; r < R; r++ {
			vec.AddInPlace(tab[r*O:(r+1)*O], v)
		}
		return
	}
	p.scratch = grow(p.scratch, R*C)
	D := p.scratch[:R*C]
	for r := 0; r < R; r++ {
		copy(D[r*C:(r+1)*C], d)
	}
	p.drop.apply(D)
	p.proj.MulT(tab, D, R, 1)
}

// shiftBackward is the gradient [C] of the shift from dtab [R,C], the
// gradient of the table: Σ_rows drop(dtab·W) (without dropout (Σ_rows
// dtab)·W), through the backward's packed weights like every input
// gradient.
func (p *posTables) shiftBackward(dtab []float32) []float32 {
	C, O := p.proj.In, p.proj.Out
	R := len(dtab) / O
	p.dshift = grow(p.dshift, C)
	dd := p.dshift[:C]
	if p.drop.p == 0 {
		p.scratch = grow(p.scratch, O)
		s := p.scratch[:O]
		clear(s)
		for r := 0; r < R; r++ {
			vec.AddInPlace(s, dtab[r*O:(r+1)*O])
		}
		linearBackwardInput(p.proj, dd, s, 1, 0)
		return dd
	}
	clear(dd)
	p.scratch = grow(p.scratch, R*C)
	DD := p.scratch[:R*C]
	linearBackwardInput(p.proj, DD, dtab, R, 0)
	p.drop.apply(DD)
	for r := 0; r < R; r++ {
		vec.AddInPlace(dd, DD[r*C:(r+1)*C])
	}
	return dd
}

// zeroGrads readies one zeroed gradient buffer per group (training).
func (p *posTables) zeroGrads() {
	if !p.on {
		return
	}
	for len(p.dtabs) < len(p.ids) {
		p.dtabs = append(p.dtabs, nil)
	}
	for k := range p.ids {
		p.dtabs[k] = grow(p.dtabs[k], len(p.tabs[k]))
		clear(p.dtabs[k])
	}
}

// backward hands each group's gradient to the hooks.
func (p *posTables) backward(hs *hookSet, l int, site Site, rel []float32, b *Batch) error {
	if !p.on {
		return nil
	}
	for k, g := range p.ids {
		if hs.posBk != nil {
			if err := hs.posBk.PositionsBackward(l, site, g, p.dtabs[k], rel, b); err != nil {
				return fmt.Errorf("layer %d %s (relative positions) backward: %w", l, site, err)
			}
		}
		if hs.shiftBk != nil && len(p.shift[k]) > 0 {
			if err := hs.shiftBk.RelativeShiftBackward(g, p.shiftBackward(p.dtabs[k])); err != nil {
				return fmt.Errorf("layer %d %s (relative positions) backward: %w", l, site, err)
			}
		}
	}
	return nil
}

// SharedPositionProjection reports whether DeBERTa's relative embeddings
// are projected at layer l by the content projection at site itself
// (SiteKey, SiteQuery with share_att_key).
func (m *Encoder) SharedPositionProjection(l int, site Site) bool {
	return m.Deberta != nil && l >= 0 && l < len(m.Layers) && m.Deberta.sharedPos(l, site)
}

// OwnPositionProjection is layer l's own projection of the relative
// embeddings at site (SiteKey: c2p keys, SiteQuery: p2c queries) where it is
// not the content projection: its module path inside encoder.layer.{l}
// (v1 attention.self.pos_proj / pos_q_proj, v2 pos_key_proj /
// pos_query_proj) and the Linear; nil when there is none.
func (m *Encoder) OwnPositionProjection(l int, site Site) (string, *Linear) {
	d := m.Deberta
	if d == nil || d.RelEmbeddings == nil || l < 0 || l >= len(d.Pos) {
		return "", nil
	}
	names := [2]string{"attention.self.pos_key_proj", "attention.self.pos_query_proj"}
	if d.v1 {
		names = [2]string{"attention.self.pos_proj", "attention.self.pos_q_proj"}
	}
	switch {
	case site == SiteKey && d.Pos[l].PosKey != nil:
		return names[0], d.Pos[l].PosKey
	case site == SiteQuery && d.Pos[l].PosQuery != nil:
		return names[1], d.Pos[l].PosQuery
	}
	return "", nil
}
