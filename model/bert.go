package model

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// The structs below mirror transformers' modeling_bert.py module by module,
// so loading is a walk of the structure with HF's weight names
// (`encoder.layer.{i}.attention.self.query.weight`, ...). RoBERTa's modules
// are the same code under other class names ("Copied from
// transformers.models.bert..."): roberta.go only changes position ids,
// defaults and the weight prefix.

// BertEmbeddings: word + position + token type embeddings, then LayerNorm.
type BertEmbeddings struct {
	WordEmbeddings      []float32 // [V, C]   embeddings.word_embeddings.weight
	PositionEmbeddings  []float32 // [maxT, C] embeddings.position_embeddings.weight
	TokenTypeEmbeddings []float32 // [TV, C]  embeddings.token_type_embeddings.weight
	LayerNorm           LayerNorm // embeddings.LayerNorm
	// DeBERTa with embedding_size E != hidden_size: embeddings.embed_proj
	// [C, E] (no bias) between the sum and the LayerNorm; the tables above
	// are then [., E]. nil otherwise.
	EmbedProj *Linear

	// gradients when trained (full fine-tuning), else nil
	WordGrad, PosGrad, TypeGrad []float32
}

// BertSelfAttention holds the query, key and value projections.
type BertSelfAttention struct{ Query, Key, Value Linear }

// BertSelfOutput: dense projection of the attention context, residual, LayerNorm.
type BertSelfOutput struct {
	Dense     Linear
	LayerNorm LayerNorm
}

// BertAttention is `attention.self` + `attention.output`.
type BertAttention struct {
	Self   BertSelfAttention
	Output BertSelfOutput
}

// BertIntermediate is the FFN's expansion: act(dense(x)).
type BertIntermediate struct{ Dense Linear }

// BertOutput is the FFN's projection back, residual, LayerNorm.
type BertOutput struct {
	Dense     Linear
	LayerNorm LayerNorm
}

// BertLayer is one post-LayerNorm transformer block.
type BertLayer struct {
	Attention    BertAttention
	Intermediate BertIntermediate
	Output       BertOutput
}

// BertPooler: tanh(dense(h of the first token)).
type BertPooler struct{ Dense Linear }

// Encoder is a loaded BERT or RoBERTa base model.
type Encoder struct {
	Config     *Config
	Embeddings BertEmbeddings
	Layers     []BertLayer
	Pooler     *BertPooler // nil when the checkpoint has none (e.g. RobertaForMaskedLM)
	// Deberta holds what DeBERTa adds to this layout (deberta.go); nil for
	// BERT and RoBERTa. DeBERTa's Pooler is the ContextPooler of a
	// classification checkpoint (top-level pooler.dense, pooler_hidden_act).
	Deberta *DebertaEncoder

	act     func([]float32)
	actBack func(dinp, inp, dout []float32)
	closer  io.Closer // the mapped weight file(s)
}

// NumParams counts the backbone's weights.
func (m *Encoder) NumParams() int {
	e := &m.Embeddings
	n := len(e.WordEmbeddings) + len(e.PositionEmbeddings) + len(e.TokenTypeEmbeddings) + 2*len(e.LayerNorm.Weight)
	lin := func(l *Linear) int { return len(l.Weight) + len(l.Bias) }
	for i := range m.Layers {
		L := &m.Layers[i]
		n += lin(&L.Attention.Self.Query) + lin(&L.Attention.Self.Key) + lin(&L.Attention.Self.Value) +
			lin(&L.Attention.Output.Dense) + lin(&L.Intermediate.Dense) + lin(&L.Output.Dense) +
			4*len(L.Output.LayerNorm.Weight)
	}
	if m.Pooler != nil {
		n += lin(&m.Pooler.Dense)
	}
	if e.EmbedProj != nil {
		n += len(e.EmbedProj.Weight)
	}
	if m.Deberta != nil {
		n += m.Deberta.numParams()
	}
	return n
}

