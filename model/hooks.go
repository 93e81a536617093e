package model

import "fmt"

// Methods plug into the encoder at named points instead of the encoder
// knowing each method. A method passes one value as the hooks of Forward,
// ForwardTrain and Backward; the encoder uses whichever of these interfaces
// it implements:
//
//	LayerHook           the hidden states entering layer l (AoT P-Tuning)
//	BackwardHook        their gradient, as the backward pass leaves layer l
//	LinearHook          the output of a projection or LayerNorm (LoRA, BitFit, adapters)
//	LinearBackwardHook  its backward
//	PrefixHook          extra keys and values for a sequence's attention (P-Tuning v2)
//	PrefixBackwardHook  their gradients
//	EmbeddingHook       word embeddings of virtual tokens (prompt tuning)
//	EmbeddingBackwardHook  their gradients
//	EmbeddingsOutputHook   the embedding block's output (BitFit's embeddings.LayerNorm.bias)
//	EmbeddingsOutputBackwardHook  its gradient, before the embeddings' dropout
//	PositionHook        DeBERTa's projections of the relative embeddings made by a hooked q/k projection
//	PositionBackwardHook  their gradients
//	RelativeShiftHook   DeBERTa's normalised relative embeddings (BitFit's encoder.LayerNorm.bias)
//	RelativeShiftBackwardHook  its gradient
//	ConvHook            DeBERTa v2's convolution block (BitFit's encoder.conv biases)
//	ConvBackwardHook    its gradients
type Hooks = any

// Site names a projection or LayerNorm inside a layer.
type Site int

// The sites of a BertLayer, in forward order.
const (
	SiteQuery           Site = iota // attention.self.query
	SiteKey                         // attention.self.key
	SiteValue                       // attention.self.value
	SiteAttnOut                     // attention.output.dense
	SiteAttnLayerNorm               // attention.output.LayerNorm
	SiteIntermediate                // intermediate.dense (before the activation)
	SiteOutput                      // output.dense
	SiteOutputLayerNorm             // output.LayerNorm (the layer's output)
	NumSites
)

var siteNames = [NumSites]string{
	"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
	"attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
}

// String is the site's HF module path inside `encoder.layer.{l}.`.
func (s Site) String() string {
	if s < 0 || s >= NumSites {
		return fmt.Sprintf("Site(%d)", int(s))
	}
	return siteNames[s]
}

// SiteByName finds a site by its HF module path ("attention.self.query", or
// a suffix such as "query", "value", "dense" is ambiguous and refused).
func SiteByName(name string) (Site, bool) {
	for i, n := range siteNames {
		if n == name {
			return Site(i), true
		}
	}
	return 0, false
}

// IsLayerNorm reports whether the site is a LayerNorm (no input is passed).
func (s Site) IsLayerNorm() bool { return s == SiteAttnLayerNorm || s == SiteOutputLayerNorm }

// LinearHook changes the output of a site in place: out [N,Out] holds the
// frozen module's result (bias included, before the activation at
// SiteIntermediate, before dropout and the residual add at SiteAttnOut and
// SiteOutput); inp [N,In] is the module's input (nil at LayerNorm sites).
// A hook that needs inp or out in its backward keeps its own copy.
type LinearHook interface {
	AfterLinear(l int, site Site, out, inp []float32, b *Batch) error
}

// LinearBackwardHook is LinearHook's backward pass. dOut [N,Out] is the
// gradient w.r.t. the hooked output: the hook may replace it in place by the
// gradient w.r.t. the frozen module's output (when its change depends on
// out), adds its contribution to dInp [N,In] (nil at LayerNorm sites), and
// accumulates the gradients of its own parameters.
type LinearBackwardHook interface {
	LinearBackward(l int, site Site, dOut, inp, dInp []float32, b *Batch) error
}

// PrefixHook gives sequence s of the batch extra keys and values that its
// tokens attend to, before its own, in the attention of layer l: k and v
// are [P, C] (already projected, heads split like the layer's own keys),
// nil for none. The prefix positions are never masked.
type PrefixHook interface {
	Prefix(l, s int, b *Batch) (k, v []float32)
}

