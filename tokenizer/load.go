package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// config is what we use from tokenizer_config.json / special_tokens_map.json.
type config struct {
	doLowerCase          *bool
	stripAccents         *bool // explicit true/false; nil = follow lower-casing
	tokenizeChineseChars *bool
	addPrefixSpace       *bool
	tokens               map[string]string // "cls","sep","pad","unk","mask","bos","eos" -> content
}

// readConfig reads the optional tokenizer_config.json and
// special_tokens_map.json of dir.
func readConfig(dir string) (*config, error) {
	cfg := &config{tokens: map[string]string{}}
	for _, name := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
		}
		boolField := func(key string, dst **bool) error {
			v, ok := raw[key]
			if !ok || string(v) == "null" {
				return nil
			}
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("tokenizer: %s: field %s: %w", p, key, err)
			}
			*dst = &b
			return nil
		}
		for key, dst := range map[string]**bool{
			"do_lower_case": &cfg.doLowerCase, "strip_accents": &cfg.stripAccents,
			"tokenize_chinese_chars": &cfg.tokenizeChineseChars, "add_prefix_space": &cfg.addPrefixSpace,
		} {
			if err := boolField(key, dst); err != nil {
				return nil, err
			}
		}
		for _, k := range []string{"cls", "sep", "pad", "unk", "mask", "bos", "eos"} {
			v, ok := raw[k+"_token"]
			if !ok {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				cfg.tokens[k] = s
				continue
			}
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(v, &obj) == nil && obj.Content != "" {
				cfg.tokens[k] = obj.Content
			}
		}
	}
	return cfg, nil
}

func (c *config) name(key, def string) string {
	if s, ok := c.tokens[key]; ok {
		return s
	}
	return def
}

// loadBPEFiles builds a RoBERTa-style tokenizer (HF RobertaTokenizerFast
// defaults) from vocab.json and merges.txt. Without <s> and </s> in the
// vocabulary (GPT-2) no template is applied.
func loadBPEFiles(vocabPath, mergesPath string, cfg *config) (Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabPath, err)
	}
	merges, err := readMerges(mergesPath)
	if err != nil {
		return nil, err
	}
	t, err := newRoBERTa(vocab, merges, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabPath, err)
	}
	return t, nil
}

func newRoBERTa(vocab map[string]int32, merges [][2]string, cfg *config) (*tok, error) {
	m, err := newBPEModel(vocab, merges, "")
	if err != nil {
		return nil, err
	}
	if cfg.addPrefixSpace != nil {
		m.addPrefixSpace = *cfg.addPrefixSpace
	}
	// DeBERTa v1 uses GPT-2's byte-level BPE with BERT-style special tokens
	// ([CLS] A [SEP] B [SEP], token types 0 then 1: HF's DebertaTokenizer).
	_, hasS := vocab["<s>"]
	_, hasCLS := vocab["[CLS]"]
	deberta := hasCLS && !hasS
	def := map[string]string{"bos": "<s>", "eos": "</s>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>"}
	if deberta {
		def = map[string]string{"bos": "[CLS]", "eos": "[SEP]", "pad": "[PAD]", "unk": "[UNK]", "mask": "[MASK]"}
	}
	bos, eos := cfg.name("bos", def["bos"]), cfg.name("eos", def["eos"])
	names := map[string]string{
		"bos": bos, "eos": eos, "cls": cfg.name("cls", bos), "sep": cfg.name("sep", eos),
		"pad": cfg.name("pad", def["pad"]), "unk": cfg.name("unk", def["unk"]), "mask": cfg.name("mask", def["mask"]),
	}
	// The order of RobertaTokenizer's special tokens; duplicates skipped.
	var added []addedToken
	seen := map[string]bool{}
	for _, k := range []string{"bos", "pad", "eos", "unk", "cls", "sep", "mask"} {
		n := names[k]
		id, ok := vocab[n]
		if !ok || seen[n] {
			continue
		}
		seen[n] = true
		// RobertaTokenizer declares the mask token with lstrip=True.
		added = append(added, addedToken{content: n, id: id, lstrip: k == "mask", special: true})
	}
	t := &tok{kind: "bpe", m: m, vocab: vocab, raw: newMatcher(added)}
	cls, okC := vocab[names["cls"]]
	sep, okS := vocab[names["sep"]]
	if okC && okS {
		if deberta {
			t.tmpl = bertTemplate(cls, sep)
		} else {
			t.tmpl = robertaTemplate(cls, sep)
		}
	}
	if err := t.finish(names); err != nil {
		return nil, err
	}
	return t, nil
}