// Close releases the memory-mapped weights; the Encoder is unusable after.
func (m *Encoder) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// loadEncoder builds an Encoder for cfg from src; file names the source in errors.
func loadEncoder(cfg *Config, src TensorSource, file string) (*Encoder, error) {
	if cfg.IsDeberta() {
		return loadDeberta(cfg, src, file)
	}
	act, err := activationByName(cfg.HiddenAct)
	if err != nil {
		return nil, err
	}
	actBack := activationBackwards[cfg.HiddenAct]
	w := newWeightLoader(src, file)
	w.detectPrefix(cfg.ModelType+".", "")
	C, I, eps := cfg.HiddenSize, cfg.IntermediateSize, cfg.LayerNormEps
	m := &Encoder{Config: cfg, act: act, actBack: actBack}
	m.Embeddings = BertEmbeddings{
		WordEmbeddings:      w.tensor("embeddings.word_embeddings.weight", cfg.VocabSize, C),
		PositionEmbeddings:  w.tensor("embeddings.position_embeddings.weight", cfg.MaxPositionEmbeddings, C),
		TokenTypeEmbeddings: w.tensor("embeddings.token_type_embeddings.weight", cfg.TypeVocabSize, C),
		LayerNorm:           w.layerNorm("embeddings.LayerNorm", C, eps),
	}
	m.Layers = make([]BertLayer, cfg.NumHiddenLayers)
	for l := range m.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		m.Layers[l] = BertLayer{
			Attention: BertAttention{
				Self: BertSelfAttention{
					Query: w.linear(p+"attention.self.query", C, C),
					Key:   w.linear(p+"attention.self.key", C, C),
					Value: w.linear(p+"attention.self.value", C, C),
				},
				Output: BertSelfOutput{
					Dense:     w.linear(p+"attention.output.dense", C, C),
					LayerNorm: w.layerNorm(p+"attention.output.LayerNorm", C, eps),
				},
			},
			Intermediate: BertIntermediate{Dense: w.linear(p+"intermediate.dense", I, C)},
			Output: BertOutput{
				Dense:     w.linear(p+"output.dense", C, I),
				LayerNorm: w.layerNorm(p+"output.LayerNorm", C, eps),
			},
		}
	}
	if w.has("pooler.dense.weight") {
		m.Pooler = &BertPooler{Dense: w.linear("pooler.dense", C, C)}
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// Batch is a set of sequences packed back to back, without padding: the
// encoder never computes pad positions, so a batch gives each sequence
// exactly what running it alone gives (attention is per sequence). A Batch
// must not be changed after it is passed to Forward: hooks may cache what
// they derive from it (AoT caches the batch's distinct ids).
type Batch struct {
	IDs     []int32 // [N] token ids of all sequences, concatenated
	TypeIDs []int32 // [N] token type ids; nil means all zeros
	Offsets []int   // [B+1] sequence b is tokens Offsets[b]:Offsets[b+1]

	parent *Batch // the batch this one was derived from by the encoder (first.go)
	rows   []int  // then: each token's row in parent
}

// Root is the batch a pass was started with: hooks may be called with a
// batch the encoder derived from it (the first tokens of the last layer,
// first.go), whose Root is the original.
func (b *Batch) Root() *Batch {
	for b.parent != nil {
		b = b.parent
	}
	return b
}

// NewBatch packs sequences (and optional token types, nil or one per sequence).
func NewBatch(ids [][]int32, types [][]int32) *Batch {
	b := &Batch{Offsets: make([]int, 1, len(ids)+1)}
	for i, s := range ids {
		b.IDs = append(b.IDs, s...)
		if types != nil && types[i] != nil {
			if b.TypeIDs == nil {
				b.TypeIDs = make([]int32, len(b.IDs)-len(s), len(b.IDs))
			}
			b.TypeIDs = append(b.TypeIDs, types[i]...)
		} else if b.TypeIDs != nil {
			b.TypeIDs = append(b.TypeIDs, make([]int32, len(s))...)
		}
		b.Offsets = append(b.Offsets, len(b.IDs))
	}
	return b
}

// Prepend returns a new batch with tokens prepended to every sequence (with
// token type 0), e.g. prompt tuning's virtual tokens.
func (b *Batch) Prepend(tokens []int32) *Batch {
	out := &Batch{Offsets: make([]int, 1, b.B()+1)}
	P := len(tokens)
	out.IDs = make([]int32, 0, b.N()+b.B()*P)
	if b.TypeIDs != nil {
		out.TypeIDs = make([]int32, 0, b.N()+b.B()*P)
	}
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		out.IDs = append(append(out.IDs, tokens...), b.IDs[lo:hi]...)
		if b.TypeIDs != nil {
			out.TypeIDs = append(append(out.TypeIDs, make([]int32, P)...), b.TypeIDs[lo:hi]...)
		}
		out.Offsets = append(out.Offsets, len(out.IDs))
	}
	return out
}

