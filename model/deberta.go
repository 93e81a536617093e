package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// DeBERTa: model_type "deberta" (v1, transformers' modeling_deberta.py)
// and "deberta-v2" (v2 and v3, modeling_deberta_v2.py).
//
// Structure. A DeBERTa layer is a BertLayer: attention → output dense →
// residual LayerNorm → FFN → residual LayerNorm (DebertaLayer's
// attention.output / intermediate / output are BERT's modules). Only the
// attention scores differ, plus a few encoder-level modules. So the Encoder
// keeps BERT's Layers and forward/backward code paths, hooks and sites
// unchanged, and gains one optional part, Encoder.Deberta (nil for BERT and
// RoBERTa), that holds what DeBERTa adds:
//
//   - encoder.rel_embeddings (+ encoder.LayerNorm for norm_rel_ebd
//     "layer_norm") and, per layer, the projections of those relative
//     embeddings (v2: query_proj/key_proj themselves when share_att_key,
//     else pos_query_proj/pos_key_proj; v1: pos_q_proj/pos_proj);
//   - encoder.conv (v2 conv_kernel_size > 0): a 1-D convolution over the
//     encoder input, merged into layer 0's output;
//   - the disentangled attention (debertaAttentionForward/Backward), which
//     layerForward/layerBackward call instead of attentionForward when
//     Encoder.Deberta is set: scores = (q·kᵀ + c2p + p2c) / sqrt(hd·scale_factor).
//
// Weights. v2 names its projections attention.self.query_proj, key_proj,
// value_proj: they load into BertSelfAttention's Query, Key, Value. v1 has
// one attention.self.in_proj [3C, C] without bias, whose rows are
// interleaved per head ([q_h; k_h; v_h] for each head h), plus q_bias and
// v_bias: loading splits it into Query (bias q_bias), Key (no bias) and
// Value (bias v_bias), so the q/k/v hook sites mean the same for v1.
//
// Packed batches. Relative positions of a sequence are computed from its
// own length (i − j for tokens i, j of the sequence, log-bucketed for v2
// with position_buckets > 0); they depend only on i − j, so a padded HF
// batch gives every sequence the same positions, and a packed batch gives
// each sequence exactly what running it alone gives. The convolution sees
// zeros beyond a sequence's ends, as HF's does (padding is masked to zero
// by DebertaEmbeddings before the convolution).
//
// Method hooks, where DeBERTa needs a choice:
//   - LayerHook at layer 0 changes the encoder input before both layer 0
//     and the convolution read it (the convolution reads HF's
//     hidden_states[0], which is what the hook changes); BackwardHook's dX
//     at layer 0 includes the convolution's gradient.
//   - LinearHook at the q/k/v sites changes the content projections. The
//     projections of the relative embeddings do not depend on the batch:
//     the frozen ones are computed once and cached. Where v2/v3 make them
//     with query_proj/key_proj themselves (share_att_key), a PositionHook
//     (LoRA, BitFit on those modules) changes them too, per group of
//     sequences (deberta_pos.go), as PyTorch's wrapped modules do.
//   - PrefixHook (P-Tuning v2): prefix keys have no position, so they get
//     content-to-content scores only (q·pkᵀ scaled by the same
//     1/sqrt(hd·scale_factor)), no c2p/p2c terms; the sequence's own tokens
//     keep positions 0..T-1 (no shift, unlike BERT's past_key_values_length:
//     HF's DeBERTa has no past_key_values). This is what the P-Tuning v2
//     authors' own DeBERTa-v2 does (THUDM/P-tuning-v2, model/debertaV2.py:
//     zeros for the prefix columns of the relative scores, relative
//     positions from the sequence alone).
//   - EmbeddingHook: virtual tokens are word embeddings as for BERT; with
//     position_biased_input false (all released v2/v3 models) they carry no
//     position, only relative ones from their place in the sequence.

// PosAttType is `pos_att_type`: a JSON list (["p2c", "c2p"]), a "p2c|c2p"
// string (the original DeBERTa configs) or null.
type PosAttType []string

// UnmarshalJSON accepts a list of strings, a "|"-separated string or null,
// lower-cased and trimmed as DebertaConfig does.
func (p *PosAttType) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*p = nil
		return nil
	}
	var list []string
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		list = strings.Split(s, "|")
	} else if err := json.Unmarshal(data, &list); err != nil {
		return &json.UnmarshalTypeError{Value: string(data), Type: reflect.TypeOf(list), Field: "pos_att_type"}
	}
	out := PosAttType{}
	for _, t := range list {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			out = append(out, t)
		}
	}
	*p = out
	return nil
}

// Has reports whether the list names t.
func (p PosAttType) Has(t string) bool {
	for _, x := range p {
		if x == t {
			return true
		}
	}
	return false
}

// debertaDefaults sets DebertaConfig / DebertaV2Config's constructor
// defaults and the getattr defaults the modules use for keys the config
// class does not declare (position_buckets, share_att_key, conv_*, ...).
func debertaDefaults(c *Config) {
	c.VocabSize = 50265
	if c.ModelType == "deberta-v2" {
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 128100, 1536, 24, 24, 6144
	}
	c.TypeVocabSize = 0
	c.LayerNormEps = 1e-7
	c.MaxRelativePositions = -1
	c.PositionBuckets = -1
	c.PositionBiasedInput = true
	c.NormRelEbd = "none"
	c.ConvAct = "tanh"
	c.ConvGroups = 1
	c.PoolerHiddenAct = "gelu"
}