func robertaTemplate(cls, sep int32) *template {
	c, s := []int32{cls}, []int32{sep}
	return &template{
		single: []templatePiece{{ids: c}, {seq: 0}, {ids: s}},
		pair:   []templatePiece{{ids: c}, {seq: 0}, {ids: s}, {ids: s}, {seq: 1}, {ids: s}},
	}
}

func bertTemplate(cls, sep int32) *template {
	c, s := []int32{cls}, []int32{sep}
	return &template{
		single: []templatePiece{{ids: c}, {seq: 0}, {ids: s}},
		pair:   []templatePiece{{ids: c}, {seq: 0}, {ids: s}, {seq: 1, typeID: 1}, {ids: s, typeID: 1}},
	}
}

// readMerges reads merges.txt: an optional "#version" line, then "a b" lines.
func readMerges(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if (line == 1 && strings.HasPrefix(s, "#version")) || s == "" {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("tokenizer: %s:%d: malformed merge %q", path, line, s)
		}
		out = append(out, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return out, nil
}

// loadWordPieceFile builds a BERT tokenizer (HF BertTokenizerFast defaults)
// from vocab.txt: one token per line, id = line number.
func loadWordPieceFile(path string, cfg *config) (Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vocab := make(map[string]int32)
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		s := strings.TrimRight(string(l), "\r")
		if _, dup := vocab[s]; !dup {
			vocab[s] = int32(i)
		}
	}
	t, err := newBERT(vocab, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

func newBERT(vocab map[string]int32, cfg *config) (*tok, error) {
	lower := true
	if cfg.doLowerCase != nil {
		lower = *cfg.doLowerCase
	}
	strip := lower
	if cfg.stripAccents != nil {
		strip = *cfg.stripAccents
	}
	chinese := true
	if cfg.tokenizeChineseChars != nil {
		chinese = *cfg.tokenizeChineseChars
	}
	names := map[string]string{
		"cls": cfg.name("cls", "[CLS]"), "sep": cfg.name("sep", "[SEP]"), "pad": cfg.name("pad", "[PAD]"),
		"unk": cfg.name("unk", "[UNK]"), "mask": cfg.name("mask", "[MASK]"),
	}
	bn := &bertNormalizer{cleanText: true, chineseChars: chinese, stripAccents: strip, lowercase: lower}
	m, err := newWordPieceModel(vocab, names["unk"], "##", 100)
	if err != nil {
		return nil, err
	}
	var added []addedToken
	seen := map[string]bool{}
	for _, k := range []string{"pad", "unk", "cls", "sep", "mask"} {
		n := names[k]
		if id, ok := vocab[n]; ok && !seen[n] {
			seen[n] = true
			added = append(added, addedToken{content: n, id: id, special: true})
		}
	}
	cls, okC := vocab[names["cls"]]
	sep, okS := vocab[names["sep"]]
	if !okC || !okS {
		return nil, fmt.Errorf("cls token %q or sep token %q not in vocabulary", names["cls"], names["sep"])
	}
	t := &tok{kind: "wordpiece", norm: bn, m: m, vocab: vocab, raw: newMatcher(added), tmpl: bertTemplate(cls, sep)}
	if err := t.finish(names); err != nil {
		return nil, err
	}
	return t, nil
}
