package peft

import (
	"fmt"

	"github.com/aotp/aotp/model"
)

// Prompt tuning (Lester et al., 2021; HF PEFT's PROMPT_TUNING for
// encoders): p trained vectors are prepended to each sequence's word
// embeddings, as virtual tokens that then get position and token-type
// embeddings and the embeddings' LayerNorm like any token (HF passes them
// as inputs_embeds). The head reads the first position, a virtual token,
// as HF's model does; outputs shown to users drop the p positions.

// DefaultPromptLen is the number of soft tokens when the config gives none.
const DefaultPromptLen = 16

// Prompt is prompt tuning's state for one task.
type Prompt struct {
	P, C       int
	Embeddings *model.Param // [P, C] prompt.embeddings
	ids        []int32
}

func init() {
	Register("prompt", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		if cfg.PromptLen == 0 {
			cfg.PromptLen = DefaultPromptLen
		}
		return NewPrompt(enc, cfg.PromptLen, seed)
	})
}

// NewPrompt creates p soft tokens initialised from randomly chosen rows of
// the word-embedding matrix (PEFT's "RANDOM" init draws a standard normal;
// rows of real embeddings start at the scale the encoder expects).
func NewPrompt(enc *model.Encoder, p int, seed uint64) (*Prompt, error) {
	c := enc.Config
	if err := checkLength("prompt: prompt_len", p, c); err != nil {
		return nil, err
	}
	// the word embeddings' width: the hidden size, or DeBERTa's
	// embedding_size where that differs (embed_proj follows)
	E := enc.Embeddings.WordEmbeddings
	CE := c.EmbeddingDim()
	m := &Prompt{P: p, C: CE, Embeddings: model.NewParam("prompt.embeddings", p, CE)}
	r := newRand(seed ^ 0x9c0)
	for k := 0; k < p; k++ {
		x := r.IntN(c.VocabSize)
		copy(m.Embeddings.Data[k*m.C:(k+1)*m.C], E[x*m.C:(x+1)*m.C])
	}
	for k := 0; k < p; k++ {
		m.ids = append(m.ids, int32(-1-k))
	}
	return m, nil
}

// Params is the prompt.
func (m *Prompt) Params() []*model.Param { return []*model.Param{m.Embeddings} }

// VirtualTokens are the ids to prepend to each sequence: -1 … -P.
func (m *Prompt) VirtualTokens() []int32 { return m.ids }

// VirtualEmbedding gives soft token -1-k its vector (model.EmbeddingHook).
func (m *Prompt) VirtualEmbedding(id int32, s int, b *model.Batch) []float32 {
	k := int(-1 - id)
	if k < 0 || k >= m.P {
		return nil
	}
	return m.Embeddings.Data[k*m.C : (k+1)*m.C]
}

// VirtualEmbeddingBackward accumulates a soft token's gradient
// (model.EmbeddingBackwardHook).
func (m *Prompt) VirtualEmbeddingBackward(id int32, s int, d []float32, b *model.Batch) error {
	k := int(-1 - id)
	if k < 0 || k >= m.P {
		return fmt.Errorf("prompt: virtual token %d is not one of its %d", id, m.P)
	}
	g := m.Embeddings.Grad[k*m.C : (k+1)*m.C]
	for i, v := range d {
		g[i] += v
	}
	return nil
}

// VirtualTokenizer is model.VirtualTokenizer (prompt tuning's soft tokens).
type VirtualTokenizer = model.VirtualTokenizer

// Expand returns the sequences with m's virtual tokens prepended (zeros
// for their token types), or the input unchanged for other methods.
func Expand(m Method, ids, types [][]int32) ([][]int32, [][]int32) {
	vt, ok := m.(VirtualTokenizer)
	if !ok {
		return ids, types
	}
	v := vt.VirtualTokens()
	outIDs := make([][]int32, len(ids))
	var outTypes [][]int32
	if types != nil {
		outTypes = make([][]int32, len(types))
	}
	for s, seq := range ids {
		outIDs[s] = append(append(make([]int32, 0, len(v)+len(seq)), v...), seq...)
		if types != nil && types[s] != nil {
			outTypes[s] = append(make([]int32, len(v), len(v)+len(types[s])), types[s]...)
		}
	}
	return outIDs, outTypes
}
