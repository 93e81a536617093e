package peft

import (
	"context"
	"fmt"

	"github.com/aotp/aotp/model"
)

// TaskSeq is one input sequence of a mixed-task batch: token ids (with
// special tokens) and the adapter of its task (nil: backbone only, no head).
type TaskSeq struct {
	Adapter *Adapter
	IDs     []int32
	TypeIDs []int32 // nil: zeros
}

// MixedPredictor runs batches whose sequences belong to different tasks:
// one forward pass of the shared backbone with each sequence's own AoT rows,
// then each task's head on its sequences. Not safe for concurrent use.
type MixedPredictor struct {
	Enc *model.Encoder
	// FirstTokensOnly runs the last layer at each sequence's first token
	// only (all a head reads; model.Workspace): faster, but the hidden
	// states Predict returns are then valid at the first tokens only.
	FirstTokensOnly bool

	ws     model.Workspace
	mixed  Mixed
	linear mixedLinear
	prefix mixedPrefix
	embed  mixedEmbed
	first  []float32
	pooled []float32
	ids    [][]int32
	types  [][]int32
}

// mixedAll dispatches every hook kind of a mixed batch to each sequence's
// method; Uses tells the encoder which kinds this batch needs at all
// (model.HookFilter), so unused ones cost nothing.
type mixedAll struct {
	*Mixed
	*mixedLinear
	*mixedPrefix
	*mixedEmbed
	aot, linear, prefix, embed bool
}

// mixedAll must expose every kind it dispatches (an ambiguous embedded
// method would silently not be promoted).
var (
	_ model.LayerHook            = (*mixedAll)(nil)
	_ model.LinearHook           = (*mixedAll)(nil)
	_ model.EmbeddingsOutputHook = (*mixedAll)(nil)
	_ model.PositionHook         = (*mixedAll)(nil)
	_ model.RelativeShiftHook    = (*mixedAll)(nil)
	_ model.ConvHook             = (*mixedAll)(nil)
	_ model.PrefixHook           = (*mixedAll)(nil)
	_ model.EmbeddingHook        = (*mixedAll)(nil)
)

// Uses reports the hook kinds some sequence of the batch needs.
func (h *mixedAll) Uses(k model.HookKind) bool {
	switch k {
	case model.HookLayer:
		return h.aot
	case model.HookLinear, model.HookEmbeddingsOutput, model.HookPosition, model.HookConv:
		return h.linear // mixedLinear also dispatches the embeddings-output, position and conv hooks
	case model.HookPrefix:
		return h.prefix
	case model.HookEmbedding:
		return h.embed
	}
	return false
}

// Predict returns each sequence's logits (nil for sequences without a head)
// and the batch's packed last hidden state [N, C] (valid until the next call).
func (p *MixedPredictor) Predict(ctx context.Context, seqs []TaskSeq) ([][]float32, []float32, error) {
	// Tasks with their own encoder (full fine-tuning) cannot share the
	// backbone's pass: run them apart, one pass per task.
	var own map[*Adapter][]int
	for i, s := range seqs {
		if s.Adapter == nil {
			continue
		}
		if _, ok := s.Adapter.Method.(OwnEncoder); ok {
			if own == nil {
				own = map[*Adapter][]int{}
			}
			own[s.Adapter] = append(own[s.Adapter], i)
		}
	}
	if own != nil {
		return p.predictSplit(ctx, seqs, own)
	}
	return p.predictShared(ctx, seqs)
}

// predictSplit runs the shared-backbone sequences together and each
// own-encoder task alone; the hidden states returned are the shared pass's.
func (p *MixedPredictor) predictSplit(ctx context.Context, seqs []TaskSeq, own map[*Adapter][]int) ([][]float32, []float32, error) {
	logits := make([][]float32, len(seqs))
	var shared []TaskSeq
	var sharedIdx []int
	for i, s := range seqs {
		if _, ok := own[s.Adapter]; s.Adapter != nil && ok {
			continue
		}
		shared, sharedIdx = append(shared, s), append(sharedIdx, i)
	}
	var hidden []float32
	if len(shared) > 0 {
		l, h, err := p.predictShared(ctx, shared)
		if err != nil {
			return nil, nil, err
		}
		for k, i := range sharedIdx {
			logits[i] = l[k]
		}
		hidden = h
	}
	for a, idx := range own {
		var ids, types [][]int32
		for _, i := range idx {
			ids, types = append(ids, seqs[i].IDs), append(types, seqs[i].TypeIDs)
		}
		b := model.NewBatch(ids, types)
		enc := a.Method.(OwnEncoder).Encoder()
		out, err := enc.Forward(ctx, b, &model.Workspace{FirstTokensOnly: p.FirstTokensOnly}, a.Method)
		if err != nil {
			return nil, nil, err
		}
		if a.Head == nil {
			continue
		}
		l, err := a.Head.Forward(out, b, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("task %q: %w", a.Config.Task, err)
		}
		K := len(l) / len(idx)
		for g, i := range idx {
			logits[i] = append([]float32(nil), l[g*K:(g+1)*K]...)
		}
	}
	return logits, hidden, nil
}

