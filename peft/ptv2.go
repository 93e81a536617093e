package peft

import (
	"fmt"

	"github.com/aotp/aotp/model"
)

// P-Tuning v2 (Liu et al., 2022; HF PEFT's prefix tuning for encoders):
// every layer's attention runs over p trained key and value vectors
// followed by the sequence's own, the prefix positions never masked. The
// prefixes are stored already projected ([p, C] per layer, heads split like
// the layer's own keys), so serving is a second, tiny matmul per head.
//
// Training uses the stored tensors directly (PEFT's prefix_projection=False).
// The prefix MLP reparametrisation of the paper (prefix_hidden > 0) is not
// implemented yet; such a config is refused rather than silently ignored.

// DefaultPrefixLen is ptv2's prefix length when the config gives none.
const DefaultPrefixLen = 16

// PTv2 is P-Tuning v2's state for one task.
type PTv2 struct {
	P, C, L int
	Key     []*model.Param // per layer [P, C]
	Value   []*model.Param // per layer [P, C]
}

func init() {
	Register("ptv2", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		if cfg.PrefixLen == 0 {
			cfg.PrefixLen = DefaultPrefixLen
		}
		if cfg.PrefixHidden > 0 {
			return nil, fmt.Errorf("ptv2: the prefix MLP reparametrisation (prefix_hidden %d) is not implemented; use prefix_hidden 0", cfg.PrefixHidden)
		}
		return NewPTv2(enc, cfg.PrefixLen, seed)
	})
}

// NewPTv2 creates prefixes of length p for every layer of enc, drawn like
// PEFT's nn.Embedding (standard normal).
func NewPTv2(enc *model.Encoder, p int, seed uint64) (*PTv2, error) {
	if p < 1 {
		return nil, fmt.Errorf("ptv2: prefix_len must be positive, got %d", p)
	}
	c := enc.Config
	m := &PTv2{P: p, C: c.HiddenSize, L: c.NumHiddenLayers}
	r := newRand(seed ^ 0x9f2)
	for l := 0; l < m.L; l++ {
		k := model.NewParam(fmt.Sprintf("ptv2.layer.%d.key", l), p, m.C)
		v := model.NewParam(fmt.Sprintf("ptv2.layer.%d.value", l), p, m.C)
		for _, t := range []*model.Param{k, v} {
			for i := range t.Data {
				t.Data[i] = float32(r.NormFloat64())
			}
		}
		m.Key, m.Value = append(m.Key, k), append(m.Value, v)
	}
	return m, nil
}

// Params lists the prefixes, layer by layer.
func (m *PTv2) Params() []*model.Param {
	ps := make([]*model.Param, 0, 2*m.L)
	for l := range m.Key {
		ps = append(ps, m.Key[l], m.Value[l])
	}
	return ps
}

// Prefix gives every sequence the layer's prefix (model.PrefixHook).
func (m *PTv2) Prefix(l, s int, b *model.Batch) (k, v []float32) {
	return m.Key[l].Data, m.Value[l].Data
}

// PrefixBackward accumulates the prefixes' gradients (model.PrefixBackwardHook).
func (m *PTv2) PrefixBackward(l, s int, dk, dv []float32, b *model.Batch) error {
	for i, g := range dk {
		m.Key[l].Grad[i] += g
	}
	for i, g := range dv {
		m.Value[l].Grad[i] += g
	}
	return nil
}