// PrefixBackwardHook receives the gradients dk, dv [P, C] of the prefix of
// sequence s at layer l (to accumulate; the slices are reused afterwards).
type PrefixBackwardHook interface {
	PrefixBackward(l, s int, dk, dv []float32, b *Batch) error
}

// EmbeddingHook supplies the word embedding [C] of a virtual token: a
// negative id in the batch (prompt tuning prepends such tokens). The
// embedding block then adds position and token-type embeddings and applies
// its LayerNorm as for any token, as HF does with inputs_embeds.
type EmbeddingHook interface {
	VirtualEmbedding(id int32, s int, b *Batch) []float32
}

// EmbeddingBackwardHook receives the gradient [C] w.r.t. the word embedding
// of virtual token id of sequence s (to accumulate; reused afterwards).
type EmbeddingBackwardHook interface {
	VirtualEmbeddingBackward(id int32, s int, d []float32, b *Batch) error
}

// PositionHook changes DeBERTa's projections of the relative embeddings:
// the c2p keys (SiteKey) and p2c queries (SiteQuery) of each layer. v2/v3
// with share_att_key make them with attention.self.key_proj and query_proj
// themselves (Encoder.SharedPositionProjection), so a method that changes
// those modules in PyTorch (LoRA, BitFit) changes the position terms too;
// v1 and unshared v2 have their own modules (Encoder.OwnPositionProjection),
// which only a method adapting those (BitFit's biases) changes. LinearHook
// alone changes the content projections.
//
// Tables can differ per sequence (mixed-task batches): PositionGroup says
// which one sequence s of b uses at layer l and site, -1 for the frozen
// table, else a group g ≥ 0 (sequences with equal g share a table; a
// single-task method answers 0 or -1). AfterPositions then changes group
// g's table out [R, C] in place: it holds the frozen module's projection
// of rel [R, C], the relative embeddings after their LayerNorm (and, in
// training, the layer's dropout).
type PositionHook interface {
	PositionGroup(l int, site Site, s int, b *Batch) int
	AfterPositions(l int, site Site, g int, out, rel []float32, b *Batch) error
}

// PositionBackwardHook receives dOut [R, C], the gradient w.r.t. group g's
// table at layer l and site, and the same rel as the forward pass, to
// accumulate the method's own parameter gradients (the relative embeddings
// are frozen).
type PositionBackwardHook interface {
	PositionsBackward(l int, site Site, g int, dOut, rel []float32, b *Batch) error
}

// RelativeShiftHook shifts DeBERTa's normalised relative embeddings (after
// encoder.LayerNorm, before each layer's dropout) by the row d [C] for the
// sequences of position group g (PositionHook.PositionGroup, which must give
// them a group at every layer and site with a position table): every row
// of rel gets + d, so every position table of the group changes by the
// projection of d. d nil: no shift. Only a hooks value that is also a
// PositionHook is asked.
type RelativeShiftHook interface {
	RelativeShift(g int) []float32
}

// RelativeShiftBackwardHook receives, per layer and site, the gradient
// [C] of group g's shift (to accumulate; reused afterwards).
type RelativeShiftBackwardHook interface {
	RelativeShiftBackward(g int, d []float32) error
}

// ConvHook changes DeBERTa v2's convolution block (encoder.conv, after
// layer 0) in place: AfterConv its convolution's output [N,C] (bias
// included, before dropout and the activation), AfterConvLayerNorm the
// block's output [N,C] (its LayerNorm's).
type ConvHook interface {
	AfterConv(out []float32, b *Batch) error
	AfterConvLayerNorm(out []float32, b *Batch) error
}

// ConvBackwardHook receives the gradients w.r.t. what ConvHook changed:
// dConv [N,C] of the convolution's output, dNorm [N,C] of the block's
// output (to read only).
type ConvBackwardHook interface {
	ConvBackward(dConv, dNorm []float32, b *Batch) error
}