// predictShared runs sequences whose methods all use the shared backbone.
func (p *MixedPredictor) predictShared(ctx context.Context, seqs []TaskSeq) ([][]float32, []float32, error) {
	p.ids, p.types = p.ids[:0], p.types[:0]
	p.mixed.Seq, p.linear.Seq, p.prefix.Seq, p.embed.Seq = p.mixed.Seq[:0], p.linear.Seq[:0], p.prefix.Seq[:0], p.embed.Seq[:0]
	hooks := &mixedAll{Mixed: &p.mixed, mixedLinear: &p.linear, mixedPrefix: &p.prefix, mixedEmbed: &p.embed}
	for _, s := range seqs {
		ids, types := s.IDs, s.TypeIDs
		var a *AoT
		var lh model.LinearHook
		var ph model.PrefixHook
		var eh model.EmbeddingHook
		if s.Adapter != nil {
			m := s.Adapter.Method
			a = s.Adapter.AoT
			lh, _ = m.(model.LinearHook)
			ph, _ = m.(model.PrefixHook)
			eh, _ = m.(model.EmbeddingHook)
			if vt, ok := m.(VirtualTokenizer); ok {
				// prompt tuning: the task's soft tokens go first
				ex, et := Expand(vt.(Method), [][]int32{ids}, [][]int32{types})
				ids, types = ex[0], et[0]
			}
		}
		hooks.aot = hooks.aot || a != nil
		hooks.linear = hooks.linear || lh != nil
		hooks.prefix = hooks.prefix || ph != nil
		hooks.embed = hooks.embed || eh != nil
		p.ids, p.types = append(p.ids, ids), append(p.types, types)
		p.mixed.Seq = append(p.mixed.Seq, a)
		p.linear.Seq = append(p.linear.Seq, lh)
		p.prefix.Seq = append(p.prefix.Seq, ph)
		p.embed.Seq = append(p.embed.Seq, eh)
	}
	b := model.NewBatch(p.ids, p.types)
	p.ws.FirstTokensOnly = p.FirstTokensOnly
	out, err := p.Enc.Forward(ctx, b, &p.ws, hooks)
	if err != nil {
		return nil, nil, err
	}
	C := p.Enc.Config.HiddenSize
	logits := make([][]float32, len(seqs))
	// Group sequences by adapter and run each head once on its group: the
	// head only reads each sequence's first token (and pooler output).
	groups := map[*Adapter][]int{}
	var order []*Adapter
	for i, s := range seqs {
		if s.Adapter == nil || s.Adapter.Head == nil {
			continue
		}
		if _, ok := groups[s.Adapter]; !ok {
			order = append(order, s.Adapter)
		}
		groups[s.Adapter] = append(groups[s.Adapter], i)
	}
	for _, a := range order {
		idx := groups[a]
		G := len(idx)
		p.first = grow(p.first, G*C)
		sub := model.Output{LastHiddenState: p.first[:G*C]}
		if out.PoolerOutput != nil {
			p.pooled = grow(p.pooled, G*C)
			sub.PoolerOutput = p.pooled[:G*C]
		}
		offsets := make([]int, G+1)
		for g, i := range idx {
			lo, _ := b.Seq(i)
			copy(p.first[g*C:(g+1)*C], out.LastHiddenState[lo*C:(lo+1)*C])
			if out.PoolerOutput != nil {
				copy(p.pooled[g*C:(g+1)*C], out.PoolerOutput[i*C:(i+1)*C])
			}
			offsets[g+1] = g + 1
		}
		// one "token" per sequence: the first
		l, err := a.Head.Forward(sub, &model.Batch{Offsets: offsets}, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("task %q: %w", a.Config.Task, err)
		}
		K := len(l) / G
		for g, i := range idx {
			logits[i] = append([]float32(nil), l[g*K:(g+1)*K]...)
		}
	}
	return logits, out.LastHiddenState, nil
}