// validateDeberta checks the DeBERTa keys; the error names the key.
func (c *Config) validateDeberta() error {
	for _, t := range c.PosAttType {
		if t != "c2p" && t != "p2c" {
			return fmt.Errorf("key \"pos_att_type\": %q is not supported (only \"c2p\", \"p2c\")", t)
		}
	}
	if c.TalkingHead {
		return fmt.Errorf("key \"talking_head\": true is not supported")
	}
	if c.EmbeddingSize < 0 {
		return fmt.Errorf("key \"embedding_size\" must be positive, got %d", c.EmbeddingSize)
	}
	if c.AttentionHeadSize != 0 && c.AttentionHeadSize*c.NumAttentionHeads != c.HiddenSize {
		return fmt.Errorf("key \"attention_head_size\" (%d) × \"num_attention_heads\" (%d) is not \"hidden_size\" (%d)", c.AttentionHeadSize, c.NumAttentionHeads, c.HiddenSize)
	}
	if c.PoolerHiddenSize != 0 && c.PoolerHiddenSize != c.HiddenSize {
		return fmt.Errorf("key \"pooler_hidden_size\" (%d) differs from \"hidden_size\" (%d)", c.PoolerHiddenSize, c.HiddenSize)
	}
	if _, err := activationByName(c.PoolerHiddenAct); err != nil {
		return fmt.Errorf("key \"pooler_hidden_act\": %w", err)
	}
	if c.TypeVocabSize < 0 {
		return fmt.Errorf("key \"type_vocab_size\" must not be negative, got %d", c.TypeVocabSize)
	}
	if c.ModelType == "deberta-v2" && c.ConvKernelSize > 0 {
		if c.ConvKernelSize%2 == 0 {
			return fmt.Errorf("key \"conv_kernel_size\" (%d) must be odd", c.ConvKernelSize)
		}
		if c.ConvGroups < 1 || c.HiddenSize%c.ConvGroups != 0 {
			return fmt.Errorf("key \"conv_groups\" (%d) must divide \"hidden_size\" (%d)", c.ConvGroups, c.HiddenSize)
		}
		if _, err := activationByName(c.ConvAct); err != nil {
			return fmt.Errorf("key \"conv_act\": %w", err)
		}
	}
	if c.RelativeAttention && c.ModelType == "deberta-v2" && c.PositionBuckets > 0 {
		if c.PositionBuckets < 2 {
			return fmt.Errorf("key \"position_buckets\" (%d) must be at least 2", c.PositionBuckets)
		}
		// the log buckets divide by log((max_relative_positions-1)/mid)
		if _, maxRel, _ := c.relSpan(); maxRel-1 <= c.PositionBuckets/2 {
			return fmt.Errorf("key \"max_relative_positions\" (%d, or max_position_embeddings when < 1) must exceed position_buckets/2 + 1 (%d): the log buckets are undefined below", maxRel, c.PositionBuckets/2+1)
		}
	}
	return nil
}

// EmbeddingDim is the width of the word embeddings: embedding_size
// (DeBERTa, with embed_proj to the hidden size when it differs), else
// hidden_size.
func (c *Config) EmbeddingDim() int {
	if c.EmbeddingSize > 0 {
		return c.EmbeddingSize
	}
	return c.HiddenSize
}

// relSpan is att_span: the relative embedding table has 2·span rows
// (v2: position_buckets when > 0, else max_relative_positions; v1:
// max_relative_positions), max_relative_positions < 1 meaning
// max_position_embeddings.
func (c *Config) relSpan() (span, maxRel, buckets int) {
	maxRel = c.MaxRelativePositions
	if maxRel < 1 {
		maxRel = c.MaxPositionEmbeddings
	}
	span = maxRel
	if c.ModelType == "deberta-v2" && c.PositionBuckets > 0 {
		buckets = c.PositionBuckets
		span = buckets
	}
	return span, maxRel, buckets
}

// DebertaEncoder is what DeBERTa adds to the BERT layout (see the top of
// this file). Names follow HF's modules under `deberta.encoder.`.
type DebertaEncoder struct {
	RelEmbeddings []float32        // [2·span, C] encoder.rel_embeddings.weight; nil without relative_attention
	LayerNorm     *LayerNorm       // encoder.LayerNorm (norm_rel_ebd "layer_norm", v2), or nil
	Conv          *ConvLayer       // encoder.conv (v2, conv_kernel_size > 0), or nil
	Pos           []DebertaPosProj // per layer: the relative embeddings' own projections
	RelGrad       []float32        // rel_embeddings gradient when trained (full fine-tuning), else nil

	v1       bool
	c2p, p2c bool    // relative terms in use (relative_attention and pos_att_type)
	span     int     // att_span: rows either side of relative distance 0
	maxRel   int     // max_relative_positions (resolved)
	buckets  int     // position_buckets (v2, > 0: log buckets), else 0
	scale    float32 // 1/sqrt(hd·scale_factor)
	poolAct  func([]float32)

	cacheOnce sync.Once
	cache     debertaPosCache // frozen weights: per-layer projections, computed once
}

