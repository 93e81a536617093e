package model

import (
	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// prefixes are the extra keys and values each sequence attends to before
// its own tokens at one layer (P-Tuning v2): k[s], v[s] are [P_s, C], nil
// for none. A nil *prefixes means no sequence has any.
type prefixes struct {
	k, v [][]float32
	C    int
}

// n is the prefix length of sequence s.
func (p *prefixes) n(s int) int {
	if p == nil || s >= len(p.k) || p.k[s] == nil {
		return 0
	}
	return len(p.k[s]) / p.C
}

// max is the longest prefix.
func (p *prefixes) max() int {
	m := 0
	if p != nil {
		for s := range p.k {
			m = max(m, p.n(s))
		}
	}
	return m
}

// probOffsets returns, for each sequence s, where its NH·T_s·(P_s+T_s)
// attention probabilities start in a sequence-major store, and the total.
func probOffsets(b *Batch, NH int, pre *prefixes) ([]int, int) {
	off := make([]int, b.B()+1)
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		T := hi - lo
		off[s+1] = off[s] + NH*T*(pre.n(s)+T)
	}
	return off, off[b.B()]
}

// attentionForward computes multi-head scaled dot-product attention for every
// sequence of a packed batch, each sequence attending only to its prefix (if
// any) and itself, so no mask is needed: padding never exists.
//
//	q, k, v, out: [N, C], head h of token i at [i*C + h*hd : i*C + (h+1)*hd]
//	probs: nil (inference: per-thread scratch from scores) or [Σ_s NH·T_s·(P_s+T_s)]
//	       to keep the softmax output (before dropout) for the backward pass
//	scores: a pool of per-thread [maxT·(maxP+maxT)] buffers
//
// Scores of sequence s, head h are S[T, P+T]: the P prefix columns first.
// Work is split over (sequence, head) pairs; the GEMMs inside run on one
// thread each (a nested parallel.For runs inline).
func attentionForward(out, probs, q, k, v []float32, b *Batch, NH, C int, pre *prefixes, scores chan []float32, drop dropSite) {
	attentionForwardWith(out, probs, q, k, v, b, NH, C, pre, scores, drop, attentionScale(C/NH), nil)
}

// relTerms adds position-dependent terms to one (sequence, head)'s content
// scores: DeBERTa's disentangled attention (nil for BERT). Both functions
// get the content block of the scores, S[T, T] or dS[T, T] with row stride
// ldS, for head h of sequence s whose Q, K rows start at base, and scratch
// beyond what the shared code uses.
type relTerms struct {
	forward  func(S []float32, ldS, s, h, T, base int, scratch []float32)
	backward func(dS []float32, ldS, s, h, T, base int, scratch []float32) // adds into dq, dk
	// headMajor: the backward accumulates state shared by all sequences of
	// a head, so each head is given to one worker
	headMajor bool
}

// attentionForwardWith is attentionForward with a given score scale and
// optional relative-position terms.
func attentionForwardWith(out, probs, q, k, v []float32, b *Batch, NH, C int, pre *prefixes, scores chan []float32, drop dropSite, scale float32, rel *relTerms) {
	hd := C / NH
	pairs := b.B() * NH
	var off []int
	if probs != nil {
		off, _ = probOffsets(b, NH, pre)
	}
	parallel.ForChunks(pairs, pairs, func(lo, hi int) {
		att := <-scores
		defer func() { scores <- att }()
		for p := lo; p < hi; p++ {
			s, h := p/NH, p%NH
			t0, t1 := b.Seq(s)
			T, P := t1-t0, pre.n(s)
			W := P + T // row width
			base := t0*C + h*hd
			S := att[:T*W]
			if probs != nil {
				S = probs[off[s]+h*T*W : off[s]+(h+1)*T*W]
			}
			// S[T, P+T] = scale · Q[T,hd] · [Pk; K][P+T,hd]ᵀ
			if P > 0 {
				gemm.Sgemm(false, true, T, P, hd, scale, q[base:], C, pre.k[s][h*hd:], C, 0, S, W)
			}
			gemm.Sgemm(false, true, T, T, hd, scale, q[base:], C, k[base:], C, 0, S[P:], W)
			if rel != nil {
				rel.forward(S[P:], W, s, h, T, base, att[T*W:])
			}
			for i := 0; i < T; i++ {
				vec.SoftmaxRow(S[i*W : (i+1)*W])
			}
			if drop.p != 0 {
				// keep S (pre-dropout) for the backward pass; multiply V by a dropped copy
				Sd := att[:T*W]
				copy(Sd, S)
				drop.seq(s).applyAt(Sd, h*T*W)
				S = Sd
			}
			// out[T,hd] = S[:, :P] · Pv[P,hd] + S[:, P:] · V[T,hd]
			beta := float32(0)
			if P > 0 {
				gemm.Sgemm(false, false, T, hd, P, 1, S, W, pre.v[s][h*hd:], C, 0, out[base:], C)
				beta = 1
			}
			gemm.Sgemm(false, false, T, hd, T, 1, S[P:], W, v[base:], C, beta, out[base:], C)
		}
	})
}

