package model

import (
	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// probOffsets returns, for each sequence s, where its NH·T_s² attention
// probabilities start in a sequence-major store, and the total size.
func probOffsets(b *Batch, NH int) ([]int, int) {
	off := make([]int, b.B()+1)
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		off[s+1] = off[s] + NH*(hi-lo)*(hi-lo)
	}
	return off, off[b.B()]
}

// attentionForward computes multi-head scaled dot-product attention for every
// sequence of a packed batch, each sequence attending only to itself (so no
// mask is needed: padding never exists).
//
//	q, k, v, out: [N, C], head h of token i at [i*C + h*hd : i*C + (h+1)*hd]
//	probs: nil (inference: per-thread scratch from scores) or [Σ_s NH·T_s²]
//	       to keep the softmax output (before dropout) for the backward pass
//	scores: a pool of per-thread [maxT*maxT] buffers
//
// Work is split over (sequence, head) pairs; the GEMMs inside run on one
// thread each (a nested parallel.For runs inline).
func attentionForward(out, probs, q, k, v []float32, b *Batch, NH, C int, scores chan []float32, drop dropSite) {
	hd := C / NH
	scale := attentionScale(hd)
	pairs := b.B() * NH
	var off []int
	if probs != nil {
		off, _ = probOffsets(b, NH)
	}
	parallel.ForChunks(pairs, pairs, func(lo, hi int) {
		att := <-scores
		defer func() { scores <- att }()
		for p := lo; p < hi; p++ {
			s, h := p/NH, p%NH
			t0, t1 := b.Seq(s)
			T := t1 - t0
			base := t0*C + h*hd
			S := att[:T*T]
			if probs != nil {
				S = probs[off[s]+h*T*T : off[s]+(h+1)*T*T]
			}
			// S[T,T] = scale · Q[T,hd] · K[T,hd]ᵀ
			gemm.Sgemm(false, true, T, T, hd, scale, q[base:], C, k[base:], C, 0, S, T)
			for i := 0; i < T; i++ {
				vec.SoftmaxRow(S[i*T : (i+1)*T])
			}
			if drop.p != 0 {
				// keep S (pre-dropout) for the backward pass; multiply V by a dropped copy
				Sd := att[:T*T]
				copy(Sd, S)
				drop.applyAt(Sd, off[s]+h*T*T)
				S = Sd
			}
			// out[T,hd] = S[T,T] · V[T,hd]
			gemm.Sgemm(false, false, T, hd, T, 1, S, T, v[base:], C, 0, out[base:], C)
		}
	})
}

// attentionBackward is attentionForward's backward pass: from dout [N,C] it
// writes dq, dk, dv [N,C] (overwriting them). probs are the stored softmax
// outputs; scratch comes from scores (each buffer needs 2·maxT² floats).
//
//	Sd = dropout(P); out = Sd·V
//	dSd = dout·Vᵀ; dV = Sdᵀ·dout; dP = dropout(dSd)
//	dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ = scale·dS·K; dK = scale·dSᵀ·Q
func attentionBackward(dq, dk, dv, dout, probs, q, k, v []float32, b *Batch, NH, C int, scores chan []float32, drop dropSite) {
	hd := C / NH
	scale := attentionScale(hd)
	pairs := b.B() * NH
	off, _ := probOffsets(b, NH)
	parallel.ForChunks(pairs, pairs, func(lo, hi int) {
		buf := <-scores
		defer func() { scores <- buf }()
		for p := lo; p < hi; p++ {
			s, h := p/NH, p%NH
			t0, t1 := b.Seq(s)
			T := t1 - t0
			base := t0*C + h*hd
			P := probs[off[s]+h*T*T : off[s]+(h+1)*T*T]
			dP, Sd := buf[:T*T], buf[T*T:2*T*T]
			// dP[T,T] = dout[T,hd] · V[T,hd]ᵀ
			gemm.Sgemm(false, true, T, T, hd, 1, dout[base:], C, v[base:], C, 0, dP, T)
			S := P
			if drop.p != 0 {
				copy(Sd, P)
				drop.applyAt(Sd, off[s]+h*T*T)
				S = Sd
				drop.applyAt(dP, off[s]+h*T*T)
			}
			// dV[T,hd] = S[T,T]ᵀ · dout[T,hd]
			gemm.Sgemm(true, false, T, hd, T, 1, S, T, dout[base:], C, 0, dv[base:], C)
			for i := 0; i < T; i++ {
				vec.SoftmaxBackwardRow(dP[i*T:(i+1)*T], P[i*T:(i+1)*T], dP[i*T:(i+1)*T])
			}
			// dQ = scale · dS · K ; dK = scale · dSᵀ · Q
			gemm.Sgemm(false, false, T, hd, T, scale, dP, T, k[base:], C, 0, dq[base:], C)
			gemm.Sgemm(true, false, T, hd, T, scale, dP, T, q[base:], C, 0, dk[base:], C)
		}
	})
}