// DebertaPosProj are one layer's projections of the relative embeddings
// when they are not the content ones (v2 share_att_key false:
// attention.self.pos_key_proj, pos_query_proj; v1: attention.self.pos_proj
// (no bias), pos_q_proj). nil when unused or shared with Key/Query.
type DebertaPosProj struct {
	PosKey   *Linear // c2p: keys of the relative positions
	PosQuery *Linear // p2c: queries of the relative positions
}

// ConvLayer is encoder.conv (DebertaV2's ConvLayer): after layer 0,
// out = LayerNorm(layer0_out + act(conv1d(encoder_input))).
type ConvLayer struct {
	Weight    []float32 // [C, C/groups, k] encoder.conv.conv.weight
	Bias      []float32 // [C] encoder.conv.conv.bias
	LayerNorm LayerNorm // encoder.conv.LayerNorm
	K, Groups int
	WGrad     []float32 // gradients when trained, else nil
	BGrad     []float32

	taps    [][]float32 // k matrices [C, C/groups]: Weight[:, :, t], contiguous
	act     func([]float32)
	actBack func(dinp, inp, dout []float32)
}

// debertaPosCache holds the relative embeddings after their LayerNorm and
// each layer's projections of them, [2·span, C].
type debertaPosCache struct {
	rel        []float32
	posK, posQ [][]float32
}

// loadDeberta builds a DeBERTa Encoder (v1 or v2) from src.
func loadDeberta(cfg *Config, src TensorSource, file string) (*Encoder, error) {
	act, err := activationByName(cfg.HiddenAct)
	if err != nil {
		return nil, err
	}
	w := newWeightLoader(src, file)
	w.detectPrefix("deberta.", "")
	C, I, eps, NH := cfg.HiddenSize, cfg.IntermediateSize, cfg.LayerNormEps, cfg.NumAttentionHeads
	hd := C / NH
	m := &Encoder{Config: cfg, act: act, actBack: activationBackwards[cfg.HiddenAct]}
	d := &DebertaEncoder{v1: cfg.ModelType == "deberta"}
	m.Deberta = d
	d.poolAct, _ = activationByName(cfg.PoolerHiddenAct)
	d.span, d.maxRel, d.buckets = cfg.relSpan()
	d.c2p = cfg.RelativeAttention && cfg.PosAttType.Has("c2p")
	d.p2c = cfg.RelativeAttention && cfg.PosAttType.Has("p2c")
	sf := 1 // HF counts pos_att_type whether or not relative_attention is on
	if cfg.PosAttType.Has("c2p") {
		sf++
	}
	if cfg.PosAttType.Has("p2c") {
		sf++
	}
	d.scale = float32(1 / math.Sqrt(float64(hd*sf)))

	e := &m.Embeddings
	E := cfg.EmbeddingDim()
	e.WordEmbeddings = w.tensor("embeddings.word_embeddings.weight", cfg.VocabSize, E)
	if cfg.PositionBiasedInput {
		e.PositionEmbeddings = w.tensor("embeddings.position_embeddings.weight", cfg.MaxPositionEmbeddings, E)
	} else {
		// HF ignores it (_keys_to_ignore_on_load_unexpected)
		w.ignore("embeddings.position_embeddings.weight")
	}
	if cfg.TypeVocabSize > 0 {
		e.TokenTypeEmbeddings = w.tensor("embeddings.token_type_embeddings.weight", cfg.TypeVocabSize, E)
	}
	if E != C {
		e.EmbedProj = &Linear{Weight: w.tensor("embeddings.embed_proj.weight", C, E), In: E, Out: C}
	}
	e.LayerNorm = w.layerNorm("embeddings.LayerNorm", C, eps)

	m.Layers = make([]BertLayer, cfg.NumHiddenLayers)
	d.Pos = make([]DebertaPosProj, cfg.NumHiddenLayers)
	opt := func(name string, out, in int, bias bool) *Linear {
		l := Linear{Weight: w.tensor(name+".weight", out, in), In: in, Out: out}
		if bias {
			l.Bias = w.tensor(name+".bias", out)
		}
		return &l
	}
	for l := range m.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		L := &m.Layers[l]
		s := &L.Attention.Self
		if d.v1 {
			s.Query, s.Key, s.Value = splitInProj(w.tensor(p+"attention.self.in_proj.weight", 3*C, C), NH, hd)
			s.Query.Bias = w.tensor(p+"attention.self.q_bias", C)
			s.Value.Bias = w.tensor(p+"attention.self.v_bias", C)
			if d.c2p {
				d.Pos[l].PosKey = opt(p+"attention.self.pos_proj", C, C, false)
			}
			if d.p2c {
				d.Pos[l].PosQuery = opt(p+"attention.self.pos_q_proj", C, C, true)
			}
		} else {
			s.Query = w.linear(p+"attention.self.query_proj", C, C)
			s.Key = w.linear(p+"attention.self.key_proj", C, C)
			s.Value = w.linear(p+"attention.self.value_proj", C, C)
			if !cfg.ShareAttKey {
				if d.c2p {
					d.Pos[l].PosKey = opt(p+"attention.self.pos_key_proj", C, C, true)
				}
				if d.p2c {
					d.Pos[l].PosQuery = opt(p+"attention.self.pos_query_proj", C, C, true)
				}
			}
		}
		L.Attention.Output = BertSelfOutput{
			Dense:     w.linear(p+"attention.output.dense", C, C),
			LayerNorm: w.layerNorm(p+"attention.output.LayerNorm", C, eps),
		}
		L.Intermediate = BertIntermediate{Dense: w.linear(p+"intermediate.dense", I, C)}
		L.Output = BertOutput{Dense: w.linear(p+"output.dense", C, I), LayerNorm: w.layerNorm(p+"output.LayerNorm", C, eps)}
	}
	if cfg.RelativeAttention {
		d.RelEmbeddings = w.tensor("encoder.rel_embeddings.weight", 2*d.span, C)
		if !d.v1 && hasToken(cfg.NormRelEbd, "layer_norm") {
			ln := w.layerNorm("encoder.LayerNorm", C, eps)
			d.LayerNorm = &ln
		}
	}
	if !d.v1 && cfg.ConvKernelSize > 0 {
		k, g := cfg.ConvKernelSize, cfg.ConvGroups
		cv := &ConvLayer{
			Weight:    w.tensor("encoder.conv.conv.weight", C, C/g, k),
			Bias:      w.tensor("encoder.conv.conv.bias", C),
			LayerNorm: w.layerNorm("encoder.conv.LayerNorm", C, eps),
			K:         k, Groups: g,
		}
		cv.act, _ = activationByName(cfg.ConvAct)
		cv.actBack = activationBackwards[cfg.ConvAct]
		d.Conv = cv
	}
	// ContextPooler of a DebertaForSequenceClassification checkpoint: a
	// top-level `pooler.dense`, outside the base model's prefix.
	if w.names["pooler.dense.weight"] {
		saved := w.prefix
		w.prefix = ""
		m.Pooler = &BertPooler{Dense: w.linear("pooler.dense", C, C)}
		w.prefix = saved
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if d.Conv != nil {
		d.Conv.makeTaps(C)
	}
	return m, nil
}

