package model

import (
	"context"
	"fmt"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// Training runs the encoder in two passes. The backbone is frozen, so the
// backward pass computes activation gradients only: each layer hands the
// gradient of its input to a BackwardHook (for AoT P-Tuning that is exactly
// the gradient of the rows added there), and no weight gradient is formed.

// BackwardHook receives dX [N,C], the gradient of the loss w.r.t. the input
// of layer l (after the LayerHook's change), as the backward pass leaves
// layer l. Layers are visited from last to first.
type BackwardHook interface {
	AfterLayerBackward(l int, dX []float32, b *Batch) error
}

// TrainState keeps a training step's activations between ForwardTrain and
// Backward, and the buffers both need. Reuse one across steps.
type TrainState struct {
	batch  *Batch
	drop   *dropout
	layers []layerActs
	outs   [][]float32 // per layer [N,C]; layer l's output is layer l+1's input
	g, tmp []float32   // [N,I], [N,C] forward scratch
	pos    []int32
	pooled []float32 // [B,C]
	first  []float32 // [B,C]
	// backward scratch
	dA, dB, dC, dq, dk, dv []float32 // [N,C]
	dg                     []float32 // [N,I]
	dfirst                 []float32 // [B,C]
	dpre                   []float32 // prefix gradients, carved by prefixGrads
	emb                    embActs   // prompt tuning: the embeddings' LayerNorm input and statistics
	dpk, dpv               [][]float32
	scores                 chan []float32
	scoreSize              int
	deb                    *debertaTrain // DeBERTa only (deberta_train.go)
	last                   *firstTokens  // the last layer's first tokens when the pass ran so (first.go)
	lastBuf                firstTokens
}

func (st *TrainState) reserve(cfg *Config, b *Batch, maxT int) {
	N, B, C, I, NH := b.N(), b.B(), cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads
	L := cfg.NumHiddenLayers
	if len(st.layers) != L {
		st.layers = make([]layerActs, L)
		st.outs = make([][]float32, L+1)
	}
	_, nprobs := probOffsets(b, NH, nil)
	st.outs[0] = grow(st.outs[0], N*C)
	for l := range st.layers {
		a := &st.layers[l]
		for _, p := range []*[]float32{&a.q, &a.k, &a.v, &a.ctx, &a.s1, &a.h1, &a.s2} {
			*p = grow(*p, N*C)
		}
		for _, p := range []*[]float32{&a.mean1, &a.rstd1, &a.mean2, &a.rstd2} {
			*p = grow(*p, N)
		}
		a.pre = grow(a.pre, N*I)
		a.probs = grow(a.probs, nprobs)
		st.outs[l+1] = grow(st.outs[l+1], N*C)
		a.x, a.out = st.outs[l], st.outs[l+1]
	}
	st.g, st.dg = grow(st.g, N*I), grow(st.dg, N*I)
	for _, p := range []*[]float32{&st.tmp, &st.dA, &st.dB, &st.dC, &st.dq, &st.dk, &st.dv} {
		*p = grow(*p, N*C)
	}
	st.pooled, st.first, st.dfirst = grow(st.pooled, B*C), grow(st.first, B*C), grow(st.dfirst, B*C)
	st.pos = growInt32(st.pos, N)
	// backward needs two T×T buffers per pair in flight
	nt := parallel.Threads()
	if st.scores == nil || st.scoreSize < 2*maxT*maxT || cap(st.scores) < nt {
		st.scores = make(chan []float32, nt)
		st.scoreSize = 2 * maxT * maxT
		for i := 0; i < nt; i++ {
			st.scores <- make([]float32, st.scoreSize)
		}
	}
}

// TrainOptions are the per-step settings of ForwardTrain.
type TrainOptions struct {
	Dropout float64 // probability for hidden and attention dropout; 0 = off
	Seed    uint64  // run seed (dropout masks)
	Step    uint64  // optimizer step (dropout masks differ per step)
	// FirstTokensOnly: the loss reads each sequence's first token only (a
	// task head), so the last layer's tail runs there only (first.go); the
	// other rows of LastHiddenState are not the encoder's, and Backward
	// ignores dHidden outside the first tokens.
	FirstTokensOnly bool
	// RowBase and SeqBase place the batch in a larger one when an optimizer
	// step runs in pieces (gradient accumulation): its first token is row
	// RowBase and its first sequence SeqBase of the step's whole batch.
	// Dropout draws its masks there, so the pieces together drop what the
	// whole batch in one pass drops.
	RowBase, SeqBase int
}

// ForwardTrain is Forward that keeps what Backward needs in st.
func (m *Encoder) ForwardTrain(ctx context.Context, b *Batch, st *TrainState, hooks Hooks, opt TrainOptions) (Output, error) {
	cfg := m.Config
	N, B, C := b.N(), b.B(), cfg.HiddenSize
	if B == 0 {
		return Output{}, fmt.Errorf("empty batch")
	}
	maxT, err := m.checkBatch(b)
	if err != nil {
		return Output{}, err
	}
	st.reserve(cfg, b, maxT)
	st.batch = b
	hs := resolveHooks(hooks)
	hs.begin(&opt)
	st.drop = newDropout(opt.Dropout, &opt)
	st.last = nil
	if opt.FirstTokensOnly && m.firstTokensAt(len(m.Layers)-1) {
		st.last = &st.lastBuf
	}
	if m.Deberta != nil {
		if err := m.debertaTrainPrepare(st, maxT, &hs); err != nil {
			return Output{}, err
		}
	}
	H := st.outs[0][:N*C]
	var keep *embActs
	if hs.embedBk != nil || m.Embeddings.WordGrad != nil {
		keep = &st.emb
		keep.sum, keep.mean, keep.rstd = grow(keep.sum, N*C), grow(keep.mean, N), grow(keep.rstd, N)
	}
	if err := m.embeddingsForward(H, b, st.pos, &hs, keep); err != nil {
		return Output{}, err
	}
	if err := hs.afterEmbeddings(H, b); err != nil {
		return Output{}, err
	}
	st.drop.site(siteEmbeddings).applyRows(H[:N*C], nil, C)
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return Output{}, err
		}
		a := &st.layers[l]
		if hs.layer != nil {
			if err := hs.layer.BeforeLayer(l, a.x[:N*C], b); err != nil {
				return Output{}, fmt.Errorf("layer %d: %w", l, err)
			}
		}
		pre, err := hs.prefixes(l, b, C, &a.prefix)
		if err != nil {
			return Output{}, err
		}
		a.preUsed = pre
		if pre != nil {
			_, n := probOffsets(b, cfg.NumAttentionHeads, pre)
			a.probs = grow(a.probs, n)
		}
		if pre != nil || m.Deberta != nil {
			reserveScorePool(&st.scores, &st.scoreSize, m.scoreScratch(maxT, pre, 2))
		}
		first := st.last
		if l != len(m.Layers)-1 {
			first = nil
		}
		if err := m.layerForward(l, a, st.tmp, st.g[:N*cfg.IntermediateSize], b, st.scores, st.drop.layer(l), &hs, first); err != nil {
			return Output{}, err
		}
		if l == 0 && m.Deberta != nil && m.Deberta.Conv != nil {
			if err := m.convForwardTrain(a.out, a.x, st, &hs); err != nil {
				return Output{}, err
			}
		}
	}
	last := st.outs[len(m.Layers)][:N*C]
	out := Output{LastHiddenState: last}
	if m.Pooler != nil {
		m.poolerForward(st.pooled, st.first, last, b)
		out.PoolerOutput = st.pooled[:B*C]
	}
	return out, nil
}