// attentionBackward is attentionForward's backward pass: from dout [N,C] it
// writes dq, dk, dv [N,C] (overwriting them) and, when there are prefixes,
// their gradients into dpk, dpv (per sequence [P_s, C], overwritten). probs
// are the stored softmax outputs; scratch comes from scores (each buffer
// needs 2·maxT·(maxP+maxT) floats).
//
//	Sd = dropout(S); out = Sd·[Pv; V]
//	dSd = dout·[Pv; V]ᵀ; d[Pv; V] = Sdᵀ·dout; dS' = dropout(dSd)
//	dS = S ⊙ (dS' − rowsum(dS' ⊙ S)); dQ = scale·dS·[Pk; K]; d[Pk; K] = scale·dSᵀ·Q
func attentionBackward(dq, dk, dv, dout, probs, q, k, v []float32, b *Batch, NH, C int, pre *prefixes, dpk, dpv [][]float32, scores chan []float32, drop dropSite) {
	attentionBackwardWith(dq, dk, dv, dout, probs, q, k, v, b, NH, C, pre, dpk, dpv, scores, drop, attentionScale(C/NH), nil)
}

// attentionBackwardWith is attentionBackward with a given score scale and
// optional relative-position terms (their scratch starts after 2·T·(P+T)
// floats of each scores buffer).
func attentionBackwardWith(dq, dk, dv, dout, probs, q, k, v []float32, b *Batch, NH, C int, pre *prefixes, dpk, dpv [][]float32, scores chan []float32, drop dropSite, scale float32, rel *relTerms) {
	hd := C / NH
	B := b.B()
	pairs := B * NH
	off, _ := probOffsets(b, NH, pre)
	chunks := pairs
	headMajor := rel != nil && rel.headMajor
	if headMajor {
		chunks = NH
	}
	parallel.ForChunks(pairs, chunks, func(lo, hi int) {
		buf := <-scores
		defer func() { scores <- buf }()
		for p := lo; p < hi; p++ {
			s, h := p/NH, p%NH
			if headMajor {
				h, s = p/B, p%B
			}
			t0, t1 := b.Seq(s)
			T, P := t1-t0, pre.n(s)
			W := P + T
			base := t0*C + h*hd
			S := probs[off[s]+h*T*W : off[s]+(h+1)*T*W]
			dS, Sd := buf[:T*W], buf[T*W:2*T*W]
			// dS[T, P+T] = dout[T,hd] · [Pv; V]ᵀ
			if P > 0 {
				gemm.Sgemm(false, true, T, P, hd, 1, dout[base:], C, pre.v[s][h*hd:], C, 0, dS, W)
			}
			gemm.Sgemm(false, true, T, T, hd, 1, dout[base:], C, v[base:], C, 0, dS[P:], W)
			used := S
			if drop.p != 0 {
				copy(Sd, S)
				drop.seq(s).applyAt(Sd, h*T*W)
				used = Sd
				drop.seq(s).applyAt(dS, h*T*W)
			}
			// d[Pv; V] = Sdᵀ · dout
			if P > 0 {
				gemm.Sgemm(true, false, P, hd, T, 1, used, W, dout[base:], C, 0, dpv[s][h*hd:], C)
			}
			gemm.Sgemm(true, false, T, hd, T, 1, used[P:], W, dout[base:], C, 0, dv[base:], C)
			for i := 0; i < T; i++ {
				vec.SoftmaxBackwardRow(dS[i*W:(i+1)*W], S[i*W:(i+1)*W], dS[i*W:(i+1)*W])
			}
			// dQ = scale · dS · [Pk; K] ; d[Pk; K] = scale · dSᵀ · Q
			beta := float32(0)
			if P > 0 {
				gemm.Sgemm(false, false, T, hd, P, scale, dS, W, pre.k[s][h*hd:], C, 0, dq[base:], C)
				gemm.Sgemm(true, false, P, hd, T, scale, dS, W, q[base:], C, 0, dpk[s][h*hd:], C)
				beta = 1
			}
			gemm.Sgemm(false, false, T, hd, T, scale, dS[P:], W, k[base:], C, beta, dq[base:], C)
			gemm.Sgemm(true, false, T, hd, T, scale, dS[P:], W, q[base:], C, 0, dk[base:], C)
			if rel != nil {
				rel.backward(dS[P:], W, s, h, T, base, buf[2*T*W:])
			}
		}
	})
}