// hasToken reports whether a "|"-separated, case-insensitive list names t
// (norm_rel_ebd "layer_norm", "none", ...).
func hasToken(list, t string) bool {
	for _, x := range strings.Split(strings.ToLower(list), "|") {
		if strings.TrimSpace(x) == t {
			return true
		}
	}
	return false
}

// splitInProj splits v1's in_proj.weight [3C, C] into the query, key and
// value weights: in_proj's output viewed as [NH, 3·hd] is chunked into q,
// k, v per head (DisentangledSelfAttention.forward), so row h·3hd + i is
// query row h·hd + i, h·3hd + hd + i key, h·3hd + 2hd + i value.
func splitInProj(w []float32, NH, hd int) (q, k, v Linear) {
	C := NH * hd
	mk := func() Linear { return Linear{Weight: make([]float32, C*C), In: C, Out: C} }
	q, k, v = mk(), mk(), mk()
	if w == nil {
		return Linear{In: C, Out: C}, Linear{In: C, Out: C}, Linear{In: C, Out: C}
	}
	for h := 0; h < NH; h++ {
		for i := 0; i < hd; i++ {
			for part, dst := range []*Linear{&q, &k, &v} {
				src := (h*3*hd + part*hd + i) * C
				copy(dst.Weight[(h*hd+i)*C:(h*hd+i+1)*C], w[src:src+C])
			}
		}
	}
	return q, k, v
}

// InProjRow is the row of DeBERTa v1's in_proj.weight [3C, C] (heads of
// hd rows interleaved: [q_h; k_h; v_h] for each head h) that row j of the
// query (part 0), key (1) or value (2) projection comes from.
func InProjRow(part, j, hd int) int { return (j/hd)*3*hd + part*hd + j%hd }

// joinInProj is splitInProj's inverse (v1 in_proj.weight from q, k, v).
func joinInProj(q, k, v []float32, NH, hd int) []float32 {
	C := NH * hd
	w := make([]float32, 3*C*C)
	for h := 0; h < NH; h++ {
		for i := 0; i < hd; i++ {
			for part, src := range [][]float32{q, k, v} {
				dst := (h*3*hd + part*hd + i) * C
				copy(w[dst:dst+C], src[(h*hd+i)*C:(h*hd+i+1)*C])
			}
		}
	}
	return w
}

// makeTaps extracts Weight[:, :, t] as contiguous [C, C/groups] matrices
// (again after each change of a trained Weight).
func (cv *ConvLayer) makeTaps(C int) { cv.taps = cv.tapsInto(cv.taps, C) }

// tapsInto writes the taps into (reused) taps and returns them.
func (cv *ConvLayer) tapsInto(taps [][]float32, C int) [][]float32 {
	cg, k := C/cv.Groups, cv.K
	if len(taps) != k {
		taps = make([][]float32, k)
	}
	for t := 0; t < k; t++ {
		m := grow(taps[t], C*cg)
		for o := 0; o < C; o++ {
			for i := 0; i < cg; i++ {
				m[o*cg+i] = cv.Weight[(o*cg+i)*k+t]
			}
		}
		taps[t] = m
	}
	return taps
}

// ignore marks a tensor HF ignores on load as used when present.
func (w *weightLoader) ignore(name string) {
	if w.has(name) {
		w.used[w.prefix+name] = true
	}
}

