package peft

import (
	"fmt"
	"math"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/vec"

	"github.com/aotp/aotp/model"
)

// P-Tuning v2 (Liu et al., 2022; HF PEFT's prefix tuning for encoders):
// every layer's attention runs over p trained key and value vectors
// followed by the sequence's own, the prefix positions never masked. The
// prefixes are stored already projected ([p, C] per layer, heads split like
// the layer's own keys), so serving is a second, tiny matmul per head.
//
// Training uses the stored tensors directly (PEFT's prefix_projection=False),
// or, with prefix_hidden > 0, the paper's reparametrisation (PEFT's
// prefix_projection=True): a prefix embedding [p, C] through
// Linear(C, hidden) → tanh → Linear(hidden, 2·L·C) gives every layer's keys
// and values. The adapter file then stores the projected keys and values
// (Export), so serving never runs the MLP.

// DefaultPrefixLen is ptv2's prefix length when the config gives none.
const DefaultPrefixLen = 16

// PTv2 is P-Tuning v2's state for one task.
type PTv2 struct {
	P, C, L int
	Key     []*model.Param // per layer [P, C]; with the MLP: its outputs (not trained directly)
	Value   []*model.Param // per layer [P, C]
	mlp     *prefixMLP     // nil: Key and Value are the trained tensors
}

func init() {
	Register("ptv2", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		if cfg.PrefixLen == 0 {
			cfg.PrefixLen = DefaultPrefixLen
		}
		if cfg.PrefixHidden > 0 {
			return NewPTv2MLP(enc, cfg.PrefixLen, cfg.PrefixHidden, seed)
		}
		return NewPTv2(enc, cfg.PrefixLen, seed)
	})
}