// N is the number of tokens, B the number of sequences.
func (b *Batch) N() int { return len(b.IDs) }

// B is the number of sequences.
func (b *Batch) B() int { return len(b.Offsets) - 1 }

// Seq returns the token range of sequence i.
func (b *Batch) Seq(i int) (lo, hi int) { return b.Offsets[i], b.Offsets[i+1] }

// LayerHook lets a method change the hidden states entering each encoder
// layer; AoT P-Tuning adds its per-token rows P_l[x] there.
type LayerHook interface {
	// BeforeLayer is called with H [N,C], the input of layer l (l = 0 is the
	// embedding block's output after its LayerNorm).
	BeforeLayer(l int, H []float32, b *Batch) error
}

// layerActs are the activations of one BertLayer. For inference they are
// scratch shared by all layers (x and out alias the residual stream); for
// training each layer has its own, so the backward pass can read them.
type layerActs struct {
	x       []float32 // [N,C] layer input (after the LayerHook)
	q, k, v []float32 // [N,C] projections, head h at columns h*hd:(h+1)*hd
	ctx     []float32 // [N,C] attention context
	s1      []float32 // [N,C] attention.output.dense(ctx) + x, LayerNorm's input
	h1      []float32 // [N,C] attention.output.LayerNorm output
	pre     []float32 // [N,I] intermediate.dense output (training: before act; inference: after)
	s2      []float32 // [N,C] output.dense(act(pre)) + h1, LayerNorm's input
	out     []float32 // [N,C] layer output
	// training only
	mean1, rstd1, mean2, rstd2 []float32 // [N] LayerNorm statistics
	probs                      []float32 // [Σ_s NH·T_s·(P_s+T_s)] attention probabilities, sequence-major
	prefix                     prefixes  // this layer's attention prefixes (P-Tuning v2)
	preUsed                    *prefixes // &prefix when the layer had any, else nil
	// DeBERTa: this layer's projections of the relative embeddings [2·span, C]
	// and the batch's relative index table (deberta.go)
	posK, posQ []float32
	relIdx     []int32
	// per-sequence tables when a PositionHook changes them (deberta_pos.go)
	hk, hq posTables
}

// Workspace holds the activation buffers of a forward pass; reusing one
// across calls avoids page faults. Not safe for concurrent use: give each
// goroutine its own.
type Workspace struct {
	// FirstTokensOnly: compute the last layer's output at each sequence's
	// first token only, all a task head reads (first.go); the other rows of
	// LastHiddenState are then not the encoder's output.
	FirstTokensOnly bool

	H, tmp    []float32 // [N, C]
	acts      layerActs
	pos       []int32   // [N]
	pooled    []float32 // [B, C]
	first     []float32 // [B, C] hidden state of each sequence's first token
	scores    chan []float32
	scoreSize int
	deb       *debertaScratch // DeBERTa only
	last      firstTokens
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}

func growInt32(buf []int32, n int) []int32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]int32, n)
}

func (ws *Workspace) reserve(cfg *Config, N, B, maxT int) {
	C, I := cfg.HiddenSize, cfg.IntermediateSize
	a := &ws.acts
	for _, p := range []*[]float32{&ws.H, &ws.tmp, &a.q, &a.k, &a.v, &a.ctx, &a.s1, &a.h1, &a.s2} {
		*p = grow(*p, N*C)
	}
	a.pre = grow(a.pre, N*I)
	a.x, a.out = ws.H[:N*C], ws.H[:N*C]
	ws.pooled = grow(ws.pooled, B*C)
	ws.first = grow(ws.first, B*C)
	ws.pos = growInt32(ws.pos, N)
	ws.reserveScores(maxT)
}

// reserveScores keeps one T×T score buffer per thread, handed out through a
// channel to the attention workers.
func (ws *Workspace) reserveScores(maxT int) { reserveScorePool(&ws.scores, &ws.scoreSize, maxT*maxT) }