// numParams counts DeBERTa's own weights (those outside the BERT layout).
func (d *DebertaEncoder) numParams() int {
	n := len(d.RelEmbeddings)
	if d.LayerNorm != nil {
		n += 2 * len(d.LayerNorm.Weight)
	}
	for _, p := range d.Pos {
		for _, l := range []*Linear{p.PosKey, p.PosQuery} {
			if l != nil {
				n += len(l.Weight) + len(l.Bias)
			}
		}
	}
	if d.Conv != nil {
		n += len(d.Conv.Weight) + len(d.Conv.Bias) + 2*len(d.Conv.LayerNorm.Weight)
	}
	return n
}

// bucket is make_log_bucket_position for one relative distance, in
// float32 as torch computes it (abs/mid, log, ceil).
func (d *DebertaEncoder) bucket(rel int) int {
	if d.buckets <= 0 || d.maxRel <= 0 {
		return rel
	}
	mid := d.buckets / 2
	abs := rel
	if abs < 0 {
		abs = -abs
	}
	if rel < mid && rel > -mid {
		abs = mid - 1
	}
	if abs <= mid {
		return rel
	}
	num := float32(math.Log(float64(float32(abs) / float32(mid))))
	den := float32(math.Log(float64(float32(float64(d.maxRel-1) / float64(mid)))))
	lp := int(float32(math.Ceil(float64(num/den*float32(mid-1))))) + mid
	if rel < 0 {
		return -lp
	}
	return lp
}

// relIndex fills idx[δ + maxT − 1], δ = i − j ∈ (−maxT, maxT), with the
// row of the relative embedding table that tokens i (query) and j (key)
// use: clamp(bucket(δ) + span, 0, 2·span − 1), HF's c2p_pos. p2c uses
// clamp(−bucket(j − i) + span) = the same row, as the buckets are odd.
func (d *DebertaEncoder) relIndex(idx []int32, maxT int) []int32 {
	n := 2*maxT - 1
	if cap(idx) < n {
		idx = make([]int32, n)
	}
	idx = idx[:n]
	for i := range idx {
		r := d.bucket(i-(maxT-1)) + d.span
		idx[i] = int32(min(max(r, 0), 2*d.span-1))
	}
	return idx
}

// posProj returns the Linear that projects relative embeddings to keys
// (c2p) or queries (p2c) at layer l.
func (m *Encoder) posProj(l int, key bool) *Linear {
	d, s := m.Deberta, &m.Layers[l].Attention.Self
	if key {
		if d.Pos[l].PosKey != nil {
			return d.Pos[l].PosKey
		}
		return &s.Key
	}
	if d.Pos[l].PosQuery != nil {
		return d.Pos[l].PosQuery
	}
	return &s.Query
}

// relNormed writes the relative embeddings after encoder.LayerNorm (when
// the model has one) into out [R,C], keeping the statistics when mean and
// rstd are not nil.
func (d *DebertaEncoder) relNormed(out, mean, rstd []float32, C int) {
	R := len(d.RelEmbeddings) / C
	if d.LayerNorm == nil {
		copy(out, d.RelEmbeddings)
		return
	}
	parallel.For(R, rowGrain, func(lo, hi int) {
		var mr, rr []float32
		if mean != nil {
			mr, rr = mean[lo:hi], rstd[lo:hi]
		}
		vec.LayerNorm(out[lo*C:hi*C], mr, rr, d.RelEmbeddings[lo*C:hi*C], d.LayerNorm.Weight, d.LayerNorm.Bias, hi-lo, C, d.LayerNorm.Eps)
	})
}

// positionProjections returns the frozen per-layer projections of the
// (normalised) relative embeddings, computed on first use. Only for
// encoders whose weights do not change (not CloneTrainable copies).
func (m *Encoder) positionProjections() *debertaPosCache {
	d := m.Deberta
	d.cacheOnce.Do(func() {
		C := m.Config.HiddenSize
		R := len(d.RelEmbeddings) / C
		c := &d.cache
		c.rel = make([]float32, R*C)
		d.relNormed(c.rel, nil, nil, C)
		c.posK, c.posQ = make([][]float32, len(m.Layers)), make([][]float32, len(m.Layers))
		for l := range m.Layers {
			if d.c2p {
				c.posK[l] = make([]float32, R*C)
				m.posProj(l, true).Forward(c.posK[l], c.rel, R, nil)
			}
			if d.p2c {
				c.posQ[l] = make([]float32, R*C)
				m.posProj(l, false).Forward(c.posQ[l], c.rel, R, nil)
			}
		}
	})
	return &d.cache
}

// resetPositionProjections drops the cached projections, computed again on
// next use: after the weights that made them were packed in another
// precision (PackWeightsHalf) or unpacked. Not while a pass runs.
func (d *DebertaEncoder) resetPositionProjections() {
	d.cacheOnce = sync.Once{}
	d.cache = debertaPosCache{}
}

// trainable reports whether DeBERTa's weights are being trained (full
// fine-tuning): the position projections must then be recomputed.
func (d *DebertaEncoder) trainable() bool { return d.RelGrad != nil }

// debertaScratch is the workspace DeBERTa adds to a forward pass.
type debertaScratch struct {
	relIdx     []int32
	x0         []float32 // [N,C] encoder input (the convolution reads it after layer 0 overwrote H)
	conv       []float32 // [N,C] convolution output
	rel        []float32 // [R,C] normalised relative embeddings (trained weights)
	posK, posQ []float32 // [R,C] (trained weights, inference)
	taps       [][]float32
}