// Backward runs the backward pass of the last ForwardTrain from dHidden
// [N,C] (gradient w.r.t. last_hidden_state; it is overwritten) and dPooled
// [B,C] (gradient w.r.t. pooler_output; nil when the pooler is unused).
// hooks must be the ForwardTrain's (BackwardHook, LinearBackwardHook).
func (m *Encoder) Backward(ctx context.Context, st *TrainState, dHidden, dPooled []float32, hooks Hooks) error {
	hs := resolveHooks(hooks)
	cfg := m.Config
	b := st.batch
	N, C := b.N(), cfg.HiddenSize
	dOut := dHidden[:N*C]
	if dPooled != nil {
		if m.Pooler == nil {
			return fmt.Errorf("gradient for pooler_output given but the model has no pooler")
		}
		if m.Deberta != nil {
			return fmt.Errorf("DeBERTa's pooler is trained with the task head, not through the encoder")
		}
		m.poolerBackward(dOut, dPooled, st.pooled, st.first, st.dfirst, st.dq, b)
	}
	dX := st.dA[:N*C]
	for l := len(m.Layers) - 1; l >= 0; l-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		dOutL, dx0 := dOut, []float32(nil)
		if l == 0 && m.Deberta != nil && m.Deberta.Conv != nil {
			// DeBERTa's convolution after layer 0 reads layer 0's input too
			var err error
			if dOutL, dx0, err = m.convBackward(dOut, st.layers[0].x, st, &hs); err != nil {
				return err
			}
		}
		first := st.last
		if l != len(m.Layers)-1 {
			first = nil
		}
		if err := m.layerBackward(l, &st.layers[l], dX, dOutL, st, st.drop.layer(l), &hs, first); err != nil {
			return err
		}
		if dx0 != nil {
			vec.AddInPlace(dX[:N*C], dx0[:N*C])
		}
		if hs.back != nil {
			if err := hs.back.AfterLayerBackward(l, dX, b); err != nil {
				return fmt.Errorf("layer %d backward: %w", l, err)
			}
		}
		// this layer's dX is the previous layer's dOut; reuse the other buffer
		dOut, dX = dX, dOut
	}
	if m.Deberta != nil {
		m.debertaRelBackward(st)
	}
	if hs.embOutBk != nil {
		// the gradient w.r.t. the embeddings' output before dropout (st.dB
		// is free by now)
		d := st.dB[:N*C]
		copy(d, dOut[:N*C])
		st.drop.site(siteEmbeddings).applyRows(d, nil, C)
		if err := hs.embOutBk.EmbeddingsBackward(d, b); err != nil {
			return fmt.Errorf("embeddings backward: %w", err)
		}
	}
	if hs.embedBk != nil || m.Embeddings.WordGrad != nil {
		return m.embeddingsBackward(st, dOut, &hs)
	}
	return nil
}