// reserveScorePool makes sure the pool has one buffer of at least size
// floats per thread. Only called between attention calls.
func reserveScorePool(pool *chan []float32, have *int, size int) {
	nt := parallel.Threads()
	if *pool == nil || *have < size || cap(*pool) < nt {
		*pool = make(chan []float32, nt)
		*have = size
		for i := 0; i < nt; i++ {
			*pool <- make([]float32, size)
		}
	}
}

// Output is what Forward returns; its slices live in the Workspace and are
// overwritten by the next call with it.
type Output struct {
	LastHiddenState []float32 // [N, C] packed like the batch
	PoolerOutput    []float32 // [B, C], nil when the model has no pooler
}

// checkBatch validates a batch against the config and returns its longest sequence.
func (m *Encoder) checkBatch(b *Batch) (maxT int, err error) {
	cfg := m.Config
	for i := 0; i < b.B(); i++ {
		lo, hi := b.Seq(i)
		if hi-lo > maxT {
			maxT = hi - lo
		}
		if hi == lo {
			return 0, fmt.Errorf("sequence %d is empty", i)
		}
	}
	if maxT > cfg.MaxSequenceLength() {
		return 0, fmt.Errorf("a sequence has %d tokens, more than the model's %d positions (truncate the input)", maxT, cfg.MaxSequenceLength())
	}
	if b.TypeIDs != nil && len(b.TypeIDs) != b.N() {
		return 0, fmt.Errorf("batch has %d token type ids for %d tokens", len(b.TypeIDs), b.N())
	}
	return maxT, nil
}

// Forward runs the encoder over a packed batch. hooks (nil, or a method
// implementing LayerHook and/or LinearHook) change it at named points.
func (m *Encoder) Forward(ctx context.Context, b *Batch, ws *Workspace, hooks Hooks) (Output, error) {
	cfg := m.Config
	N, B, C := b.N(), b.B(), cfg.HiddenSize
	if B == 0 {
		return Output{}, nil
	}
	maxT, err := m.checkBatch(b)
	if err != nil {
		return Output{}, err
	}
	hs := resolveHooks(hooks)
	hs.begin(nil)
	ws.reserve(cfg, N, B, maxT)
	var deb *debertaScratch
	if m.Deberta != nil {
		deb = m.debertaPrepare(&ws.deb, maxT)
		ws.acts.relIdx = deb.relIdx
	}
	if err := m.embeddingsForward(ws.H, b, ws.pos, &hs, nil); err != nil {
		return Output{}, err
	}
	if err := hs.afterEmbeddings(ws.H[:N*C], b); err != nil {
		return Output{}, err
	}
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return Output{}, err
		}
		if hs.layer != nil {
			if err := hs.layer.BeforeLayer(l, ws.H[:N*C], b); err != nil {
				return Output{}, fmt.Errorf("layer %d: %w", l, err)
			}
		}
		pre, err := hs.prefixes(l, b, C, &ws.acts.prefix)
		if err != nil {
			return Output{}, err
		}
		ws.acts.preUsed = pre
		if pre != nil || deb != nil {
			reserveScorePool(&ws.scores, &ws.scoreSize, m.scoreScratch(maxT, pre, 1))
		}
		if deb != nil {
			ws.acts.posK, ws.acts.posQ = m.layerPositions(l, deb)
			if err := m.inferencePositionHooks(l, &ws.acts, deb, b, &hs); err != nil {
				return Output{}, err
			}
			if l == 0 && m.Deberta.Conv != nil {
				deb.x0 = grow(deb.x0, N*C)
				copy(deb.x0, ws.H[:N*C])
			}
		}
		var first *firstTokens
		if ws.FirstTokensOnly && m.firstTokensAt(l) {
			first = &ws.last
		}
		if err := m.layerForward(l, &ws.acts, ws.tmp, nil, b, ws.scores, nil, &hs, first); err != nil {
			return Output{}, err
		}
		if l == 0 && deb != nil && m.Deberta.Conv != nil {
			if err := m.convForward(ws.H[:N*C], deb, b, &hs); err != nil {
				return Output{}, err
			}
		}
	}
	out := Output{LastHiddenState: ws.H[:N*C]}
	if m.Pooler != nil {
		m.poolerForward(ws.pooled, ws.first, ws.H, b)
		out.PoolerOutput = ws.pooled[:B*C]
	}
	return out, nil
}