// PassHook is told which kind of pass runs next: ForwardTrain calls
// BeginPass(&opt) before its first hook call, Forward calls BeginPass(nil)
// (inference). A method with its own dropout (LoRA's, on its input) draws
// its masks with NewMethodDropout from opt while training and applies none
// after BeginPass(nil). Backward follows the last ForwardTrain and is not
// announced.
type PassHook interface {
	BeginPass(opt *TrainOptions)
}

// EmbeddingsOutputHook changes the embedding block's output out [N,C] in
// place: after its LayerNorm, before dropout (BitFit's
// embeddings.LayerNorm.bias).
type EmbeddingsOutputHook interface {
	AfterEmbeddings(out []float32, b *Batch) error
}

// EmbeddingsOutputBackwardHook receives dOut [N,C], the gradient w.r.t. the
// output EmbeddingsOutputHook changed (before dropout), to read only.
type EmbeddingsOutputBackwardHook interface {
	EmbeddingsBackward(dOut []float32, b *Batch) error
}

// VirtualTokenizer is implemented by methods that add tokens to every
// sequence (prompt tuning): callers prepend these ids (negative: virtual,
// see EmbeddingHook) before running the encoder.
type VirtualTokenizer interface {
	VirtualTokens() []int32
}

// OwnEncoder is implemented by methods that train and serve with their own
// copy of the encoder (full fine-tuning) instead of the shared backbone.
type OwnEncoder interface {
	Encoder() *Encoder
}

// HookKind names a family of hook interfaces (a hook and its backward).
type HookKind int

// The hook kinds a HookFilter can switch off.
const (
	HookLayer            HookKind = iota // LayerHook, BackwardHook
	HookLinear                           // LinearHook, LinearBackwardHook
	HookPrefix                           // PrefixHook, PrefixBackwardHook
	HookEmbedding                        // EmbeddingHook, EmbeddingBackwardHook
	HookEmbeddingsOutput                 // EmbeddingsOutputHook, EmbeddingsOutputBackwardHook
	HookPosition                         // PositionHook, PositionBackwardHook, RelativeShiftHook, RelativeShiftBackwardHook
	HookConv                             // ConvHook, ConvBackwardHook
)

// HookFilter is implemented by a hooks value that implements more kinds
// than a given pass needs — a dispatcher over many tasks' methods: the
// encoder ignores every kind for which Uses reports false, so an unused
// kind costs nothing (no per-site calls; the activation stays fused into
// the intermediate GEMM).
type HookFilter interface {
	Uses(k HookKind) bool
}

// hookSet is the hooks of one pass, resolved once.
type hookSet struct {
	embOut   EmbeddingsOutputHook
	embOutBk EmbeddingsOutputBackwardHook
	layer    LayerHook
	back     BackwardHook
	linear   LinearHook
	linearBk LinearBackwardHook
	prefix   PrefixHook
	prefixBk PrefixBackwardHook
	embed    EmbeddingHook
	embedBk  EmbeddingBackwardHook
	pass     PassHook
	pos      PositionHook
	posBk    PositionBackwardHook
	shift    RelativeShiftHook
	shiftBk  RelativeShiftBackwardHook
	conv     ConvHook
	convBk   ConvBackwardHook
}

// prefixes collects layer l's prefixes into p (reused); nil when the hooks
// give none.
func (h *hookSet) prefixes(l int, b *Batch, C int, p *prefixes) (*prefixes, error) {
	if h.prefix == nil {
		return nil, nil
	}
	p.C = C
	p.k, p.v = p.k[:0], p.v[:0]
	any := false
	for s := 0; s < b.B(); s++ {
		k, v := h.prefix.Prefix(l, s, b)
		if len(k) != len(v) || len(k)%C != 0 {
			return nil, fmt.Errorf("layer %d: prefix of sequence %d has %d keys and %d values, not [P, %d]", l, s, len(k), len(v), C)
		}
		if len(k) == 0 {
			k, v = nil, nil
		}
		any = any || k != nil
		p.k, p.v = append(p.k, k), append(p.v, v)
	}
	if !any {
		return nil, nil
	}
	return p, nil
}

