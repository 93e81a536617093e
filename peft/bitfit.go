package peft

import (
	"fmt"

	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/model"
)

// BitFit (Ben Zaken et al., 2022): only the backbone's bias terms are
// trained. Every bias of the encoder is a parameter, under the backbone's
// own HF name with the task model's prefix ("roberta.encoder.layer.0.
// attention.self.query.bias", ...), holding the bias's trained value:
//
//	per layer: attention.self.{query,key,value}.bias, attention.output.dense.bias,
//	           attention.output.LayerNorm.bias, intermediate.dense.bias,
//	           output.dense.bias, output.LayerNorm.bias
//	and        embeddings.LayerNorm.bias
//
// (the reference implementation's "all" set, github.com/benzakenelad/BitFit,
// trains every parameter whose name contains "bias"). The frozen backbone
// computes its outputs with its own biases; the hooks add (trained − frozen)
// to each site's output, so a parameter's gradient is the sum over rows of
// the gradient of that output, and AdamW's weight decay acts on the trained
// value, as when PyTorch trains the bias itself. A fresh BitFit starts at
// the backbone's values: step 0 is the frozen backbone, bit for bit.
//
// DeBERTa: the biases carry the checkpoint's names (v2/v3
// attention.self.{query,key,value}_proj.bias; v1 attention.self.q_bias and
// v_bias, its key has none). With share_att_key, query_proj and key_proj
// also project the relative embeddings, so their trained biases shift the
// position tables too, as in PyTorch (model.PositionHook); v1 and unshared
// v2 train their own position projections' biases (pos_q_proj.bias,
// pos_key_proj.bias, pos_query_proj.bias) through the same hook. The
// relative embeddings' LayerNorm (v2/v3 norm_rel_ebd, encoder.LayerNorm.bias)
// shifts every relative embedding, so every position table of every layer
// (model.RelativeShiftHook); v2's convolution block trains
// encoder.conv.conv.bias and encoder.conv.LayerNorm.bias (model.ConvHook).
// These come last in Params.
//
// Not trained: the LayerNorm scales (weights, not biases) and the pooler's
// bias (the reference trains pooler.dense.bias too; here the pooler belongs
// to the frozen backbone, as for every method: RoBERTa heads do not read it,
// and a BERT checkpoint without a pooler gets a fully trained one in the
// head).
type BitFit struct {
	Prefix string       // "roberta." or "bert." (model_type + ".")
	Emb    *model.Param // embeddings.LayerNorm.bias
	Sites  [][model.NumSites]*model.Param
	frozen [][model.NumSites][]float32
	emb0   []float32
	params []*model.Param
	shared positionSites // DeBERTa share_att_key
	// DeBERTa's own position projections with a bias (v1 pos_q_proj, v2
	// without share_att_key pos_key_proj / pos_query_proj): per layer, at
	// [0] the p2c query's (SiteQuery) and [1] the c2p key's (SiteKey)
	Pos  [][2]*model.Param
	pos0 [][2][]float32
	// DeBERTa v2/v3: encoder.LayerNorm.bias (relative embeddings), and
	// encoder.conv's conv.bias and LayerNorm.bias; nil where the model has none
	Rel, Conv, ConvNorm *model.Param
	rel0, conv0, convN0 []float32
	relShift            []float32
}