// scoreScratch is the size of the per-thread score buffers: BERT's
// mult·T·(P+T), plus DeBERTa's two [T, 2T] relative-score blocks.
func (m *Encoder) scoreScratch(maxT int, pre *prefixes, mult int) int {
	n := mult * maxT * (pre.max() + maxT)
	if m.Deberta != nil {
		n += 4 * maxT * maxT
	}
	return n
}

// debertaPrepareForward sets up one inference pass: relative indices and
// each layer's position projections (cached for frozen weights).
func (m *Encoder) debertaPrepare(ds **debertaScratch, maxT int) *debertaScratch {
	if *ds == nil {
		*ds = &debertaScratch{}
	}
	s := *ds
	s.relIdx = m.Deberta.relIndex(s.relIdx, maxT)
	return s
}

// layerPositions returns layer l's position projections for inference.
func (m *Encoder) layerPositions(l int, s *debertaScratch) (posK, posQ []float32) {
	d := m.Deberta
	if d.RelEmbeddings == nil {
		return nil, nil
	}
	if !d.trainable() {
		c := m.positionProjections()
		return c.posK[l], c.posQ[l]
	}
	C := m.Config.HiddenSize
	R := len(d.RelEmbeddings) / C
	s.rel = grow(s.rel, R*C)
	if l == 0 {
		d.relNormed(s.rel, nil, nil, C)
	}
	if d.c2p {
		s.posK = grow(s.posK, R*C)
		m.posProj(l, true).Forward(s.posK, s.rel, R, nil)
		posK = s.posK
	}
	if d.p2c {
		s.posQ = grow(s.posQ, R*C)
		m.posProj(l, false).Forward(s.posQ, s.rel, R, nil)
		posQ = s.posQ
	}
	return posK, posQ
}

// convForward runs encoder.conv after layer 0 (inference): H [N,C] holds
// layer 0's output and becomes LayerNorm(H + act(conv(x0))), with the
// ConvHook's changes.
func (m *Encoder) convForward(H []float32, s *debertaScratch, b *Batch, hs *hookSet) error {
	cv := m.Deberta.Conv
	N, C := b.N(), m.Config.HiddenSize
	s.conv = grow(s.conv, N*C)
	taps := cv.taps
	if cv.WGrad != nil {
		// trained: the weights may have changed since the taps were made
		s.taps = cv.tapsInto(s.taps, C)
		taps = s.taps
	}
	cv.conv(s.conv, s.x0, b, C, taps)
	if err := hs.afterConv(s.conv, b); err != nil {
		return err
	}
	parallel.For(N, rowGrain, func(lo, hi int) {
		c := s.conv[lo*C : hi*C]
		cv.act(c)
		vec.Add(c, H[lo*C:hi*C], c)
		vec.LayerNorm(H[lo*C:hi*C], nil, nil, c, cv.LayerNorm.Weight, cv.LayerNorm.Bias, hi-lo, C, cv.LayerNorm.Eps)
	})
	return hs.afterConvLayerNorm(H, b)
}

// conv writes out[N,C] = conv1d(x) per sequence (zero padding of (k−1)/2
// on both ends of each sequence, groups), bias included.
func (cv *ConvLayer) conv(out, x []float32, b *Batch, C int, taps [][]float32) {
	N, k, g := b.N(), cv.K, cv.Groups
	cg, pad := C/g, (cv.K-1)/2
	parallel.For(N, rowGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(out[i*C:(i+1)*C], cv.Bias)
		}
	})
	// out[i] += x[i + t − pad] · W_tᵀ for each tap t, rows within the sequence
	parallel.ForChunks(b.B(), b.B(), func(slo, shi int) {
		for s := slo; s < shi; s++ {
			t0, t1 := b.Seq(s)
			T := t1 - t0
			for t := 0; t < k; t++ {
				sh := t - pad // output row i reads input row i + sh
				i0, i1 := max(0, -sh), min(T, T-sh)
				if i1 <= i0 {
					continue
				}
				for gi := 0; gi < g; gi++ {
					gemm.Sgemm(false, true, i1-i0, cg, cg, 1, x[(t0+i0+sh)*C+gi*cg:], C, taps[t][gi*cg*cg:], cg, 1, out[(t0+i0)*C+gi*cg:], C)
				}
			}
		}
	})
}

// debertaAttentionForward is attentionForward with DeBERTa's disentangled
// scores. For sequence s and head h, with Q, K [T, hd], the position
// projections PK, PQ [2·span, hd] of the head, and r(i, j) = relIdx[i − j]:
//
//	S[i, j] = (Q_i·K_j + Q_i·PK_{r(i,j)} + K_j·PQ_{r(i,j)}) / sqrt(hd·scale_factor)
//
// (c2p and p2c as configured). Only the rows of PK, PQ that the sequence's
// distances reach are multiplied: A = Q·PK[w]ᵀ and B = K·PQ[w]ᵀ over the
// window w = r(0, T−1) .. r(T−1, 0), then gathered. Prefix columns (P-Tuning
// v2) get Q·Pkᵀ only. scores buffers need scoreScratch(maxT, pre, 1) floats.
func (m *Encoder) debertaAttentionForward(a *layerActs, b *Batch, NH, C int, scores chan []float32, drop dropSite) {
	d := m.Deberta
	hd := C / NH
	q, k, relIdx := a.q, a.k, a.relIdx
	maxT := (len(relIdx) + 1) / 2
	rel := &relTerms{forward: func(S []float32, ldS, s, h, T, base int, scratch []float32) {
		d.addRelative(S, ldS, q[base:], k[base:], C, a.hk.table(s, a.posK), a.hq.table(s, a.posQ), h*hd, hd, T, relIdx, maxT, scratch)
	}}
	attentionForwardWith(a.ctx, a.probs, q, k, a.v, b, NH, C, a.preUsed, scores, drop, d.scale, rel)
}

