package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config mirrors the keys of a Hugging Face BertConfig / RobertaConfig
// `config.json` that change the encoder's computation. Keys it does not list
// (architectures, transformers_version, use_cache, ...) are ignored, as HF does.
type Config struct {
	ModelType                 string   `json:"model_type"`
	VocabSize                 int      `json:"vocab_size"`
	HiddenSize                int      `json:"hidden_size"`
	NumHiddenLayers           int      `json:"num_hidden_layers"`
	NumAttentionHeads         int      `json:"num_attention_heads"`
	IntermediateSize          int      `json:"intermediate_size"`
	HiddenAct                 string   `json:"hidden_act"`
	HiddenDropoutProb         float64  `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64  `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int      `json:"max_position_embeddings"`
	TypeVocabSize             int      `json:"type_vocab_size"`
	InitializerRange          float64  `json:"initializer_range"`
	LayerNormEps              float64  `json:"layer_norm_eps"`
	PadTokenID                int      `json:"pad_token_id"`
	BosTokenID                *int     `json:"bos_token_id,omitempty"`
	EosTokenID                *int     `json:"eos_token_id,omitempty"`
	PositionEmbeddingType     string   `json:"position_embedding_type"`
	ClassifierDropout         *float64 `json:"classifier_dropout"`

	// DeBERTa keys (model_type deberta, deberta-v2; deberta.go). HF reads the
	// v2-only ones with getattr defaults, which defaultConfig reproduces.
	RelativeAttention    bool       `json:"relative_attention"`
	MaxRelativePositions int        `json:"max_relative_positions"`
	PositionBuckets      int        `json:"position_buckets"`
	PosAttType           PosAttType `json:"pos_att_type"`
	ShareAttKey          bool       `json:"share_att_key"`
	NormRelEbd           string     `json:"norm_rel_ebd"`
	PositionBiasedInput  bool       `json:"position_biased_input"`
	ConvKernelSize       int        `json:"conv_kernel_size"`
	ConvAct              string     `json:"conv_act"`
	ConvGroups           int        `json:"conv_groups"`
	EmbeddingSize        int        `json:"embedding_size"`      // 0: hidden_size
	AttentionHeadSize    int        `json:"attention_head_size"` // 0: hidden_size / num_attention_heads
	PoolerHiddenSize     int        `json:"pooler_hidden_size"`  // 0: hidden_size
	PoolerHiddenAct      string     `json:"pooler_hidden_act"`
	PoolerDropout        float64    `json:"pooler_dropout"`
	CLSDropout           *float64   `json:"cls_dropout"`
	TalkingHead          bool       `json:"talking_head"`

	// Head keys (used by task heads; absent in plain backbone configs).
	ID2Label    map[string]string `json:"id2label,omitempty"`
	ProblemType string            `json:"problem_type,omitempty"`
}

// defaultConfig returns HF's constructor defaults for a model type, so a
// config.json that omits a key means what it means in transformers.
func defaultConfig(modelType string) (Config, bool) {
	c := Config{
		ModelType:                 modelType,
		VocabSize:                 30522,
		HiddenSize:                768,
		NumHiddenLayers:           12,
		NumAttentionHeads:         12,
		IntermediateSize:          3072,
		HiddenAct:                 "gelu",
		HiddenDropoutProb:         0.1,
		AttentionProbsDropoutProb: 0.1,
		MaxPositionEmbeddings:     512,
		TypeVocabSize:             2,
		InitializerRange:          0.02,
		LayerNormEps:              1e-12,
		PadTokenID:                0,
		PositionEmbeddingType:     "absolute",
	}
	switch modelType {
	case "bert":
		return c, true
	case "roberta":
		// RobertaConfig: BertConfig's defaults but pad=1, bos=0, eos=2.
		c.PadTokenID = 1
		bos, eos := 0, 2
		c.BosTokenID, c.EosTokenID = &bos, &eos
		return c, true
	case "deberta", "deberta-v2":
		debertaDefaults(&c)
		return c, true
	}
	return Config{}, false
}

