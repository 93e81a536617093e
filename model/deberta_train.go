package model

import (
	"fmt"
	"strings"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// DeBERTa's training pass: the parts of ForwardTrain/Backward that differ
// from BERT's (deberta.go explains the structure).
//
// Dropout as HF's modules apply it in training: hidden dropout on the
// relative embeddings in every layer (DisentangledSelfAttention.pos_dropout,
// before their projections; one mask per layer), and on the convolution's
// output before its activation (ConvLayer.dropout). The masks come from the
// same counter-based hash as the encoder's others, at their own sites.
const (
	siteRelEmb = siteHead + 10 // per layer: relative embeddings before the projections
	siteConv   = siteHead + 11 // layer 0: encoder.conv output before its activation
)

// debertaTrain keeps DeBERTa's activations between ForwardTrain and
// Backward, and its backward scratch.
type debertaTrain struct {
	relIdx []int32
	// convolution (layer 0)
	r0      []float32 // [N,C] layer 0's output (the convolution's residual)
	convIn  []float32 // [N,C] dropout(conv(x0)): the activation's input
	convSum []float32 // [N,C] LayerNorm's input r0 + act(convIn)
	mean    []float32 // [N]
	rstd    []float32 // [N]
	dr0     []float32 // [N,C] backward: gradient of r0
	dx0     []float32 // [N,C] backward: the convolution's gradient of x0
	dc      []float32 // [N,C] backward: the gradient of the convolution's output
	// relative embeddings when recomputed (dropout or trained weights)
	rel, relMean, relRstd []float32   // [R,C] normalised table, its LayerNorm statistics
	posK, posQ            [][]float32 // per layer [R,C]
	relIn                 []float32   // [R,C] one layer's dropped table (scratch)
	// full fine-tuning
	dPosK, dPosQ, dRelIn, dRel, dRelSum []float32 // [R,C]
}

// debertaTrainPrepare sets up a training pass: relative indices and, when
// they are not the frozen cache, the normalised relative embeddings and
// every layer's position projections (through the layer's dropout), then
// the tables a PositionHook changes.
func (m *Encoder) debertaTrainPrepare(st *TrainState, maxT int, hs *hookSet) error {
	d := m.Deberta
	if st.deb == nil {
		st.deb = &debertaTrain{}
	}
	t := st.deb
	t.relIdx = d.relIndex(t.relIdx, maxT)
	for l := range st.layers {
		a := &st.layers[l]
		a.relIdx = t.relIdx
		a.hk.on, a.hq.on = false, false
	}
	if d.RelEmbeddings == nil {
		return nil
	}
	C := m.Config.HiddenSize
	R := len(d.RelEmbeddings) / C
	if d.trainable() {
		t.rel, t.relMean, t.relRstd = grow(t.rel, R*C), grow(t.relMean, R), grow(t.relRstd, R)
		d.relNormed(t.rel, t.relMean, t.relRstd, C)
	}
	if len(t.posK) != len(m.Layers) {
		t.posK, t.posQ = make([][]float32, len(m.Layers)), make([][]float32, len(m.Layers))
	}
	for l := range m.Layers {
		a := &st.layers[l]
		relIn := m.trainRelInput(l, st)
		if !d.trainable() && st.drop == nil {
			c := m.positionProjections()
			a.posK, a.posQ = c.posK[l], c.posQ[l]
		} else {
			a.posK, a.posQ = nil, nil
			if d.c2p {
				t.posK[l] = grow(t.posK[l], R*C)
				m.posProj(l, true).Forward(t.posK[l], relIn, R, nil)
				a.posK = t.posK[l]
			}
			if d.p2c {
				t.posQ[l] = grow(t.posQ[l], R*C)
				m.posProj(l, false).Forward(t.posQ[l], relIn, R, nil)
				a.posQ = t.posQ[l]
			}
		}
		if hs.pos == nil {
			continue
		}
		drop := st.drop.layer(l).shared(siteRelEmb)
		if err := m.hookPositions(&a.hk, hs, l, SiteKey, a.posK, relIn, st.batch, drop); err != nil {
			return err
		}
		if err := m.hookPositions(&a.hq, hs, l, SiteQuery, a.posQ, relIn, st.batch, drop); err != nil {
			return err
		}
	}
	return nil
}

// trainRelInput is what layer l's position projections read in training:
// the normalised relative embeddings (trained: this pass's, else the
// frozen cache's) after the layer's dropout, in t.relIn when it differs
// from the cache (valid until the next call).
func (m *Encoder) trainRelInput(l int, st *TrainState) []float32 {
	d, t := m.Deberta, st.deb
	rel := t.rel
	if !d.trainable() {
		rel = m.positionProjections().rel
		if st.drop == nil {
			return rel
		}
	}
	t.relIn = grow(t.relIn, len(rel))
	copy(t.relIn, rel)
	st.drop.layer(l).shared(siteRelEmb).applyRows(t.relIn, nil, m.Config.HiddenSize)
	return t.relIn
}

// convForwardTrain is convForward keeping what the backward needs: out
// [N,C] holds layer 0's output and becomes the convolution block's; x0 is
// the encoder input (layer 0's, after the LayerHook).
func (m *Encoder) convForwardTrain(out, x0 []float32, st *TrainState, hs *hookSet) error {
	cv, t, b := m.Deberta.Conv, st.deb, st.batch
	N, C := b.N(), m.Config.HiddenSize
	for _, p := range []*[]float32{&t.r0, &t.convIn, &t.convSum} {
		*p = grow(*p, N*C)
	}
	t.mean, t.rstd = grow(t.mean, N), grow(t.rstd, N)
	copy(t.r0, out[:N*C])
	if cv.WGrad != nil {
		cv.makeTaps(C) // trained: the weights may have changed
	}
	cv.conv(t.convIn, x0, b, C, cv.taps)
	if err := hs.afterConv(t.convIn, b); err != nil {
		return err
	}
	st.drop.layer(0).site(siteConv).applyRows(t.convIn[:N*C], nil, C)
	parallel.For(N, rowGrain, func(lo, hi int) {
		s := t.convSum[lo*C : hi*C]
		copy(s, t.convIn[lo*C:hi*C])
		cv.act(s)
		vec.Add(s, s, t.r0[lo*C:hi*C])
		vec.LayerNorm(out[lo*C:hi*C], t.mean[lo:hi], t.rstd[lo:hi], s, cv.LayerNorm.Weight, cv.LayerNorm.Bias, hi-lo, C, cv.LayerNorm.Eps)
	})
	return hs.afterConvLayerNorm(out[:N*C], b)
}

// convBackward takes dOut [N,C], the gradient of the convolution block's
// output, and returns the gradient of layer 0's output (t.dr0) and the
// convolution's contribution to the gradient of x0 (t.dx0), accumulating
// the convolution's weight gradients when it is trained.
func (m *Encoder) convBackward(dOut, x0 []float32, st *TrainState, hs *hookSet) (dr0, dx0 []float32, err error) {
	cv, t, b := m.Deberta.Conv, st.deb, st.batch
	N, C := b.N(), m.Config.HiddenSize
	t.dr0, t.dx0 = grow(t.dr0, N*C), grow(t.dx0, N*C)
	layerNormBackward(&cv.LayerNorm, t.dr0, dOut, t.convSum, t.mean, t.rstd, N, C)
	// s = r0 + act(convIn): dconvIn = act'(convIn) ⊙ ds, then the dropout mask
	t.dc = grow(t.dc, N*C)
	dc := t.dc
	parallel.For(N, rowGrain, func(lo, hi int) {
		cv.actBack(dc[lo*C:hi*C], t.convIn[lo*C:hi*C], t.dr0[lo*C:hi*C])
	})
	st.drop.layer(0).site(siteConv).applyRows(dc[:N*C], nil, C)
	if hs.convBk != nil {
		if err := hs.convBk.ConvBackward(dc[:N*C], dOut[:N*C], b); err != nil {
			return nil, nil, fmt.Errorf("encoder.conv backward: %w", err)
		}
	}
	if cv.WGrad != nil {
		cv.weightGrads(dc, x0, b, C)
	}
	// dx0[i + t − pad] += dc[i] · W_t
	clear(t.dx0)
	cv.inputGrad(t.dx0, dc, b, C)
	return t.dr0, t.dx0, nil
}

// inputGrad adds convᵀ(dc) into dx: dx[i + t − pad] += dc[i] · W_t.
func (cv *ConvLayer) inputGrad(dx, dc []float32, b *Batch, C int) {
	k, g := cv.K, cv.Groups
	cg, pad := C/g, (cv.K-1)/2
	parallel.ForChunks(b.B(), b.B(), func(slo, shi int) {
		for s := slo; s < shi; s++ {
			t0, t1 := b.Seq(s)
			T := t1 - t0
			for t := 0; t < k; t++ {
				sh := t - pad
				i0, i1 := max(0, -sh), min(T, T-sh)
				if i1 <= i0 {
					continue
				}
				for gi := 0; gi < g; gi++ {
					gemm.Sgemm(false, false, i1-i0, cg, cg, 1, dc[(t0+i0)*C+gi*cg:], C, cv.taps[t][gi*cg*cg:], cg, 1, dx[(t0+i0+sh)*C+gi*cg:], C)
				}
			}
		}
	})
}

// weightGrads accumulates the convolution's weight and bias gradients from
// dc [N,C] (gradient of its output) and its input x [N,C].
func (cv *ConvLayer) weightGrads(dc, x []float32, b *Batch, C int) {
	k, g := cv.K, cv.Groups
	cg, pad := C/g, (cv.K-1)/2
	N := b.N()
	vec.BiasBackward(cv.BGrad, dc[:N*C], N, C)
	tap := make([]float32, cg*cg)
	for t := 0; t < k; t++ {
		sh := t - pad
		for gi := 0; gi < g; gi++ {
			clear(tap)
			for s := 0; s < b.B(); s++ {
				t0, t1 := b.Seq(s)
				T := t1 - t0
				i0, i1 := max(0, -sh), min(T, T-sh)
				if i1 <= i0 {
					continue
				}
				gemm.Sgemm(true, false, cg, cg, i1-i0, 1, dc[(t0+i0)*C+gi*cg:], C, x[(t0+i0+sh)*C+gi*cg:], C, 1, tap, cg)
			}
			// Weight [C, cg, k]: element (o, i, t) at (o·cg + i)·k + t
			for o := 0; o < cg; o++ {
				for i := 0; i < cg; i++ {
					cv.WGrad[((gi*cg+o)*cg+i)*k+t] += tap[o*cg+i]
				}
			}
		}
	}
}

// debertaAttentionBackward is attentionBackward for the disentangled
// scores (debertaAttentionForward). With scale s, S = s·Q·Kᵀ + gather(s·Q·PKᵀ)
// + gatherᵀ(s·K·PQᵀ), so from dS (the gradient of the scores):
//
//	dQ = s·dS·K + s·dA·PK,  dK = s·dSᵀ·Q + s·dB·PQ
//	dA[i, r] = Σ_j dS[i, j]·[r(i,j) = r],  dB[j, r] = Σ_i dS[i, j]·[r(i,j) = r]
//
// and, when DeBERTa's weights are trained, dPK += s·dAᵀ·Q, dPQ += s·dBᵀ·K
// (then through the projections and the relative embeddings' dropout and
// LayerNorm: debertaPositionBackward). Work is split over (sequence, head)
// pairs; with position gradients, head-major so that one worker owns each
// head's columns of dPK, dPQ.
func (m *Encoder) debertaAttentionBackward(dq, dk, dv, dout []float32, a *layerActs, b *Batch, NH, C int, dpk, dpv [][]float32, scores chan []float32, drop dropSite, dPosK, dPosQ []float32) {
	d := m.Deberta
	hd := C / NH
	scale := d.scale
	q, k := a.q, a.k
	relIdx := a.relIdx
	maxT := (len(relIdx) + 1) / 2
	rel := &relTerms{headMajor: dPosK != nil || dPosQ != nil || a.hk.on || a.hq.on}
	rel.backward = func(dS []float32, W, s, h, T, base int, ext []float32) {
		if !d.c2p && !d.p2c {
			return
		}
		// dA, dB per block of relBlock query (c2p) or key (p2c) rows, over
		// the table rows their distances reach (as addRelative)
		nb := (T + relBlock - 1) / relBlock
		var offs [2][]int
		var offsBuf [2][33]int // up to 1024 tokens without allocating
		used := 0
		for term, on := range [2]bool{d.c2p, d.p2c} {
			if !on {
				continue
			}
			if nb+1 <= len(offsBuf[term]) {
				offs[term] = offsBuf[term][:nb+1]
			} else {
				offs[term] = make([]int, nb+1)
			}
			for bk := 0; bk < nb; bk++ {
				x0, x1, _, w := relBlockSpan(relIdx, maxT, T, bk, term)
				offs[term][bk] = used
				used += (x1 - x0) * w
			}
			offs[term][nb] = used
		}
		grads := ext[:used]
		clear(grads)
		span := func(term, bk int) (x0, x1, lo, w int, blk []float32) {
			x0, x1, lo, w = relBlockSpan(relIdx, maxT, T, bk, term)
			return x0, x1, lo, w, grads[offs[term][bk]:offs[term][bk+1]]
		}
		// exact-region blocks scatter as runs (addRelative's gather in
		// reverse): each table entry gets one addend per row either way
		r0, lin := relLinear(relIdx, maxT, T)
		for i := 0; i < T; i++ {
			row := dS[i*W : i*W+T] // the content block (prefix columns excluded)
			var dAi []float32
			alo := 0
			if d.c2p {
				x0, _, lo, w, blk := span(0, i/relBlock)
				dAi, alo = blk[(i-x0)*w:(i-x0+1)*w], lo
			}
			for bk := 0; bk < nb; bk++ {
				j0, j1 := bk*relBlock, min(T, (bk+1)*relBlock)
				var dBb []float32
				blo, bw := 0, 0
				if d.p2c {
					_, _, blo, bw, dBb = span(1, bk)
				}
				if i-j0 <= lin && j1-1-i <= lin {
					seg := row[j0:j1]
					n := len(seg)
					if dAi != nil {
						hi := r0 + i - j0 - alo + 1
						aw := dAi[hi-n : hi]
						for t, g := range seg {
							aw[n-1-t] += g
						}
					}
					if dBb != nil {
						stride, boff := bw-1, r0+i-j0-blo
						bwin := dBb[:n*bw]
						for t, g := range seg {
							bwin[t*stride+boff] += g
						}
					}
					continue
				}
				for j := j0; j < j1; j++ {
					g := row[j]
					r := int(relIdx[maxT-1+i-j])
					if dAi != nil {
						dAi[r-alo] += g
					}
					if dBb != nil {
						dBb[(j-j0)*bw+r-blo] += g
					}
				}
			}
		}
		// c2p: dq += dA·posK, dPosK += dAᵀ·q; p2c: dk += dB·posQ, dPosQ += dBᵀ·k
		for term, on := range [2]bool{d.c2p, d.p2c} {
			if !on {
				continue
			}
			dx, x, pt, tab, dTab := dq, q, &a.hk, a.posK, dPosK
			if term == 1 {
				dx, x, pt, tab, dTab = dk, k, &a.hq, a.posQ, dPosQ
			}
			for bk := 0; bk < nb; bk++ {
				x0, x1, lo, w, dT := span(term, bk)
				col := lo*C + h*hd
				gemm.Sgemm(false, false, x1-x0, hd, w, scale, dT, w, pt.table(s, tab)[col:], C, 1, dx[base+x0*C:], C)
				if g := pt.grad(s, dTab); g != nil {
					gemm.Sgemm(true, false, w, hd, x1-x0, scale, dT, w, x[base+x0*C:], C, 1, g[col:], C)
				}
			}
		}
	}
	attentionBackwardWith(dq, dk, dv, dout, a.probs, a.q, a.k, a.v, b, NH, C, a.preUsed, dpk, dpv, scores, drop, scale, rel)
}

// debertaPositionGrads returns zeroed [R,C] buffers for layer l's position
// gradients when DeBERTa's weights are trained, else nils.
func (m *Encoder) debertaPositionGrads(st *TrainState) (dPosK, dPosQ []float32) {
	d := m.Deberta
	if !d.trainable() || d.RelEmbeddings == nil {
		return nil, nil
	}
	t := st.deb
	n := len(d.RelEmbeddings)
	if d.c2p {
		t.dPosK = grow(t.dPosK, n)
		clear(t.dPosK)
		dPosK = t.dPosK
	}
	if d.p2c {
		t.dPosQ = grow(t.dPosQ, n)
		clear(t.dPosQ)
		dPosQ = t.dPosQ
	}
	return dPosK, dPosQ
}

// debertaPositionBackward takes layer l's position gradients back through
// its projections (their weight gradients) and its dropout of the relative
// embeddings, accumulating into t.dRel (the normalised table's gradient).
func (m *Encoder) debertaPositionBackward(l int, st *TrainState, dPosK, dPosQ []float32) {
	d, t := m.Deberta, st.deb
	C := m.Config.HiddenSize
	R := len(d.RelEmbeddings) / C
	if l == len(m.Layers)-1 {
		t.dRel = grow(t.dRel, R*C)
		clear(t.dRel)
	}
	t.dRelIn = grow(t.dRelIn, R*C)
	relIn := m.trainRelInput(l, st)
	clear(t.dRelIn)
	if dPosK != nil {
		linearBackwardFull(m.posProj(l, true), t.dRelIn, dPosK, relIn, R, 1)
	}
	if dPosQ != nil {
		linearBackwardFull(m.posProj(l, false), t.dRelIn, dPosQ, relIn, R, 1)
	}
	st.drop.layer(l).shared(siteRelEmb).applyRows(t.dRelIn, nil, C)
	vec.AddInPlace(t.dRel, t.dRelIn)
}

// debertaRelBackward ends a full fine-tuning backward pass: the relative
// embeddings' gradient through encoder.LayerNorm into RelGrad.
func (m *Encoder) debertaRelBackward(st *TrainState) {
	d, t := m.Deberta, st.deb
	if !d.trainable() || d.RelEmbeddings == nil || t.dRel == nil {
		return
	}
	C := m.Config.HiddenSize
	R := len(d.RelEmbeddings) / C
	if d.LayerNorm == nil {
		vec.AddInPlace(d.RelGrad, t.dRel[:R*C])
		return
	}
	t.dRelSum = grow(t.dRelSum, R*C)
	layerNormBackward(d.LayerNorm, t.dRelSum, t.dRel, d.RelEmbeddings, t.relMean, t.relRstd, R, C)
	vec.AddInPlace(d.RelGrad, t.dRelSum)
}

// cloneTrainableDeberta is CloneTrainable for DeBERTa: every weight its own
// Param under its HF name, except v1's attention: it trains the split
// query, key and value (attention.self.in_proj.{query,key,value}.weight,
// in_proj.query.bias, in_proj.value.bias), which DebertaV1Attention joins
// into the checkpoint's in_proj.weight, q_bias and v_bias for saving.
func (m *Encoder) cloneTrainableDeberta(prefix string) (*Encoder, []*Param) {
	d := m.Deberta
	cd := &DebertaEncoder{v1: d.v1, c2p: d.c2p, p2c: d.p2c, span: d.span, maxRel: d.maxRel, buckets: d.buckets, scale: d.scale, poolAct: d.poolAct}
	c := &Encoder{Config: m.Config, act: m.act, actBack: m.actBack, Deberta: cd}
	cl := &cloner{prefix: prefix}
	take, lin, ln := cl.take, cl.linear, cl.layerNorm
	cfg, e := m.Config, &m.Embeddings
	C := cfg.HiddenSize
	E := cfg.EmbeddingDim()
	ce := &c.Embeddings
	ce.WordEmbeddings, ce.WordGrad = take("embeddings.word_embeddings.weight", e.WordEmbeddings, cfg.VocabSize, E)
	if e.PositionEmbeddings != nil {
		ce.PositionEmbeddings, ce.PosGrad = take("embeddings.position_embeddings.weight", e.PositionEmbeddings, cfg.MaxPositionEmbeddings, E)
	}
	if e.TokenTypeEmbeddings != nil {
		ce.TokenTypeEmbeddings, ce.TypeGrad = take("embeddings.token_type_embeddings.weight", e.TokenTypeEmbeddings, cfg.TypeVocabSize, E)
	}
	if e.EmbedProj != nil {
		p := lin("embeddings.embed_proj", e.EmbedProj)
		ce.EmbedProj = &p
	}
	ce.LayerNorm = ln("embeddings.LayerNorm", &e.LayerNorm)
	c.Layers = make([]BertLayer, len(m.Layers))
	cd.Pos = make([]DebertaPosProj, len(m.Layers))
	for i := range m.Layers {
		L, p := &m.Layers[i], fmt.Sprintf("encoder.layer.%d.", i)
		cl := &c.Layers[i]
		s := &L.Attention.Self
		if d.v1 {
			cl.Attention.Self = BertSelfAttention{
				Query: lin(p+"attention.self.in_proj.query", &s.Query),
				Key:   lin(p+"attention.self.in_proj.key", &s.Key),
				Value: lin(p+"attention.self.in_proj.value", &s.Value),
			}
		} else {
			cl.Attention.Self = BertSelfAttention{
				Query: lin(p+"attention.self.query_proj", &s.Query),
				Key:   lin(p+"attention.self.key_proj", &s.Key),
				Value: lin(p+"attention.self.value_proj", &s.Value),
			}
		}
		names := [2]string{"attention.self.pos_key_proj", "attention.self.pos_query_proj"}
		if d.v1 {
			names = [2]string{"attention.self.pos_proj", "attention.self.pos_q_proj"}
		}
		if pk := d.Pos[i].PosKey; pk != nil {
			l := lin(p+names[0], pk)
			cd.Pos[i].PosKey = &l
		}
		if pq := d.Pos[i].PosQuery; pq != nil {
			l := lin(p+names[1], pq)
			cd.Pos[i].PosQuery = &l
		}
		cl.Attention.Output = BertSelfOutput{
			Dense:     lin(p+"attention.output.dense", &L.Attention.Output.Dense),
			LayerNorm: ln(p+"attention.output.LayerNorm", &L.Attention.Output.LayerNorm),
		}
		cl.Intermediate = BertIntermediate{Dense: lin(p+"intermediate.dense", &L.Intermediate.Dense)}
		cl.Output = BertOutput{
			Dense:     lin(p+"output.dense", &L.Output.Dense),
			LayerNorm: ln(p+"output.LayerNorm", &L.Output.LayerNorm),
		}
	}
	if d.RelEmbeddings != nil {
		cd.RelEmbeddings, cd.RelGrad = take("encoder.rel_embeddings.weight", d.RelEmbeddings, len(d.RelEmbeddings)/C, C)
	} else {
		// trainable() keys on RelGrad: keep it set so nothing is cached
		cd.RelGrad = []float32{}
	}
	if d.LayerNorm != nil {
		l := ln("encoder.LayerNorm", d.LayerNorm)
		cd.LayerNorm = &l
	}
	if cv := d.Conv; cv != nil {
		ccv := &ConvLayer{K: cv.K, Groups: cv.Groups, act: cv.act, actBack: cv.actBack}
		ccv.Weight, ccv.WGrad = take("encoder.conv.conv.weight", cv.Weight, C, C/cv.Groups, cv.K)
		ccv.Bias, ccv.BGrad = take("encoder.conv.conv.bias", cv.Bias, C)
		ccv.LayerNorm = ln("encoder.conv.LayerNorm", &cv.LayerNorm)
		ccv.makeTaps(C)
		cd.Conv = ccv
	}
	if m.Pooler != nil {
		c.Pooler = &BertPooler{Dense: lin("pooler.dense", &m.Pooler.Dense)}
	}
	return c, cl.ps
}

// IsDebertaV1Split reports whether a Param of a trainable DeBERTa v1 clone
// is one of the split attention weights a checkpoint stores joined
// (DebertaV1Attention).
func IsDebertaV1Split(name string) bool {
	for _, part := range []string{"query", "key", "value"} {
		if strings.Contains(name, ".attention.self.in_proj."+part+".") {
			return true
		}
	}
	return false
}

// DebertaV1Attention returns the attention tensors of a DeBERTa v1
// checkpoint for m's current weights: per layer in_proj.weight [3C, C]
// (heads interleaved), q_bias and v_bias [C], as new Params named
// prefix + "encoder.layer.{l}.attention.self.*". nil for other models.
func (m *Encoder) DebertaV1Attention(prefix string) []*Param {
	if m.Deberta == nil || !m.Deberta.v1 {
		return nil
	}
	C, NH := m.Config.HiddenSize, m.Config.NumAttentionHeads
	var ps []*Param
	for l := range m.Layers {
		s := &m.Layers[l].Attention.Self
		p := fmt.Sprintf("%sencoder.layer.%d.attention.self.", prefix, l)
		w := &Param{Name: p + "in_proj.weight", Shape: []int{3 * C, C}, Data: joinInProj(s.Query.Weight, s.Key.Weight, s.Value.Weight, NH, C/NH)}
		q, v := NewParam(p+"q_bias", C), NewParam(p+"v_bias", C)
		copy(q.Data, s.Query.Bias)
		copy(v.Data, s.Value.Bias)
		ps = append(ps, w, q, v)
	}
	return ps
}

// SetDebertaV1Attention is DebertaV1Attention's inverse: it copies ps
// (as DebertaV1Attention returns them, values read from a file) into m's
// split query, key and value weights.
func (m *Encoder) SetDebertaV1Attention(ps []*Param) error {
	if m.Deberta == nil || !m.Deberta.v1 || len(ps) != 3*len(m.Layers) {
		return fmt.Errorf("not the attention tensors of this DeBERTa v1 model")
	}
	NH := m.Config.NumAttentionHeads
	hd := m.Config.HiddenSize / NH
	for l := range m.Layers {
		s := &m.Layers[l].Attention.Self
		q, k, v := splitInProj(ps[3*l].Data, NH, hd)
		copy(s.Query.Weight, q.Weight)
		copy(s.Key.Weight, k.Weight)
		copy(s.Value.Weight, v.Weight)
		copy(s.Query.Bias, ps[3*l+1].Data)
		copy(s.Value.Bias, ps[3*l+2].Data)
	}
	return nil
}