// inferencePositionHooks gives the sequences whose method changes layer
// l's position projections their own tables (deberta_pos.go).
func (m *Encoder) inferencePositionHooks(l int, a *layerActs, s *debertaScratch, b *Batch, hs *hookSet) error {
	a.hk.on, a.hq.on = false, false
	if hs.pos == nil || m.Deberta.RelEmbeddings == nil {
		return nil
	}
	rel := m.positionProjections().rel
	if m.Deberta.trainable() {
		rel = s.rel
	}
	if err := m.hookPositions(&a.hk, hs, l, SiteKey, a.posK, rel, b, dropSite{}); err != nil {
		return err
	}
	return m.hookPositions(&a.hq, hs, l, SiteQuery, a.posQ, rel, b, dropSite{})
}

// relLinearRuns lets addRelative and its backward gather and scatter the
// exact region's distances as runs (tests switch it off to compare with the
// per-element loops).
var relLinearRuns = true

// relLinear returns r0 = r(i, i) and lin, the largest distance such that
// every |i − j| ≤ lin is in the exact region, r(i, j) = r0 + i − j (lin < 0
// when relLinearRuns is off). At T ≤ position_buckets/2 that is every
// distance of the sequence.
func relLinear(relIdx []int32, maxT, T int) (r0, lin int) {
	r0 = int(relIdx[maxT-1])
	if !relLinearRuns {
		return r0, -1
	}
	for lin < T-1 && int(relIdx[maxT+lin]) == r0+lin+1 && int(relIdx[maxT-2-lin]) == r0-lin-1 {
		lin++
	}
	return r0, lin
}

// relBlock is the number of query (c2p) or key (p2c) rows whose position
// scores addRelative computes together: their distances to the other
// tokens span T + relBlock − 1 table rows (in the exact region), not the
// 2T − 1 of the whole sequence, so the c2p/p2c products shrink by up to a
// half; a block of 32 keeps each product large enough for the GEMM.
const relBlock = 32

// relBlockSpan is block b's rows [x0, x1) and the table rows [lo, lo+w)
// their distances reach: for c2p (term 0) the rows are queries i and the
// distances r(i, j) over all keys j, for p2c (term 1) keys j over all
// queries i, with r(i, j) = relIdx[maxT−1+i−j].
func relBlockSpan(relIdx []int32, maxT, T, b, term int) (x0, x1, lo, w int) {
	rel := func(i, j int) int { return int(relIdx[maxT-1+i-j]) }
	x0, x1 = b*relBlock, min(T, (b+1)*relBlock)
	lo, hi := rel(x0, T-1), rel(x1-1, 0)
	if term == 1 {
		lo, hi = rel(0, x1-1), rel(T-1, x0)
	}
	return x0, x1, lo, hi - lo + 1
}

