package model

import (
	"fmt"
	"slices"
)

// CloneTrainable returns a copy of the encoder whose every weight is its
// own, trainable tensor (full fine-tuning), and those tensors as Params
// named as in HF checkpoints, under prefix ("roberta.", "bert." or "").
// The backward pass of the copy then accumulates every weight's gradient.
// The original encoder is unchanged and still shares nothing with it.
func (m *Encoder) CloneTrainable(prefix string) (*Encoder, []*Param) {
	if m.Deberta != nil {
		return m.cloneTrainableDeberta(prefix) // deberta_train.go
	}
	c := &Encoder{Config: m.Config, act: m.act, actBack: m.actBack}
	cl := &cloner{prefix: prefix}
	take, lin, ln := cl.take, cl.linear, cl.layerNorm
	cfg, e := m.Config, &m.Embeddings
	C := cfg.HiddenSize
	ce := &c.Embeddings
	ce.WordEmbeddings, ce.WordGrad = take("embeddings.word_embeddings.weight", e.WordEmbeddings, cfg.VocabSize, C)
	ce.PositionEmbeddings, ce.PosGrad = take("embeddings.position_embeddings.weight", e.PositionEmbeddings, cfg.MaxPositionEmbeddings, C)
	ce.TokenTypeEmbeddings, ce.TypeGrad = take("embeddings.token_type_embeddings.weight", e.TokenTypeEmbeddings, cfg.TypeVocabSize, C)
	ce.LayerNorm = ln("embeddings.LayerNorm", &e.LayerNorm)
	c.Layers = make([]BertLayer, len(m.Layers))
	for i := range m.Layers {
		L, p := &m.Layers[i], fmt.Sprintf("encoder.layer.%d.", i)
		c.Layers[i] = BertLayer{
			Attention: BertAttention{
				Self: BertSelfAttention{
					Query: lin(p+"attention.self.query", &L.Attention.Self.Query),
					Key:   lin(p+"attention.self.key", &L.Attention.Self.Key),
					Value: lin(p+"attention.self.value", &L.Attention.Self.Value),
				},
				Output: BertSelfOutput{
					Dense:     lin(p+"attention.output.dense", &L.Attention.Output.Dense),
					LayerNorm: ln(p+"attention.output.LayerNorm", &L.Attention.Output.LayerNorm),
				},
			},
			Intermediate: BertIntermediate{Dense: lin(p+"intermediate.dense", &L.Intermediate.Dense)},
			Output: BertOutput{
				Dense:     lin(p+"output.dense", &L.Output.Dense),
				LayerNorm: ln(p+"output.LayerNorm", &L.Output.LayerNorm),
			},
		}
	}
	if m.Pooler != nil {
		c.Pooler = &BertPooler{Dense: lin("pooler.dense", &m.Pooler.Dense)}
	}
	return c, cl.ps
}

// cloner copies weights into trainable Params (full fine-tuning), naming
// them prefix + HF name.
type cloner struct {
	prefix string
	ps     []*Param
}

func (c *cloner) take(name string, src []float32, shape ...int) (data, grad []float32) {
	p := NewParam(c.prefix+name, shape...)
	copy(p.Data, src)
	c.ps = append(c.ps, p)
	return p.Data, p.Grad
}

func (c *cloner) linear(name string, l *Linear) Linear {
	out := Linear{In: l.In, Out: l.Out}
	out.Weight, out.WGrad = c.take(name+".weight", l.Weight, l.Out, l.In)
	if l.Bias != nil {
		out.Bias, out.BGrad = c.take(name+".bias", l.Bias, l.Out)
	}
	return out
}

func (c *cloner) layerNorm(name string, n *LayerNorm) LayerNorm {
	out := LayerNorm{Eps: n.Eps}
	C := len(n.Weight)
	out.Weight, out.WGrad = c.take(name+".weight", n.Weight, C)
	out.Bias, out.BGrad = c.take(name+".bias", n.Bias, C)
	return out
}

// ShallowCopy returns a copy of m that shares every weight with m and has
// its own layer slice, so that a caller can give some of its Linears new
// weights (a merged LoRA) without changing m. A DeBERTa copy gets its own,
// empty cache of position projections: with share_att_key they are made by
// query_proj and key_proj, whose weights the copy may change.
func (m *Encoder) ShallowCopy() *Encoder {
	c := *m
	c.Layers = slices.Clone(m.Layers)
	if d := m.Deberta; d != nil {
		c.Deberta = &DebertaEncoder{RelEmbeddings: d.RelEmbeddings, LayerNorm: d.LayerNorm, Conv: d.Conv, Pos: d.Pos,
			RelGrad: d.RelGrad, v1: d.v1, c2p: d.c2p, p2c: d.p2c, span: d.span, maxRel: d.maxRel, buckets: d.buckets,
			scale: d.scale, poolAct: d.poolAct}
	}
	return &c
}
