package model

import "github.com/aotp/aotp/kernels/parallel"

// First tokens only. Every task head reads each sequence's first token
// (RoBERTa's classification head, BERT's pooler, DeBERTa's ContextPooler,
// multiple choice), so the last layer needs its full attention (the first
// token attends to all) but the rest of it — attention.output, its
// LayerNorm, the FFN and the output LayerNorm, about 3/4 of a layer's
// multiply-adds — only at those B rows instead of N. For roberta-base at
// sequence 128 that saves ~6% of a forward pass's multiply-adds, and of a
// training step's: the gradient reaching the last layer is zero elsewhere.
//
// The rows are gathered after the attention, the layer's tail runs on a
// derived batch of one token per sequence (hooks see it; Batch.Root gives
// the original), and the outputs go back to the first rows. The other rows
// of the last hidden state are then not the encoder's output: they keep
// whatever the buffer held. Dropout masks are drawn at the rows' original
// indexes, so a first-token pass computes exactly the rows a full pass
// computes there, bit for bit (the tail is row-wise).

// firstTokens is the last layer's view of a batch in a first-token pass.
type firstTokens struct {
	rows  []int     // rows[s]: the first row of sequence s
	sub   Batch     // one token per sequence (parent: the pass's batch)
	x     []float32 // [B,C] the layer's input at those rows (the residual)
	tmp   []float32 // [B,C] scratch
	types []int32   // sub.TypeIDs' storage
}

// prepare sets f up for batch b and gathers the layer input x [N,C].
func (f *firstTokens) prepare(b *Batch, x []float32, C int) {
	B := b.B()
	f.rows = f.rows[:0]
	f.sub.IDs, f.sub.TypeIDs = f.sub.IDs[:0], nil
	f.sub.Offsets = append(f.sub.Offsets[:0], 0)
	for s := 0; s < B; s++ {
		lo, _ := b.Seq(s)
		f.rows = append(f.rows, lo)
		f.sub.IDs = append(f.sub.IDs, b.IDs[lo])
		f.sub.Offsets = append(f.sub.Offsets, s+1)
	}
	if b.TypeIDs != nil {
		f.types = growInt32(f.types, B)
		for s, r := range f.rows {
			f.types[s] = b.TypeIDs[r]
		}
		f.sub.TypeIDs = f.types
	}
	f.sub.parent, f.sub.rows = b, f.rows
	f.x = grow(f.x, B*C)
	gatherRows(f.x, x, f.rows, C)
}

// gatherRows writes dst[s] = src[rows[s]] (rows of C).
func gatherRows(dst, src []float32, rows []int, C int) {
	parallel.For(len(rows), rowGrain, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			copy(dst[s*C:(s+1)*C], src[rows[s]*C:(rows[s]+1)*C])
		}
	})
}

// compactRows moves x[rows[s]] to x[s] in place (rows increasing, rows[s] ≥ s).
func compactRows(x []float32, rows []int, C int) {
	for s, r := range rows {
		if r != s {
			copy(x[s*C:(s+1)*C], x[r*C:(r+1)*C])
		}
	}
}

// expandRows moves x[s] back to x[rows[s]] (compactRows' inverse for those
// rows; the others are left as they are).
func expandRows(x []float32, rows []int, C int) {
	for s := len(rows) - 1; s >= 0; s-- {
		if r := rows[s]; r != s {
			copy(x[r*C:(r+1)*C], x[s*C:(s+1)*C])
		}
	}
}

// expandRowsZero turns the compact x[:B] into the full [N,C] with zeros
// outside rows (a gradient that exists at the first tokens only).
func (f *firstTokens) expandRowsZero(x []float32, N, C int) {
	B := len(f.rows)
	f.tmp = grow(f.tmp, B*C)
	copy(f.tmp, x[:B*C])
	clear(x[:N*C])
	for s, r := range f.rows {
		copy(x[r*C:(r+1)*C], f.tmp[s*C:(s+1)*C])
	}
}

// applyRows applies the dropout to x [len(rows), C] whose row s is row
// rows[s] of the site's [N,C] (nil rows: x is the whole site [N,C]), on
// every thread (the masks are counter-based: the split changes nothing).
// Rows count from the piece's first row in the step's batch.
func (s dropSite) applyRows(x []float32, rows []int, C int) {
	if s.p == 0 || C == 0 {
		return
	}
	base := s.at.rows
	parallel.For(len(x)/C, dropGrain, func(lo, hi int) {
		if rows == nil {
			s.applyAt(x[lo*C:hi*C], (base+lo)*C)
			return
		}
		for i := lo; i < hi; i++ {
			s.applyAt(x[i*C:(i+1)*C], (base+rows[i])*C)
		}
	})
}

// dropGrain is the fewest rows of a dropout a thread takes (rows of 768
// take ~1 µs each).
const dropGrain = 64

// firstTokensAt reports whether layer l is where a first-token pass starts:
// the last layer, unless DeBERTa's convolution follows it (layer 0 of a
// one-layer model: it reads every row of the layer's output).
func (m *Encoder) firstTokensAt(l int) bool {
	return l == len(m.Layers)-1 && !(l == 0 && m.Deberta != nil && m.Deberta.Conv != nil)
}