// NewBitFit makes BitFit for enc, every bias starting at the backbone's value.
func NewBitFit(enc *model.Encoder) (*BitFit, error) {
	cfg := enc.Config
	m := &BitFit{Prefix: cfg.BaseModelPrefix() + ".", shared: sharedPositions(enc)}
	newBias := func(name string, frozen []float32) *model.Param {
		p := model.NewParam(m.Prefix+name, len(frozen))
		copy(p.Data, frozen)
		m.params = append(m.params, p)
		return p
	}
	m.emb0 = enc.Embeddings.LayerNorm.Bias
	if m.emb0 == nil {
		return nil, fmt.Errorf("bitfit: the backbone has no embeddings.LayerNorm.bias")
	}
	m.Emb = newBias("embeddings.LayerNorm.bias", m.emb0)
	m.Sites = make([][model.NumSites]*model.Param, len(enc.Layers))
	m.frozen = make([][model.NumSites][]float32, len(enc.Layers))
	for l := range enc.Layers {
		L := &enc.Layers[l]
		biases := [model.NumSites][]float32{
			model.SiteQuery:           L.Attention.Self.Query.Bias,
			model.SiteKey:             L.Attention.Self.Key.Bias,
			model.SiteValue:           L.Attention.Self.Value.Bias,
			model.SiteAttnOut:         L.Attention.Output.Dense.Bias,
			model.SiteAttnLayerNorm:   L.Attention.Output.LayerNorm.Bias,
			model.SiteIntermediate:    L.Intermediate.Dense.Bias,
			model.SiteOutput:          L.Output.Dense.Bias,
			model.SiteOutputLayerNorm: L.Output.LayerNorm.Bias,
		}
		for s, b := range biases {
			if b == nil {
				continue // a module without a bias has nothing to train
			}
			m.frozen[l][s] = b
			m.Sites[l][s] = newBias(fmt.Sprintf("encoder.layer.%d.%s", l, biasName(cfg.ModelType, model.Site(s))), b)
		}
		for i, site := range []model.Site{model.SiteQuery, model.SiteKey} {
			if name, lin := enc.OwnPositionProjection(l, site); lin != nil && lin.Bias != nil {
				if m.Pos == nil {
					m.Pos, m.pos0 = make([][2]*model.Param, len(enc.Layers)), make([][2][]float32, len(enc.Layers))
				}
				m.pos0[l][i] = lin.Bias
				m.Pos[l][i] = newBias(fmt.Sprintf("encoder.layer.%d.%s.bias", l, name), lin.Bias)
			}
		}
	}
	// DeBERTa's biases outside the layers came to BitFit after adapters
	// had been saved without them (trained with the backbone's values): such
	// files still load, with those values (Param.Optional)
	optional := func(p *model.Param) *model.Param { p.Optional = true; return p }
	if d := enc.Deberta; d != nil {
		if d.RelEmbeddings != nil && d.LayerNorm != nil && d.LayerNorm.Bias != nil {
			m.rel0 = d.LayerNorm.Bias
			m.Rel = optional(newBias("encoder.LayerNorm.bias", m.rel0))
		}
		if d.Conv != nil {
			m.conv0, m.convN0 = d.Conv.Bias, d.Conv.LayerNorm.Bias
			m.Conv = optional(newBias("encoder.conv.conv.bias", m.conv0))
			m.ConvNorm = optional(newBias("encoder.conv.LayerNorm.bias", m.convN0))
		}
	}
	return m, nil
}

// posParam is the trained bias of layer l's own position projection at
// site (nil where there is none), with its frozen value.
func (m *BitFit) posParam(l int, site model.Site) (*model.Param, []float32) {
	if l < 0 || l >= len(m.Pos) || (site != model.SiteQuery && site != model.SiteKey) {
		return nil, nil
	}
	i := int(site - model.SiteQuery)
	return m.Pos[l][i], m.pos0[l][i]
}

// Params lists the biases: the embeddings' LayerNorm, then layer by layer
// in the order of the sites.
func (m *BitFit) Params() []*model.Param { return m.params }

// addDelta adds (trained − frozen) to every row of out [N, len(frozen)].
// It keeps no state, so one BitFit may serve sub-batches of mixed batches.
func addDelta(out []float32, p *model.Param, frozen []float32) {
	W := len(frozen)
	for lo := 0; lo+W <= len(out); lo += W {
		row := out[lo : lo+W]
		for i, b := range p.Data {
			row[i] += b - frozen[i]
		}
	}
}

// sumRows accumulates Σ_n d[n, :] into g.
func sumRows(g, d []float32) {
	W := len(g)
	for lo := 0; lo+W <= len(d); lo += W {
		for i, v := range d[lo : lo+W] {
			g[i] += v
		}
	}
}

// AfterLinear replaces a site's bias by its trained value (model.LinearHook).
func (m *BitFit) AfterLinear(l int, site model.Site, out, inp []float32, b *model.Batch) error {
	if p := m.site(l, site); p != nil {
		addDelta(out, p, m.frozen[l][site])
	}
	return nil
}

// LinearBackward accumulates the bias's gradient, Σ over rows of dOut
// (model.LinearBackwardHook); dOut and dInp are left as they are.
func (m *BitFit) LinearBackward(l int, site model.Site, dOut, inp, dInp []float32, b *model.Batch) error {
	if p := m.site(l, site); p != nil {
		sumRows(p.Grad, dOut)
	}
	return nil
}