// addRelative adds the c2p and p2c terms to the content scores S [T, T]
// (row stride ldS) of one (sequence, head): q, k [T, hd] with row stride
// C, the head's columns of posK, posQ start at col; ext is scratch of at
// least 2·T·(2T−1) floats. With r(i, j) = relIdx[maxT−1+i−j]:
//
//	S[i, j] += scale·q_i·posK[r(i,j)] + scale·k_j·posQ[r(i,j)]
//
// Each block of relBlock rows i (c2p) or j (p2c) multiplies only the table
// rows its distances reach. The products are the same dot products as over
// the whole window (same K order), so the blocking changes no bit.
func (d *DebertaEncoder) addRelative(S []float32, ldS int, q, k []float32, C int, posK, posQ []float32, col, hd, T int, relIdx []int32, maxT int, ext []float32) {
	if !d.c2p && !d.p2c {
		return
	}
	rel := func(i, j int) int { return int(relIdx[maxT-1+i-j]) }
	nb := (T + relBlock - 1) / relBlock
	type block struct{ off, lo, w int }
	var stack [2 * 32]block
	blocks := stack[:0]
	if 2*nb > len(stack) {
		blocks = make([]block, 0, 2*nb)
	}
	used := 0
	// c2p: rows i0..i1 against table rows r(i0, T−1)..r(i1−1, 0)
	// p2c: keys j0..j1 against table rows r(0, j1−1)..r(T−1, j0)
	for term, on := range [2]bool{d.c2p, d.p2c} {
		if !on {
			continue
		}
		for b := 0; b < nb; b++ {
			x0, x1, lo, w := relBlockSpan(relIdx, maxT, T, b, term)
			src, tab := q, posK
			if term == 1 {
				src, tab = k, posQ
			}
			gemm.Sgemm(false, true, x1-x0, w, hd, d.scale, src[x0*C:], C, tab[lo*C+col:], C, 0, ext[used:used+(x1-x0)*w], w)
			blocks = append(blocks, block{used, lo, w})
			used += (x1 - x0) * w
		}
	}
	var aBlocks, bBlocks []block
	switch {
	case d.c2p && d.p2c:
		aBlocks, bBlocks = blocks[:nb], blocks[nb:]
	case d.c2p:
		aBlocks = blocks
	default:
		bBlocks = blocks
	}
	// the exact region's blocks are gathered as runs (c2p reversed, p2c
	// strided) without a table lookup per element: the same sums
	r0, lin := relLinear(relIdx, maxT, T)
	for i := 0; i < T; i++ {
		row := S[i*ldS : i*ldS+T]
		var ai []float32
		alo := 0
		if aBlocks != nil {
			ab := aBlocks[i/relBlock]
			start := ab.off + (i%relBlock)*ab.w
			ai, alo = ext[start:start+ab.w], ab.lo
		}
		for b := 0; b < nb; b++ {
			j0, j1 := b*relBlock, min(T, (b+1)*relBlock)
			if i-j0 <= lin && j1-1-i <= lin {
				seg := row[j0:j1]
				n := len(seg)
				// c2p: ai[r0 + i − j − alo], j = j0 + t: a reversed run
				var aw []float32
				if ai != nil {
					hi := r0 + i - j0 - alo + 1
					aw = ai[hi-n : hi]
				}
				var bw []float32
				stride, boff := 0, 0
				if bBlocks != nil {
					// p2c: bt[t·w + r0 + i − j − lo] = bt[t·(w−1) + r0 + i − j0 − lo]
					bb := bBlocks[b]
					stride, boff = bb.w-1, r0+i-j0-bb.lo
					bw = ext[bb.off : bb.off+n*bb.w]
				}
				switch {
				case aw != nil && bw != nil:
					for t := range seg {
						seg[t] += aw[n-1-t] + bw[t*stride+boff]
					}
				case aw != nil:
					for t := range seg {
						seg[t] += aw[n-1-t]
					}
				default:
					for t := range seg {
						seg[t] += bw[t*stride+boff]
					}
				}
				continue
			}
			switch {
			case ai != nil && bBlocks != nil:
				bb := bBlocks[b]
				bt := ext[bb.off : bb.off+(j1-j0)*bb.w]
				for j := j0; j < j1; j++ {
					r := rel(i, j)
					x := ai[r-alo] + bt[(j-j0)*bb.w+r-bb.lo]
					row[j] += x
				}
			case ai != nil:
				for j := j0; j < j1; j++ {
					row[j] += ai[rel(i, j)-alo]
				}
			default:
				bb := bBlocks[b]
				bt := ext[bb.off : bb.off+(j1-j0)*bb.w]
				for j := j0; j < j1; j++ {
					r := rel(i, j)
					row[j] += bt[(j-j0)*bb.w+r-bb.lo]
				}
			}
		}
	}
}

// debertaSpecs lists a DeBERTa checkpoint's tensors (bare model, no prefix)
// for RandomSource.
func debertaSpecs(cfg *Config, add func(string, byte, ...int), lin func(string, int, int), ln func(string)) {
	C, I := cfg.HiddenSize, cfg.IntermediateSize
	v1 := cfg.ModelType == "deberta"
	span, _, _ := cfg.relSpan()
	c2p := cfg.RelativeAttention && cfg.PosAttType.Has("c2p")
	p2c := cfg.RelativeAttention && cfg.PosAttType.Has("p2c")
	E := cfg.EmbeddingDim()
	add("embeddings.word_embeddings.weight", 'w', cfg.VocabSize, E)
	if cfg.PositionBiasedInput {
		add("embeddings.position_embeddings.weight", 'w', cfg.MaxPositionEmbeddings, E)
	}
	if cfg.TypeVocabSize > 0 {
		add("embeddings.token_type_embeddings.weight", 'w', cfg.TypeVocabSize, E)
	}
	if E != C {
		add("embeddings.embed_proj.weight", 'w', C, E)
	}
	ln("embeddings.LayerNorm")
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		if v1 {
			add(p+"attention.self.in_proj.weight", 'w', 3*C, C)
			add(p+"attention.self.q_bias", 'b', C)
			add(p+"attention.self.v_bias", 'b', C)
			if c2p {
				add(p+"attention.self.pos_proj.weight", 'w', C, C)
			}
			if p2c {
				lin(p+"attention.self.pos_q_proj", C, C)
			}
		} else {
			lin(p+"attention.self.query_proj", C, C)
			lin(p+"attention.self.key_proj", C, C)
			lin(p+"attention.self.value_proj", C, C)
			if !cfg.ShareAttKey && c2p {
				lin(p+"attention.self.pos_key_proj", C, C)
			}
			if !cfg.ShareAttKey && p2c {
				lin(p+"attention.self.pos_query_proj", C, C)
			}
		}
		lin(p+"attention.output.dense", C, C)
		ln(p + "attention.output.LayerNorm")
		lin(p+"intermediate.dense", I, C)
		lin(p+"output.dense", C, I)
		ln(p + "output.LayerNorm")
	}
	if cfg.RelativeAttention {
		add("encoder.rel_embeddings.weight", 'w', 2*span, C)
		if !v1 && hasToken(cfg.NormRelEbd, "layer_norm") {
			ln("encoder.LayerNorm")
		}
	}
	if !v1 && cfg.ConvKernelSize > 0 {
		add("encoder.conv.conv.weight", 'w', C, C/cfg.ConvGroups, cfg.ConvKernelSize)
		add("encoder.conv.conv.bias", 'b', C)
		ln("encoder.conv.LayerNorm")
	}
}