// SupportedModelTypes lists the `model_type` values this package loads.
var SupportedModelTypes = []string{"bert", "roberta", "deberta", "deberta-v2"}

// ParseConfig reads a config.json body; name is used in errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var head struct {
		ModelType *string `json:"model_type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", name, err)
	}
	if head.ModelType == nil {
		return nil, fmt.Errorf("%s: key \"model_type\" is missing", name)
	}
	cfg, ok := defaultConfig(*head.ModelType)
	if !ok {
		return nil, fmt.Errorf("%s: model_type %q is not supported (supported: %s)", name, *head.ModelType, strings.Join(SupportedModelTypes, ", "))
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: key %q: expected %s, got JSON %s", name, te.Field, te.Type, te.Value)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &cfg, nil
}

// LoadConfig reads DIR/config.json (or the file itself when given a file).
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// maxLayers bounds num_hidden_layers.
const maxLayers = 1024

// Validate checks the values this package relies on; the error names the key.
func (c *Config) Validate() error {
	pos := func(key string, v int) error {
		if v <= 0 {
			return fmt.Errorf("key %q must be positive, got %d", key, v)
		}
		return nil
	}
	for _, kv := range []struct {
		k string
		v int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"intermediate_size", c.IntermediateSize}, {"max_position_embeddings", c.MaxPositionEmbeddings},
		{"type_vocab_size", c.TypeVocabSize},
	} {
		if kv.k == "type_vocab_size" && c.IsDeberta() && kv.v == 0 {
			continue // DeBERTa: 0 means no token type embeddings
		}
		if err := pos(kv.k, kv.v); err != nil {
			return err
		}
	}
	// the layer list is made before the weights are read: a config must
	// not size it beyond any encoder (the deepest released has 48)
	if c.NumHiddenLayers > maxLayers {
		return fmt.Errorf("key \"num_hidden_layers\" (%d) is more than %d", c.NumHiddenLayers, maxLayers)
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("key \"hidden_size\" (%d) is not a multiple of \"num_attention_heads\" (%d)", c.HiddenSize, c.NumAttentionHeads)
	}
	if _, err := activationByName(c.HiddenAct); err != nil {
		return fmt.Errorf("key \"hidden_act\": %w", err)
	}
	if c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("key \"position_embedding_type\": %q is not supported (only \"absolute\")", c.PositionEmbeddingType)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("key \"layer_norm_eps\" must be positive, got %g", c.LayerNormEps)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("key \"pad_token_id\" (%d) is outside the vocabulary [0, %d)", c.PadTokenID, c.VocabSize)
	}
	if c.ModelType == "roberta" && c.MaxPositionEmbeddings <= c.PadTokenID+1 {
		return fmt.Errorf("key \"max_position_embeddings\" (%d) leaves no positions after the padding index %d", c.MaxPositionEmbeddings, c.PadTokenID)
	}
	if c.IsDeberta() {
		return c.validateDeberta()
	}
	return nil
}

// BaseModelPrefix is the name task models save the base model under
// ("bert", "roberta", "deberta": both DeBERTa versions use "deberta").
func (c *Config) BaseModelPrefix() string {
	if c.IsDeberta() {
		return "deberta"
	}
	return c.ModelType
}

// IsDeberta reports model_type deberta or deberta-v2.
func (c *Config) IsDeberta() bool { return c.ModelType == "deberta" || c.ModelType == "deberta-v2" }

// HeadDim is the per-head width C/NH.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// MaxSequenceLength is the longest input the position table allows: RoBERTa
// numbers positions from padding_idx+1, so it loses padding_idx+1 slots.
func (c *Config) MaxSequenceLength() int {
	if c.ModelType == "roberta" {
		return c.MaxPositionEmbeddings - c.PadTokenID - 1
	}
	return c.MaxPositionEmbeddings
}