// embeddingsBackward hands each virtual token the gradient of its word
// embedding: dH0 [N,C] (layer 0's input gradient) back through the
// embeddings' dropout and LayerNorm.
func (m *Encoder) embeddingsBackward(st *TrainState, dH0 []float32, hs *hookSet) error {
	b := st.batch
	N, C := b.N(), m.Config.HiddenSize
	e := &st.emb
	st.drop.site(siteEmbeddings).applyRows(dH0[:N*C], nil, C)
	e.dsum = grow(e.dsum, N*C)
	layerNormBackward(&m.Embeddings.LayerNorm, e.dsum, dH0, e.sum, e.mean, e.rstd, N, C)
	E := &m.Embeddings
	dsum := e.dsum
	if E.EmbedProj != nil {
		// DeBERTa embed_proj: back to the E wide sum
		C = E.EmbedProj.In
		e.dpre = grow(e.dpre, N*C)
		linearBackwardFull(E.EmbedProj, e.dpre, e.dsum, e.pre, N, 0)
		dsum = e.dpre
	}
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		for i := lo; i < hi; i++ {
			d := dsum[i*C : (i+1)*C]
			x := b.IDs[i]
			if x < 0 {
				if hs.embedBk == nil {
					continue
				}
				if err := hs.embedBk.VirtualEmbeddingBackward(x, s, d, b); err != nil {
					return fmt.Errorf("virtual token %d of sequence %d: %w", x, s, err)
				}
			} else if E.WordGrad != nil {
				vec.AddInPlace(E.WordGrad[int(x)*C:(int(x)+1)*C], d)
			}
			if E.PosGrad != nil {
				p := int(st.pos[i])
				vec.AddInPlace(E.PosGrad[p*C:(p+1)*C], d)
			}
			if E.TypeGrad != nil {
				t := 0
				if b.TypeIDs != nil && E.TokenTypeEmbeddings != nil {
					t = int(b.TypeIDs[i])
				}
				vec.AddInPlace(E.TypeGrad[t*C:(t+1)*C], d)
			}
		}
	}
	return nil
}

