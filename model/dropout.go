package model

import "github.com/aotp/aotp/kernels/vec"

// Dropout in training draws its keep/drop decisions from a counter-based
// hash of (seed, step, layer, site, element index) instead of a stateful
// RNG: the backward pass recomputes the same mask instead of storing it, the
// result does not depend on how work is split across threads, and a resumed
// run draws the same masks as an uninterrupted one.

// Dropout sites inside a layer.
const (
	siteEmbeddings = iota + 1
	siteAttnProbs
	siteAttnOut
	siteFFNOut
	siteHead
)

// dropout is inverted dropout with probability p; a nil *dropout is off.
type dropout struct {
	p   float32
	key uint64
	at  piece
}

// piece places a pass's batch in the optimizer step's batch it is a piece
// of (TrainOptions.RowBase, SeqBase): masks are drawn at the rows and
// sequences of that batch, so a step run in pieces (gradient accumulation)
// drops exactly what the whole batch in one pass drops.
type piece struct{ rows, seqs int }

// newDropout is the dropout of a training pass with options opt (nil: off).
func newDropout(p float64, opt *TrainOptions) *dropout {
	if p <= 0 || opt == nil {
		return nil
	}
	return &dropout{p: float32(p), key: vec.Mix(vec.Mix(opt.Seed) ^ opt.Step), at: piece{opt.RowBase, opt.SeqBase}}
}

// layer derives the dropout of layer l.
func (d *dropout) layer(l int) *dropout {
	if d == nil {
		return nil
	}
	return &dropout{p: d.p, key: vec.Mix(d.key ^ uint64(l+1)*0x9e3779b97f4a7c15), at: d.at}
}

// dropSite is one dropout site; its zero value keeps everything.
type dropSite struct {
	p   float32
	key uint64
	at  piece
}

// site is a site whose elements belong to tokens or sequences of the batch
// (applyRows, seq and head offsets count from the piece's place).
func (d *dropout) site(s int) dropSite {
	if d == nil {
		return dropSite{}
	}
	return dropSite{p: d.p, key: vec.Mix(d.key + uint64(s)*0xbf58476d1ce4e5b9), at: d.at}
}

// shared is a site whose elements belong to no token (DeBERTa's relative
// embeddings): every piece of a step draws the same mask, as the whole
// batch draws it once.
func (d *dropout) shared(s int) dropSite {
	ds := d.site(s)
	ds.at = piece{}
	return ds
}

// seq is the site for sequence s of the batch (attention probabilities:
// element i of the sequence's [heads, T, W] block is i), keyed by its
// sequence in the step's batch.
func (s dropSite) seq(i int) dropSite {
	if s.p == 0 {
		return s
	}
	return dropSite{p: s.p, key: vec.Mix(s.key ^ uint64(s.at.seqs+i+1)*0xd6e8feb86659fd93)}
}

// applySeqs drops x [B, W], one row per sequence of the batch (the task
// head's input), each at its sequence in the step's batch.
func (s dropSite) applySeqs(x []float32, W int) { s.applyAt(x, s.at.seqs*W) }

// keep reports whether element i survives.
func (s dropSite) keep(i int) bool { return vec.DropKeep(s.key, i, s.p) }

// apply drops x[i] (element index off+i) and scales the rest by 1/(1-p);
// the backward pass applies the same to the gradient (vec.DropoutAt: the
// masks are a hash of the key and the element index, 16 bits an element, so
// p is used with a resolution of 2⁻¹⁶).
func (s dropSite) apply(x []float32) { s.applyAt(x, 0) }

func (s dropSite) applyAt(x []float32, off int) { vec.DropoutAt(x, s.key, off, s.p) }

// Dropout is a dropout site for a method's own dropout (LoRA's on its
// input), with the encoder's counter-based masks: the same (options, layer,
// site) always draws the same mask, so the backward pass recomputes it.
// The zero value keeps everything.
type Dropout struct{ s dropSite }

// siteMethod is the first dropout site number of methods' own dropout,
// clear of the encoder's (siteEmbeddings … siteHead+1).
const siteMethod = 64

// NewMethodDropout is the dropout with probability p (not opt.Dropout: a
// method has its own) at site of layer l for the step of opt; salt tells
// apart several dropouts of one method at the same site. opt nil or p <= 0
// gives the identity.
func NewMethodDropout(opt *TrainOptions, p float64, l int, site Site, salt int) Dropout {
	if opt == nil {
		return Dropout{}
	}
	return Dropout{newDropout(p, opt).layer(l).site(siteMethod + int(NumSites)*salt + int(site))}
}

// ApplyFor drops x [N, W], values at the N tokens of b, drawing each row's
// mask at its row in the pass's batch: b may be one the encoder derived from
// it (Batch.Root), whose rows are not the pass's first N. Other x (not
// rows of b) take Apply.
func (d Dropout) ApplyFor(x []float32, b *Batch) {
	if b == nil || b.N() == 0 || len(x)%b.N() != 0 {
		d.s.apply(x)
		return
	}
	d.s.applyRows(x, b.rows, len(x)/b.N())
}

// Active reports whether the dropout drops anything.
func (d Dropout) Active() bool { return d.s.p > 0 }

// Apply drops elements of x (element i of the site is x[i]) and scales the
// rest by 1/(1-p). The backward pass applies it to the gradient.
func (d Dropout) Apply(x []float32) { d.s.apply(x) }