// embeddingsForward writes H[N,C] = LayerNorm(word[x] + pos[p] + type[t]).
func (m *Encoder) embeddingsForward(H []float32, b *Batch, pos []int32, hs *hookSet, keep *embActs) error {
	cfg := m.Config
	C, V := cfg.HiddenSize, int32(cfg.VocabSize)
	virtual := false
	for i, x := range b.IDs {
		if x < 0 && hs.embed != nil {
			virtual = true
			continue
		}
		if x < 0 || x >= V {
			return fmt.Errorf("token id %d at position %d is outside the vocabulary [0, %d)", x, i, V)
		}
	}
	if b.TypeIDs != nil && m.Embeddings.TokenTypeEmbeddings != nil {
		for i, t := range b.TypeIDs {
			if t < 0 || int(t) >= cfg.TypeVocabSize {
				return fmt.Errorf("token type id %d at position %d is outside [0, %d)", t, i, cfg.TypeVocabSize)
			}
		}
	}
	m.positionIDs(pos, b)
	if err := m.shiftPrefixPositions(pos, b, hs); err != nil {
		return err
	}
	e := &m.Embeddings
	N := b.N()
	E := C // width of the embedding tables
	var sums []float32
	if e.EmbedProj != nil {
		// DeBERTa embed_proj: sum in E wide rows, project to C, then LayerNorm
		E = e.EmbedProj.In
		if keep != nil {
			keep.pre = grow(keep.pre, N*E)
			sums = keep.pre
		} else {
			sums = make([]float32, N*E)
		}
	}
	var seqOf []int32 // sequence of each token, for virtual tokens' hooks
	if virtual {
		seqOf = make([]int32, N)
		for s := 0; s < b.B(); s++ {
			lo, hi := b.Seq(s)
			for i := lo; i < hi; i++ {
				seqOf[i] = int32(s)
				if x := b.IDs[i]; x < 0 {
					if w := hs.embed.VirtualEmbedding(x, s, b); len(w) != E {
						return fmt.Errorf("virtual token %d of sequence %d: embedding has %d values, want %d", x, s, len(w), E)
					}
				}
			}
		}
	}
	parallel.For(N, rowGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h := H[i*C : (i+1)*C]
			if sums != nil {
				h = sums[i*E : (i+1)*E]
			}
			x, p := int(b.IDs[i]), int(pos[i])
			t := 0
			if b.TypeIDs != nil && e.TokenTypeEmbeddings != nil {
				t = int(b.TypeIDs[i])
			}
			var word []float32
			if x < 0 {
				word = hs.embed.VirtualEmbedding(int32(x), int(seqOf[i]), b)
			} else {
				word = e.WordEmbeddings[x*E : (x+1)*E]
			}
			if m.Deberta != nil {
				// DebertaEmbeddings: (word + position if position_biased_input)
				// + token_type if type_vocab_size > 0
				copy(h, word)
				if e.PositionEmbeddings != nil {
					vec.Add(h, h, e.PositionEmbeddings[p*E:(p+1)*E])
				}
				if e.TokenTypeEmbeddings != nil {
					vec.Add(h, h, e.TokenTypeEmbeddings[t*E:(t+1)*E])
				}
			} else {
				// HF's order: (word + token_type) + position
				vec.Add(h, word, e.TokenTypeEmbeddings[t*C:(t+1)*C])
				vec.Add(h, h, e.PositionEmbeddings[p*C:(p+1)*C])
			}
		}
		if sums != nil {
			e.EmbedProj.Forward(H[lo*C:hi*C], sums[lo*E:hi*E], hi-lo, nil)
		}
		if keep == nil {
			e.LayerNorm.Forward(H[lo*C:hi*C], H[lo*C:hi*C], hi-lo, C)
			return
		}
		// training: keep the sum and the statistics for the backward pass
		copy(keep.sum[lo*C:hi*C], H[lo*C:hi*C])
		vec.LayerNorm(H[lo*C:hi*C], keep.mean[lo:hi], keep.rstd[lo:hi], keep.sum[lo*C:hi*C], e.LayerNorm.Weight, e.LayerNorm.Bias, hi-lo, C, e.LayerNorm.Eps)
	})
	return nil
}

// embActs keeps what the embeddings' backward needs (prompt tuning only).
type embActs struct {
	pre        []float32 // [N,E] DeBERTa embed_proj's input (the sum), else unused
	dpre       []float32 // [N,E] its gradient (backward scratch)
	sum        []float32 // [N,C] word + type + position, LayerNorm's input
	mean, rstd []float32 // [N]
	dsum       []float32 // [N,C] backward scratch
}