// layerTailBackward is layerTail's backward on the rows of b (rows: their
// indexes in the pass's batch, nil for all): from dOut [N,C] (clobbered) it
// writes dX [N,C] (the residual's part of the layer input's gradient) and
// returns the gradient of the attention context [N,C].
func (m *Encoder) layerTailBackward(l int, a *layerActs, dX, dOut []float32, st *TrainState, drop *dropout, hs *hookSet, b *Batch, rows []int) ([]float32, error) {
	cfg := m.Config
	L := &m.Layers[l]
	N, C, I := b.N(), cfg.HiddenSize, cfg.IntermediateSize
	hooked := hs.linearBk != nil
	ds2, dh1 := st.dB[:N*C], st.dC[:N*C]
	dg := st.dg[:N*I]
	// out = LN2(s2): ds2 = LN2ᵀ(dOut)
	if err := hs.backward(l, SiteOutputLayerNorm, dOut[:N*C], nil, nil, b); err != nil {
		return nil, err
	}
	layerNormBackward(&L.Output.LayerNorm, ds2, dOut, a.s2, a.mean2, a.rstd2, N, C)
	copy(dh1, ds2) // residual: s2 = ffn + h1
	drop.site(siteFFNOut).applyRows(ds2, rows, C)
	// ffn = output.dense(g): dg = ds2 · W
	var g []float32
	if hooked || L.Output.Dense.WGrad != nil {
		// the hook or the weight gradient needs g = act(pre): recompute it
		// (training keeps only pre)
		g = st.g[:N*I]
		copy(g, a.pre[:N*I])
		parallel.For(N, rowGrain, func(lo, hi int) { m.act(g[lo*I : hi*I]) })
	}
	if hooked {
		clear(dg)
		if err := hs.backward(l, SiteOutput, ds2, g, dg, b); err != nil {
			return nil, err
		}
		linearBackwardFull(&L.Output.Dense, dg, ds2, g, N, 1)
	} else {
		linearBackwardFull(&L.Output.Dense, dg, ds2, g, N, 0)
	}
	// g = act(pre): dpre = act'(pre) ⊙ dg (in place)
	parallel.For(N, rowGrain, func(lo, hi int) {
		m.actBack(dg[lo*I:hi*I], a.pre[lo*I:hi*I], dg[lo*I:hi*I])
	})
	// pre = intermediate.dense(h1): dh1 += dpre · W
	if err := hs.backward(l, SiteIntermediate, dg, a.h1[:N*C], dh1, b); err != nil {
		return nil, err
	}
	linearBackwardFull(&L.Intermediate.Dense, dh1, dg, a.h1, N, 1)
	// h1 = LN1(s1): ds1 = LN1ᵀ(dh1), written to dOut (no longer needed)
	if err := hs.backward(l, SiteAttnLayerNorm, dh1, nil, nil, b); err != nil {
		return nil, err
	}
	ds1 := dOut
	layerNormBackward(&L.Attention.Output.LayerNorm, ds1, dh1, a.s1, a.mean1, a.rstd1, N, C)
	copy(dX, ds1) // residual: s1 = attn + x
	drop.site(siteAttnOut).applyRows(ds1[:N*C], rows, C)
	// attn = attention.output.dense(ctx): dctx = ds1 · W
	dctx := dh1
	if hooked {
		clear(dctx)
		if err := hs.backward(l, SiteAttnOut, ds1[:N*C], a.ctx[:N*C], dctx, b); err != nil {
			return nil, err
		}
		linearBackwardFull(&L.Attention.Output.Dense, dctx, ds1, a.ctx, N, 1)
	} else {
		linearBackwardFull(&L.Attention.Output.Dense, dctx, ds1, a.ctx, N, 0)
	}
	return dctx, nil
}