// AfterEmbeddings replaces embeddings.LayerNorm.bias by its trained value
// (model.EmbeddingsHook).
func (m *BitFit) AfterEmbeddings(out []float32, b *model.Batch) error {
	addDelta(out, m.Emb, m.emb0)
	return nil
}

// EmbeddingsBackward accumulates embeddings.LayerNorm.bias's gradient
// (model.EmbeddingsBackwardHook).
func (m *BitFit) EmbeddingsBackward(dOut []float32, b *model.Batch) error {
	sumRows(m.Emb.Grad, dOut)
	return nil
}

// PositionGroup: DeBERTa's position tables shift with the trained bias of
// the module that makes them — with share_att_key query_proj's and
// key_proj's, else the layer's own pos_*_proj's (model.PositionHook).
func (m *BitFit) PositionGroup(l int, site model.Site, s int, b *model.Batch) int {
	if p, _ := m.posParam(l, site); p != nil || m.Rel != nil {
		return 0 // (a shifted LayerNorm changes every table)
	}
	if m.site(l, site) == nil {
		return -1
	}
	return m.shared.group(l, site)
}

// AfterPositions adds (trained − frozen) bias to every row of the table.
func (m *BitFit) AfterPositions(l int, site model.Site, g int, out, rel []float32, b *model.Batch) error {
	if p, frozen := m.posParam(l, site); p != nil {
		addDelta(out, p, frozen)
		return nil
	}
	return m.AfterLinear(l, site, out, rel, b)
}

// PositionsBackward accumulates the bias's gradient from the table's.
func (m *BitFit) PositionsBackward(l int, site model.Site, g int, dOut, rel []float32, b *model.Batch) error {
	if p, _ := m.posParam(l, site); p != nil {
		sumRows(p.Grad, dOut)
		return nil
	}
	return m.LinearBackward(l, site, dOut, rel, nil, b)
}

// RelativeShift is the trained − frozen encoder.LayerNorm.bias, which
// every relative embedding gets (model.RelativeShiftHook).
func (m *BitFit) RelativeShift(g int) []float32 {
	if m.Rel == nil {
		return nil
	}
	m.relShift = grow(m.relShift, len(m.rel0))
	for i, b := range m.Rel.Data {
		m.relShift[i] = b - m.rel0[i]
	}
	return m.relShift
}

// RelativeShiftBackward accumulates encoder.LayerNorm.bias's gradient.
func (m *BitFit) RelativeShiftBackward(g int, d []float32) error {
	vec.AddInPlace(m.Rel.Grad, d)
	return nil
}

// AfterConv replaces encoder.conv.conv.bias by its trained value (model.ConvHook).
func (m *BitFit) AfterConv(out []float32, b *model.Batch) error {
	if m.Conv != nil {
		addDelta(out, m.Conv, m.conv0)
	}
	return nil
}

// AfterConvLayerNorm replaces encoder.conv.LayerNorm.bias by its trained value.
func (m *BitFit) AfterConvLayerNorm(out []float32, b *model.Batch) error {
	if m.ConvNorm != nil {
		addDelta(out, m.ConvNorm, m.convN0)
	}
	return nil
}

// ConvBackward accumulates the two biases' gradients (model.ConvBackwardHook).
func (m *BitFit) ConvBackward(dConv, dNorm []float32, b *model.Batch) error {
	if m.Conv != nil {
		sumRows(m.Conv.Grad, dConv)
		sumRows(m.ConvNorm.Grad, dNorm)
	}
	return nil
}

// biasName is the checkpoint name of a site's bias inside encoder.layer.{l}.
func biasName(modelType string, s model.Site) string {
	switch modelType {
	case "deberta":
		switch s {
		case model.SiteQuery:
			return "attention.self.q_bias"
		case model.SiteValue:
			return "attention.self.v_bias"
		}
	case "deberta-v2":
		switch s {
		case model.SiteQuery, model.SiteKey, model.SiteValue:
			return s.String() + "_proj.bias"
		}
	}
	return s.String() + ".bias"
}

func (m *BitFit) site(l int, s model.Site) *model.Param {
	if l < 0 || l >= len(m.Sites) || s < 0 || s >= model.NumSites {
		return nil
	}
	return m.Sites[l][s]
}

func init() {
	Register("bitfit", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		return NewBitFit(enc)
	})
}