// NewPTv2 creates prefixes of length p for every layer of enc, drawn like
// PEFT's nn.Embedding (standard normal).
func NewPTv2(enc *model.Encoder, p int, seed uint64) (*PTv2, error) {
	c := enc.Config
	if err := checkLength("ptv2: prefix_len", p, c); err != nil {
		return nil, err
	}
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

// Params lists the prefixes, layer by layer (with the MLP: its tensors).
func (m *PTv2) Params() []*model.Param {
	if m.mlp != nil {
		return m.mlp.params()
	}
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

// PrefixBackward accumulates the prefixes' gradients (model.PrefixBackwardHook);
// with the MLP they are collected in the outputs' Grad and carried through
// the MLP once layer 0 is done (AfterLayerBackward).
func (m *PTv2) PrefixBackward(l, s int, dk, dv []float32, b *model.Batch) error {
	for i, g := range dk {
		m.Key[l].Grad[i] += g
	}
	for i, g := range dv {
		m.Value[l].Grad[i] += g
	}
	return nil
}

// prefixMLP is the reparametrisation: kv = tanh(E·W1ᵀ + b1)·W2ᵀ + b2, with
// kv [P, 2·L·C] holding layer l's keys at columns 2l·C and values at (2l+1)·C.
type prefixMLP struct {
	E, W1, B1, W2, B2 *model.Param // [P,C], [H,C], [H], [2LC,H], [2LC]
	z, a, kv          []float32    // [P,H], [P,H], [P,2LC]
	dkv, da           []float32
}

// NewPTv2MLP creates P-Tuning v2 with the prefix MLP of width hidden.
func NewPTv2MLP(enc *model.Encoder, p, hidden int, seed uint64) (*PTv2, error) {
	m, err := NewPTv2(enc, p, seed)
	if err != nil {
		return nil, err
	}
	C, L, H := m.C, m.L, hidden
	if err := checkWidth("ptv2: prefix_hidden", H, C); err != nil {
		return nil, err
	}
	f := &prefixMLP{
		E: model.NewParam("ptv2.embedding", p, C), W1: model.NewParam("ptv2.mlp.0.weight", H, C), B1: model.NewParam("ptv2.mlp.0.bias", H),
		W2: model.NewParam("ptv2.mlp.2.weight", 2*L*C, H), B2: model.NewParam("ptv2.mlp.2.bias", 2*L*C),
	}
	r := newRand(seed ^ 0x31f)
	for i := range f.E.Data {
		f.E.Data[i] = float32(r.NormFloat64())
	}
	uniform(r, f.W1.Data, 1/math.Sqrt(float64(C)))
	uniform(r, f.B1.Data, 1/math.Sqrt(float64(C)))
	uniform(r, f.W2.Data, 1/math.Sqrt(float64(H)))
	uniform(r, f.B2.Data, 1/math.Sqrt(float64(H)))
	m.mlp = f
	m.project()
	return m, nil
}

func (f *prefixMLP) params() []*model.Param { return []*model.Param{f.E, f.W1, f.B1, f.W2, f.B2} }

// project recomputes every layer's keys and values from the MLP.
func (m *PTv2) project() {
	f := m.mlp
	P, C, H, W := m.P, m.C, len(f.B1.Data), 2*m.L*m.C
	f.z, f.a, f.kv = grow(f.z, P*H), grow(f.a, P*H), grow(f.kv, P*W)
	gemm.Linear(f.z, f.E.Data, f.W1.Data, f.B1.Data, P, C, H, nil)
	copy(f.a, f.z)
	vec.Tanh(f.a)
	gemm.Linear(f.kv, f.a, f.W2.Data, f.B2.Data, P, H, W, nil)
	for l := 0; l < m.L; l++ {
		for i := 0; i < P; i++ {
			copy(m.Key[l].Data[i*C:(i+1)*C], f.kv[i*W+2*l*C:])
			copy(m.Value[l].Data[i*C:(i+1)*C], f.kv[i*W+(2*l+1)*C:])
		}
	}
}

// BeginPass recomputes the prefixes from the MLP before each pass (the
// optimizer changed it) and clears the collected gradients (model.PassHook).
func (m *PTv2) BeginPass(opt *model.TrainOptions) {
	if m.mlp == nil {
		return
	}
	m.project()
	for l := range m.Key {
		clear(m.Key[l].Grad)
		clear(m.Value[l].Grad)
	}
}

// AfterLayerBackward carries the prefixes' gradients through the MLP once
// the backward pass has left layer 0 (model.BackwardHook).
func (m *PTv2) AfterLayerBackward(l int, dX []float32, b *model.Batch) error {
	if m.mlp == nil || l != 0 {
		return nil
	}
	f := m.mlp
	P, C, H, W := m.P, m.C, len(f.B1.Data), 2*m.L*m.C
	f.dkv, f.da = grow(f.dkv, P*W), grow(f.da, P*H)
	for ll := 0; ll < m.L; ll++ {
		for i := 0; i < P; i++ {
			copy(f.dkv[i*W+2*ll*C:], m.Key[ll].Grad[i*C:(i+1)*C])
			copy(f.dkv[i*W+(2*ll+1)*C:], m.Value[ll].Grad[i*C:(i+1)*C])
		}
	}
	// kv = a·W2ᵀ + b2
	gemm.Sgemm(true, false, W, H, P, 1, f.dkv, W, f.a, H, 1, f.W2.Grad, H)
	vec.BiasBackward(f.B2.Grad, f.dkv, P, W)
	gemm.Sgemm(false, false, P, H, W, 1, f.dkv, W, f.W2.Data, H, 0, f.da, H)
	// a = tanh(z)
	vec.TanhBackward(f.da, f.a, f.da)
	// z = E·W1ᵀ + b1
	gemm.Sgemm(true, false, H, C, P, 1, f.da, H, f.E.Data, C, 1, f.W1.Grad, C)
	vec.BiasBackward(f.B1.Grad, f.da, P, H)
	gemm.Sgemm(false, false, P, C, H, 1, f.da, H, f.W1.Data, C, 1, f.E.Grad, C)
	return nil
}

// Export gives the tensors an adapter file stores: the projected prefixes,
// with the config saying no MLP (Exporter).
func (m *PTv2) Export(cfg *AdapterConfig) (*AdapterConfig, []*model.Param) {
	if m.mlp == nil {
		return cfg, m.Params()
	}
	m.project()
	c := *cfg
	c.PrefixHidden = 0
	ps := make([]*model.Param, 0, 2*m.L)
	for l := range m.Key {
		ps = append(ps, m.Key[l], m.Value[l])
	}
	return &c, ps
}