// layerBackward computes dX [N,C] (overwritten) from dOut [N,C] (clobbered)
// for BertLayer l, using the activations in a. With a LinearBackwardHook,
// each site's hook sees the gradient of its output before the frozen
// module's backward uses it, and adds into the input gradient.
func (m *Encoder) layerBackward(l int, a *layerActs, dX, dOut []float32, st *TrainState, drop *dropout, hs *hookSet, first *firstTokens) error {
	cfg := m.Config
	L := &m.Layers[l]
	b := st.batch
	N, C := b.N(), cfg.HiddenSize
	var dctx []float32
	var err error
	if first == nil {
		dctx, err = m.layerTailBackward(l, a, dX, dOut, st, drop, hs, b, nil)
	} else {
		compactRows(dOut, first.rows, C)
		dctx, err = m.layerTailBackward(l, a, dX, dOut, st, drop, hs, &first.sub, first.rows)
		if err == nil {
			first.expandRowsZero(dX, N, C)
			dctx = dctx[:N*C]
			first.expandRowsZero(dctx, N, C)
		}
	}
	if err != nil {
		return err
	}
	dq, dk, dv := st.dq[:N*C], st.dk[:N*C], st.dv[:N*C]
	var dpk, dpv [][]float32
	if a.preUsed != nil {
		dpk, dpv = st.prefixGrads(a.preUsed)
	}
	if m.Deberta != nil {
		dPosK, dPosQ := m.debertaPositionGrads(st)
		a.hk.zeroGrads()
		a.hq.zeroGrads()
		m.debertaAttentionBackward(dq, dk, dv, dctx, a, b, cfg.NumAttentionHeads, C, dpk, dpv, st.scores, drop.site(siteAttnProbs), dPosK, dPosQ)
		if dPosK != nil || dPosQ != nil {
			m.debertaPositionBackward(l, st, dPosK, dPosQ)
		}
		if a.hk.on || a.hq.on {
			relIn := m.trainRelInput(l, st)
			if err := a.hk.backward(hs, l, SiteKey, relIn, b); err != nil {
				return err
			}
			if err := a.hq.backward(hs, l, SiteQuery, relIn, b); err != nil {
				return err
			}
		}
	} else {
		attentionBackward(dq, dk, dv, dctx, a.probs, a.q, a.k, a.v, b, cfg.NumAttentionHeads, C, a.preUsed, dpk, dpv, st.scores, drop.site(siteAttnProbs))
	}
	if a.preUsed != nil && hs.prefixBk != nil {
		for s := range dpk {
			if dpk[s] == nil {
				continue
			}
			if err := hs.prefixBk.PrefixBackward(l, s, dpk[s], dpv[s], b); err != nil {
				return fmt.Errorf("layer %d prefix backward: %w", l, err)
			}
		}
	}
	s := &L.Attention.Self
	for _, p := range []struct {
		lin  *Linear
		d    []float32
		site Site
	}{{&s.Query, dq, SiteQuery}, {&s.Key, dk, SiteKey}, {&s.Value, dv, SiteValue}} {
		if err := hs.backward(l, p.site, p.d, a.x[:N*C], dX, b); err != nil {
			return err
		}
		linearBackwardFull(p.lin, dX, p.d, a.x, N, 1)
	}
	return nil
}