func resolveHooks(h Hooks) hookSet {
	var s hookSet
	if h == nil {
		return s
	}
	s.layer, _ = h.(LayerHook)
	s.back, _ = h.(BackwardHook)
	s.linear, _ = h.(LinearHook)
	s.linearBk, _ = h.(LinearBackwardHook)
	s.prefix, _ = h.(PrefixHook)
	s.prefixBk, _ = h.(PrefixBackwardHook)
	s.embed, _ = h.(EmbeddingHook)
	s.embedBk, _ = h.(EmbeddingBackwardHook)
	s.embOut, _ = h.(EmbeddingsOutputHook)
	s.embOutBk, _ = h.(EmbeddingsOutputBackwardHook)
	s.pass, _ = h.(PassHook)
	s.pos, _ = h.(PositionHook)
	s.posBk, _ = h.(PositionBackwardHook)
	s.shift, _ = h.(RelativeShiftHook)
	s.shiftBk, _ = h.(RelativeShiftBackwardHook)
	s.conv, _ = h.(ConvHook)
	s.convBk, _ = h.(ConvBackwardHook)
	if f, ok := h.(HookFilter); ok {
		if !f.Uses(HookLayer) {
			s.layer, s.back = nil, nil
		}
		if !f.Uses(HookLinear) {
			s.linear, s.linearBk = nil, nil
		}
		if !f.Uses(HookPrefix) {
			s.prefix, s.prefixBk = nil, nil
		}
		if !f.Uses(HookEmbedding) {
			s.embed, s.embedBk = nil, nil
		}
		if !f.Uses(HookEmbeddingsOutput) {
			s.embOut, s.embOutBk = nil, nil
		}
		if !f.Uses(HookPosition) {
			s.pos, s.posBk, s.shift, s.shiftBk = nil, nil, nil, nil
		}
		if !f.Uses(HookConv) {
			s.conv, s.convBk = nil, nil
		}
	}
	return s
}

// begin announces a pass to a PassHook (opt nil: inference).
func (h *hookSet) begin(opt *TrainOptions) {
	if h.pass != nil {
		h.pass.BeginPass(opt)
	}
}

// afterConv runs the ConvHook on the convolution's output.
func (h *hookSet) afterConv(out []float32, b *Batch) error {
	if h.conv == nil {
		return nil
	}
	if err := h.conv.AfterConv(out, b); err != nil {
		return fmt.Errorf("encoder.conv: %w", err)
	}
	return nil
}

// afterConvLayerNorm runs the ConvHook on the convolution block's output.
func (h *hookSet) afterConvLayerNorm(out []float32, b *Batch) error {
	if h.conv == nil {
		return nil
	}
	if err := h.conv.AfterConvLayerNorm(out, b); err != nil {
		return fmt.Errorf("encoder.conv.LayerNorm: %w", err)
	}
	return nil
}

// after runs the LinearHook at a site, wrapping its error with the place.
func (h *hookSet) after(l int, site Site, out, inp []float32, b *Batch) error {
	if h.linear == nil {
		return nil
	}
	if err := h.linear.AfterLinear(l, site, out, inp, b); err != nil {
		return fmt.Errorf("layer %d %s: %w", l, site, err)
	}
	return nil
}

func (h *hookSet) backward(l int, site Site, dOut, inp, dInp []float32, b *Batch) error {
	if h.linearBk == nil {
		return nil
	}
	if err := h.linearBk.LinearBackward(l, site, dOut, inp, dInp, b); err != nil {
		return fmt.Errorf("layer %d %s backward: %w", l, site, err)
	}
	return nil
}

// afterEmbeddings runs the EmbeddingsOutputHook on the embeddings' output.
func (h *hookSet) afterEmbeddings(out []float32, b *Batch) error {
	if h.embOut == nil {
		return nil
	}
	if err := h.embOut.AfterEmbeddings(out, b); err != nil {
		return fmt.Errorf("embeddings: %w", err)
	}
	return nil
}