// shiftPrefixPositions moves the positions of a sequence with a P-Tuning v2
// prefix of P keys by P, as HF's BertModel/RobertaModel do with
// past_key_values (past_key_values_length = P): BERT numbers the tokens
// P..P+T-1, RoBERTa (cumsum(ids != pad) + P) * (ids != pad) + pad, so
// padding tokens keep position pad.
func (m *Encoder) shiftPrefixPositions(pos []int32, b *Batch, hs *hookSet) error {
	if hs.prefix == nil || m.Deberta != nil {
		return nil // DeBERTa: no past_key_values, no shift (deberta.go)
	}
	cfg := m.Config
	C, pad := cfg.HiddenSize, int32(cfg.PadTokenID)
	roberta := cfg.ModelType == "roberta"
	for s := 0; s < b.B(); s++ {
		k, _ := hs.prefix.Prefix(0, s, b)
		off := int32(len(k) / C)
		if off == 0 {
			continue
		}
		lo, hi := b.Seq(s)
		for i := lo; i < hi; i++ {
			if roberta && b.IDs[i] == pad {
				continue
			}
			pos[i] += off
			if int(pos[i]) >= cfg.MaxPositionEmbeddings {
				return fmt.Errorf("sequence %d: %d tokens after a prefix of %d exceed the model's %d positions", s, hi-lo, off, cfg.MaxSequenceLength())
			}
		}
	}
	return nil
}

// positionIDs fills pos[N]: BERT numbers each sequence's tokens from 0;
// RoBERTa has its own rule (roberta.go).
func (m *Encoder) positionIDs(pos []int32, b *Batch) {
	if m.Config.ModelType == "roberta" {
		robertaPositionIDs(pos, b, int32(m.Config.PadTokenID))
		return
	}
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		for i := lo; i < hi; i++ {
			pos[i] = int32(i - lo)
		}
	}
}

// layerForward runs BertLayer l: a.x -> a.out (which may alias a.x).
// tmp [N,C] is scratch. For training, g [N,I] receives act(pre) (a.pre keeps
// the pre-activation for the backward pass), a.probs keeps the attention
// probabilities and drop applies dropout; for inference g is nil and the
// activation is fused into the intermediate GEMM unless a hook must see
// the pre-activation. With first (the last layer of a first-token pass,
// first.go) everything after the attention runs at each sequence's first
// token only, and only those rows of a.out are written.
func (m *Encoder) layerForward(l int, a *layerActs, tmp, g []float32, b *Batch, scores chan []float32, drop *dropout, hs *hookSet, first *firstTokens) error {
	cfg := m.Config
	L := &m.Layers[l]
	N, C := b.N(), cfg.HiddenSize
	at := &L.Attention
	for _, p := range []struct {
		lin  *Linear
		out  []float32
		site Site
	}{{&at.Self.Query, a.q, SiteQuery}, {&at.Self.Key, a.k, SiteKey}, {&at.Self.Value, a.v, SiteValue}} {
		p.lin.Forward(p.out, a.x, N, nil)
		if err := hs.after(l, p.site, p.out[:N*C], a.x[:N*C], b); err != nil {
			return err
		}
	}
	if m.Deberta != nil {
		m.debertaAttentionForward(a, b, cfg.NumAttentionHeads, C, scores, drop.site(siteAttnProbs))
	} else {
		attentionForward(a.ctx, a.probs, a.q, a.k, a.v, b, cfg.NumAttentionHeads, C, a.preUsed, scores, drop.site(siteAttnProbs))
	}
	if first == nil {
		return m.layerTail(l, a, a.x, tmp, g, b, nil, drop, hs)
	}
	first.prepare(b, a.x, C)
	compactRows(a.ctx, first.rows, C)
	if err := m.layerTail(l, a, first.x, tmp, g, &first.sub, first.rows, drop, hs); err != nil {
		return err
	}
	expandRows(a.out, first.rows, C)
	return nil
}