// prefixGrads returns per-sequence [P_s, C] gradient buffers for p's
// prefixes (nil where a sequence has none), carved from reused storage.
func (st *TrainState) prefixGrads(p *prefixes) (dk, dv [][]float32) {
	total := 0
	for s := range p.k {
		total += len(p.k[s])
	}
	st.dpre = grow(st.dpre, 2*total)
	st.dpk, st.dpv = st.dpk[:0], st.dpv[:0]
	off := 0
	for s := range p.k {
		n := len(p.k[s])
		if n == 0 {
			st.dpk, st.dpv = append(st.dpk, nil), append(st.dpv, nil)
			continue
		}
		st.dpk = append(st.dpk, st.dpre[off:off+n])
		st.dpv = append(st.dpv, st.dpre[off+n:off+2*n])
		off += 2 * n
	}
	return st.dpk, st.dpv
}

// linearBackwardInput computes dinp[N,In] = beta·dinp + dout[N,Out] · W[Out,In]
// (the frozen layer's input gradient; no weight gradient).
func linearBackwardInput(l *Linear, dinp, dout []float32, N int, beta float32) {
	if pb := l.packedNN; pb != nil && pb.Impl() == gemm.Impl() {
		gemm.MulPacked(dinp, l.In, dout, l.Out, pb, N, beta)
		return
	}
	gemm.Sgemm(false, false, N, l.In, l.Out, 1, dout, l.Out, l.Weight, l.In, beta, dinp, l.In)
}

// linearBackwardFull is linearBackwardInput plus, when the layer is trained,
// its weight and bias gradients: dW += doutᵀ·inp [Out,In], db += Σ dout.
func linearBackwardFull(l *Linear, dinp, dout, inp []float32, N int, beta float32) {
	if l.WGrad != nil {
		gemm.Sgemm(true, false, l.Out, l.In, N, 1, dout, l.Out, inp, l.In, 1, l.WGrad, l.In)
		if l.BGrad != nil {
			vec.BiasBackward(l.BGrad, dout[:N*l.Out], N, l.Out)
		}
	}
	if dinp != nil {
		linearBackwardInput(l, dinp, dout, N, beta)
	}
}

// layerNormBackward writes dinp[N,C] = LNᵀ(dout) (overwriting dinp), and
// accumulates the LayerNorm's own gradients when it is trained.
func layerNormBackward(ln *LayerNorm, dinp, dout, inp, mean, rstd []float32, N, C int) {
	if ln.WGrad != nil {
		// one call: the parameter gradients are sums over all rows
		clear(dinp[:N*C])
		vec.LayerNormBackward(dinp, ln.WGrad, ln.BGrad, dout, inp, ln.Weight, mean, rstd, N, C)
		return
	}
	parallel.For(N, rowGrain, func(lo, hi int) {
		d := dinp[lo*C : hi*C]
		for i := range d {
			d[i] = 0
		}
		vec.LayerNormBackward(d, nil, nil, dout[lo*C:hi*C], inp[lo*C:hi*C], ln.Weight, mean[lo:hi], rstd[lo:hi], hi-lo, C)
	})
}

// poolerBackward adds the pooler's gradient into dH at each sequence's first
// token: pooled = tanh(first·Wᵀ + b), first [B,C] the pooler's input. dz
// and df [B,C] are scratch.
func (m *Encoder) poolerBackward(dH, dPooled, pooled, first, dz, df []float32, b *Batch) {
	C := m.Config.HiddenSize
	B := b.B()
	dz, df = dz[:B*C], df[:B*C]
	for i := 0; i < B*C; i++ {
		y := pooled[i]
		dz[i] = dPooled[i] * (1 - y*y)
	}
	linearBackwardFull(&m.Pooler.Dense, df, dz, first, B, 0)
	for s := 0; s < B; s++ {
		lo, _ := b.Seq(s)
		vec.AddInPlace(dH[lo*C:(lo+1)*C], df[s*C:(s+1)*C])
	}
}
