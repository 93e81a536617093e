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
	Enc    *model.Encoder
	ws     model.Workspace
	mixed  Mixed
	linear mixedLinear
	prefix mixedPrefix
	first  []float32
	pooled []float32
	ids    [][]int32
	types  [][]int32
}

// mixedHooks combines the AoT rows (LayerHook) and the linear-site
// methods (LinearHook) of a mixed batch.
type mixedHooks struct {
	*Mixed
	*mixedLinear
}

// mixedPrefixHooks and mixedHooks3 add the attention prefixes of
// P-Tuning v2 tasks (model.PrefixHook) to the other mixed hooks.
type mixedPrefixHooks struct {
	*Mixed
	*mixedPrefix
}

type mixedHooks3 struct {
	*Mixed
	*mixedLinear
	*mixedPrefix
}

// Predict returns each sequence's logits (nil for sequences without a head)
// and the batch's packed last hidden state [N, C] (valid until the next call).
func (p *MixedPredictor) Predict(ctx context.Context, seqs []TaskSeq) ([][]float32, []float32, error) {
	p.ids, p.types = p.ids[:0], p.types[:0]
	p.mixed.Seq, p.linear.Seq, p.prefix.Seq = p.mixed.Seq[:0], p.linear.Seq[:0], p.prefix.Seq[:0]
	anyLinear, anyPrefix := false, false
	for _, s := range seqs {
		p.ids, p.types = append(p.ids, s.IDs), append(p.types, s.TypeIDs)
		var a *AoT
		var lh model.LinearHook
		var ph model.PrefixHook
		if s.Adapter != nil {
			a = s.Adapter.AoT
			lh, _ = s.Adapter.Method.(model.LinearHook)
			ph, _ = s.Adapter.Method.(model.PrefixHook)
			anyLinear = anyLinear || lh != nil
			anyPrefix = anyPrefix || ph != nil
		}
		p.mixed.Seq = append(p.mixed.Seq, a)
		p.linear.Seq = append(p.linear.Seq, lh)
		p.prefix.Seq = append(p.prefix.Seq, ph)
	}
	b := model.NewBatch(p.ids, p.types)
	var hooks model.Hooks = &p.mixed
	switch {
	case anyLinear && anyPrefix:
		hooks = mixedHooks3{&p.mixed, &p.linear, &p.prefix}
	case anyLinear:
		hooks = mixedHooks{&p.mixed, &p.linear}
	case anyPrefix:
		hooks = mixedPrefixHooks{&p.mixed, &p.prefix}
	}
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
