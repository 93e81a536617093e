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
}

func newDropout(p float64, seed, step uint64) *dropout {
	if p <= 0 {
		return nil
	}
	return &dropout{p: float32(p), key: vec.Mix(vec.Mix(seed) ^ step)}
}

// layer derives the dropout of layer l.
func (d *dropout) layer(l int) *dropout {
	if d == nil {
		return nil
	}
	return &dropout{p: d.p, key: vec.Mix(d.key ^ uint64(l+1)*0x9e3779b97f4a7c15)}
}

// dropSite is one dropout site; its zero value keeps everything.
type dropSite struct {
	p   float32
	key uint64
}

func (d *dropout) site(s int) dropSite {
	if d == nil {
		return dropSite{}
	}
	return dropSite{p: d.p, key: vec.Mix(d.key + uint64(s)*0xbf58476d1ce4e5b9)}
}

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
	return Dropout{newDropout(p, opt.Seed, opt.Step).layer(l).site(siteMethod + int(NumSites)*salt + int(site))}
}

// ApplyFor drops x [N, W], values at the N tokens of b, drawing each row's
// mask at its row in the pass's batch: b may be one the encoder derived from
// it (Batch.Root), whose rows are not the pass's first N. Other x (not
// rows of b) take Apply.
func (d Dropout) ApplyFor(x []float32, b *Batch) {
	if b == nil || b.rows == nil || b.N() == 0 || len(x)%b.N() != 0 {
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
