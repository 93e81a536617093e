package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The subset of HF tokenizers' tokenizer.json that RoBERTa and BERT use.

type hfAddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string           `json:"type"`
	Vocab                   map[string]int32 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
	Dropout                 *float64         `json:"dropout"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
}

type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         hfModel         `json:"model"`
}

// hfComponent is any normalizer / pre-tokenizer / post-processor object.
type hfComponent struct {
	Type string `json:"type"`
	// BertNormalizer
	CleanText          *bool `json:"clean_text"`
	HandleChineseChars *bool `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          *bool `json:"lowercase"`
	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// RobertaProcessing / BertProcessing
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`
	// TemplateProcessing
	Single        []map[string]hfTemplateItem `json:"single"`
	Pair          []map[string]hfTemplateItem `json:"pair"`
	SpecialTokens map[string]struct {
		ID  string  `json:"id"`
		IDs []int32 `json:"ids"`
	} `json:"special_tokens"`
	// Sequence
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
}

type hfTemplateItem struct {
	ID     string `json:"id"`
	TypeID int32  `json:"type_id"`
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func parseComponent(raw json.RawMessage, what string) (*hfComponent, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &c, nil
}

// parseMerges accepts both forms: ["a b", ...] and [["a","b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	out := make([][2]string, 0, len(items))
	for i, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("model.merges[%d]: malformed merge %q", i, s)
			}
			out = append(out, [2]string{a, b})
			continue
		}
		var pair []string
		if err := json.Unmarshal(it, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("model.merges[%d]: want \"a b\" or [a, b], got %s", i, it)
		}
		out = append(out, [2]string{pair[0], pair[1]})
	}
	return out, nil
}

// tokenAndID parses the ["token", id] pairs of Roberta/BertProcessing.
func tokenAndID(parts []json.RawMessage, what string) (string, int32, error) {
	if len(parts) != 2 {
		return "", 0, fmt.Errorf("post_processor.%s: want [token, id]", what)
	}
	var s string
	var id int32
	if err := json.Unmarshal(parts[0], &s); err != nil {
		return "", 0, fmt.Errorf("post_processor.%s: %w", what, err)
	}
	if err := json.Unmarshal(parts[1], &id); err != nil {
		return "", 0, fmt.Errorf("post_processor.%s: %w", what, err)
	}
	return s, id, nil
}

// parsePostProcessor returns the template (nil: none) and the cls/sep
// token names it uses.
func parsePostProcessor(raw json.RawMessage) (*template, string, string, error) {
	c, err := parseComponent(raw, "post_processor")
	if err != nil || c == nil {
		return nil, "", "", err
	}
	switch c.Type {
	case "ByteLevel":
		return nil, "", "", nil
	case "Sequence":
		var tmpl *template
		var cls, sep string
		for _, p := range c.Processors {
			t, c2, s2, err := parsePostProcessor(p)
			if err != nil {
				return nil, "", "", err
			}
			if t != nil {
				if tmpl != nil {
					return nil, "", "", errors.New("post_processor: more than one template in Sequence")
				}
				tmpl, cls, sep = t, c2, s2
			}
		}
		return tmpl, cls, sep, nil
	case "RobertaProcessing", "BertProcessing":
		sepTok, sepID, err := tokenAndID(c.Sep, "sep")
		if err != nil {
			return nil, "", "", err
		}
		clsTok, clsID, err := tokenAndID(c.Cls, "cls")
		if err != nil {
			return nil, "", "", err
		}
		if c.Type == "RobertaProcessing" {
			return robertaTemplate(clsID, sepID), clsTok, sepTok, nil
		}
		return bertTemplate(clsID, sepID), clsTok, sepTok, nil
	case "TemplateProcessing":
		var cls, sep string
		conv := func(items []map[string]hfTemplateItem, what string) ([]templatePiece, error) {
			var out []templatePiece
			for i, it := range items {
				if sq, ok := it["Sequence"]; ok {
					seq := 0
					switch sq.ID {
					case "A":
					case "B":
						seq = 1
					default:
						return nil, fmt.Errorf("post_processor.%s[%d]: unknown sequence %q", what, i, sq.ID)
					}
					out = append(out, templatePiece{seq: seq, typeID: sq.TypeID})
					continue
				}
				sp, ok := it["SpecialToken"]
				if !ok {
					return nil, fmt.Errorf("post_processor.%s[%d]: want Sequence or SpecialToken", what, i)
				}
				st, ok := c.SpecialTokens[sp.ID]
				if !ok || len(st.IDs) == 0 {
					return nil, fmt.Errorf("post_processor.%s[%d]: special token %q has no ids", what, i, sp.ID)
				}
				if cls == "" {
					cls = sp.ID
				}
				sep = sp.ID
				out = append(out, templatePiece{ids: st.IDs, typeID: sp.TypeID})
			}
			return out, nil
		}
		single, err := conv(c.Single, "single")
		if err != nil {
			return nil, "", "", err
		}
		pair, err := conv(c.Pair, "pair")
		if err != nil {
			return nil, "", "", err
		}
		return &template{single: single, pair: pair}, cls, sep, nil
	}
	return nil, "", "", fmt.Errorf("post_processor: unsupported type %q", c.Type)
}

func fromHFJSON(data []byte, cfg *config) (*tok, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	mt := f.Model.Type
	if mt == "" { // old files omit the type
		switch {
		case !isNull(f.Model.Merges):
			mt = "BPE"
		case f.Model.MaxInputCharsPerWord != nil:
			mt = "WordPiece"
		}
	}
	if f.Model.Vocab == nil {
		return nil, errors.New("model.vocab missing")
	}
	pre, err := parseComponent(f.PreTokenizer, "pre_tokenizer")
	if err != nil {
		return nil, err
	}
	if pre != nil && pre.Type == "Sequence" && len(pre.PreTokenizers) == 1 {
		if pre, err = parseComponent(pre.PreTokenizers[0], "pre_tokenizer"); err != nil {
			return nil, err
		}
	}
	preType := ""
	if pre != nil {
		preType = pre.Type
	}
	nc, err := parseComponent(f.Normalizer, "normalizer")
	if err != nil {
		return nil, err
	}
	if nc != nil && nc.Type == "Sequence" && len(nc.Normalizers) == 0 {
		nc = nil
	}
	if nc != nil && nc.Type == "Sequence" && len(nc.Normalizers) == 1 {
		if nc, err = parseComponent(nc.Normalizers[0], "normalizer"); err != nil {
			return nil, err
		}
	}

	t := &tok{vocab: f.Model.Vocab}
	if nc != nil {
		if nc.Type != "BertNormalizer" {
			return nil, fmt.Errorf("normalizer: unsupported type %q (supported: BertNormalizer or none)", nc.Type)
		}
		def := func(p *bool, d bool) bool {
			if p == nil {
				return d
			}
			return *p
		}
		bn := &bertNormalizer{
			cleanText:    def(nc.CleanText, true),
			chineseChars: def(nc.HandleChineseChars, true),
			lowercase:    def(nc.Lowercase, true),
		}
		// transformers' BertTokenizerFast re-applies tokenizer_config.json.
		if cfg.doLowerCase != nil {
			bn.lowercase = *cfg.doLowerCase
		}
		if cfg.tokenizeChineseChars != nil {
			bn.chineseChars = *cfg.tokenizeChineseChars
		}
		bn.stripAccents = def(nc.StripAccents, bn.lowercase)
		if cfg.stripAccents != nil {
			bn.stripAccents = *cfg.stripAccents
		}
		t.norm = bn
	}

	var defaults map[string]string
	switch mt {
	case "BPE":
		t.kind = "bpe"
		if preType != "ByteLevel" {
			return nil, fmt.Errorf("BPE model needs a ByteLevel pre_tokenizer, got %q", preType)
		}
		if f.Model.Dropout != nil && *f.Model.Dropout > 0 {
			return nil, errors.New("model: BPE dropout is not supported")
		}
		if f.Model.ByteFallback || f.Model.IgnoreMerges {
			return nil, errors.New("model: byte_fallback / ignore_merges are not supported")
		}
		if (f.Model.ContinuingSubwordPrefix != nil && *f.Model.ContinuingSubwordPrefix != "") ||
			(f.Model.EndOfWordSuffix != nil && *f.Model.EndOfWordSuffix != "") {
			return nil, errors.New("model: continuing_subword_prefix / end_of_word_suffix are not supported for BPE")
		}
		merges, err := parseMerges(f.Model.Merges)
		if err != nil {
			return nil, err
		}
		unk := ""
		if f.Model.UnkToken != nil {
			unk = *f.Model.UnkToken
		}
		m, err := newBPEModel(f.Model.Vocab, merges, unk)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		if pre.AddPrefixSpace != nil {
			m.addPrefixSpace = *pre.AddPrefixSpace
		}
		if cfg.addPrefixSpace != nil {
			m.addPrefixSpace = *cfg.addPrefixSpace
		}
		if pre.UseRegex != nil {
			m.useRegex = *pre.UseRegex
		}
		t.m = m
		defaults = map[string]string{"cls": "<s>", "sep": "</s>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>"}
	case "WordPiece":
		t.kind = "wordpiece"
		if preType != "BertPreTokenizer" {
			return nil, fmt.Errorf("WordPiece model needs a BertPreTokenizer, got %q", preType)
		}
		unk, prefix, maxChars := "[UNK]", "##", 100
		if f.Model.UnkToken != nil {
			unk = *f.Model.UnkToken
		}
		if f.Model.ContinuingSubwordPrefix != nil {
			prefix = *f.Model.ContinuingSubwordPrefix
		}
		if f.Model.MaxInputCharsPerWord != nil {
			maxChars = *f.Model.MaxInputCharsPerWord
		}
		m, err := newWordPieceModel(f.Model.Vocab, unk, prefix, maxChars)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		t.m = m
		defaults = map[string]string{"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": unk, "mask": "[MASK]"}
	default:
		return nil, fmt.Errorf("model: unsupported type %q (supported: BPE, WordPiece)", mt)
	}

	var raw, normed []addedToken
	for _, a := range f.AddedTokens {
		if a.SingleWord {
			return nil, fmt.Errorf("added token %q: single_word is not supported", a.Content)
		}
		at := addedToken{content: a.Content, id: a.ID, lstrip: a.Lstrip, rstrip: a.Rstrip, normalized: a.Normalized, special: a.Special}
		if a.Normalized && t.norm != nil {
			normed = append(normed, at)
		} else {
			raw = append(raw, at)
		}
	}
	t.raw, t.normed = newMatcher(raw), newMatcher(normed)

	tmpl, cls, sep, err := parsePostProcessor(f.PostProcessor)
	if err != nil {
		return nil, err
	}
	t.tmpl = tmpl
	names := map[string]string{}
	for k, v := range defaults {
		names[k] = cfg.name(k, v)
	}
	if cls != "" {
		names["cls"] = cls
	}
	if sep != "" {
		names["sep"] = sep
	}
	if err := t.finish(names); err != nil {
		return nil, err
	}
	return t, nil
}