// layerTail runs the layer after its attention on the rows of b: a.ctx and
// x (the residual input) [N,C] -> a.out. rows (nil: all) are the rows'
// indexes in the pass's batch, where dropout draws their masks.
func (m *Encoder) layerTail(l int, a *layerActs, x, tmp, g []float32, b *Batch, rows []int, drop *dropout, hs *hookSet) error {
	cfg := m.Config
	L := &m.Layers[l]
	N, C, I := b.N(), cfg.HiddenSize, cfg.IntermediateSize
	at := &L.Attention
	at.Output.Dense.Forward(tmp, a.ctx, N, nil)
	if err := hs.after(l, SiteAttnOut, tmp[:N*C], a.ctx[:N*C], b); err != nil {
		return err
	}
	drop.site(siteAttnOut).applyRows(tmp[:N*C], rows, C)
	residualLayerNorm(&at.Output.LayerNorm, a.h1, a.s1, a.mean1, a.rstd1, tmp, x, N, C) // h1 = LN(attn + x)
	if err := hs.after(l, SiteAttnLayerNorm, a.h1[:N*C], nil, b); err != nil {
		return err
	}
	if g == nil && hs.linear == nil {
		L.Intermediate.Dense.Forward(a.pre, a.h1, N, m.act)
		g = a.pre
	} else {
		L.Intermediate.Dense.Forward(a.pre, a.h1, N, nil)
		if err := hs.after(l, SiteIntermediate, a.pre[:N*I], a.h1[:N*C], b); err != nil {
			return err
		}
		if g == nil {
			g = a.pre // inference: activate in place
		} else {
			copy(g, a.pre[:N*I])
		}
		g = g[:N*I]
		parallel.For(N, rowGrain, func(lo, hi int) { m.act(g[lo*I : hi*I]) })
	}
	L.Output.Dense.Forward(tmp, g, N, nil)
	if err := hs.after(l, SiteOutput, tmp[:N*C], g[:N*I], b); err != nil {
		return err
	}
	drop.site(siteFFNOut).applyRows(tmp[:N*C], rows, C)
	residualLayerNorm(&L.Output.LayerNorm, a.out, a.s2, a.mean2, a.rstd2, tmp, a.h1, N, C) // out = LN(ffn + h1)
	return hs.after(l, SiteOutputLayerNorm, a.out[:N*C], nil, b)
}

// residualLayerNorm computes s = a + b and out = LayerNorm(s) row by row,
// storing the row statistics when mean and rstd are not nil.
func residualLayerNorm(ln *LayerNorm, out, s, mean, rstd, a, b []float32, N, C int) {
	parallel.For(N, rowGrain, func(lo, hi int) {
		sr := s[lo*C : hi*C]
		vec.Add(sr, a[lo*C:hi*C], b[lo*C:hi*C])
		var mr, rr []float32
		if mean != nil {
			mr, rr = mean[lo:hi], rstd[lo:hi]
		}
		vec.LayerNorm(out[lo*C:hi*C], mr, rr, sr, ln.Weight, ln.Bias, hi-lo, C, ln.Eps)
	})
}

// poolerForward writes pooled[B,C] = tanh(dense(H[first token of each
// sequence])) (DeBERTa's ContextPooler: pooler_hidden_act instead of
// tanh); first [B,C] is scratch.
func (m *Encoder) poolerForward(pooled, first, H []float32, b *Batch) {
	C := m.Config.HiddenSize
	for s := 0; s < b.B(); s++ {
		lo, _ := b.Seq(s)
		copy(first[s*C:(s+1)*C], H[lo*C:(lo+1)*C])
	}
	act := vec.Tanh
	if m.Deberta != nil {
		act = m.Deberta.poolAct
	}
	m.Pooler.Dense.Forward(pooled, first, b.B(), act)
}

// attentionScale is 1/sqrt(head_dim), applied to Q·Kᵀ as BertSelfAttention does.
func attentionScale(hd int) float32 { return float32(1 / math.Sqrt(float64(hd))) }

// Slice returns the batch of sequences lo:hi (sharing b's storage).
func (b *Batch) Slice(lo, hi int) *Batch {
	r0, r1 := b.Offsets[lo], b.Offsets[hi]
	out := &Batch{IDs: b.IDs[r0:r1:r1], Offsets: make([]int, hi-lo+1)}
	if b.TypeIDs != nil {
		out.TypeIDs = b.TypeIDs[r0:r1:r1]
	}
	for i := range out.Offsets {
		out.Offsets[i] = b.Offsets[lo+i] - r0
	}
	return out
}
