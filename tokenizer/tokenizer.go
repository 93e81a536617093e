package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Encoding is the model input for one text or text pair, special tokens
// included, laid out by the tokenizer's template (HF post-processor).
type Encoding struct {
	IDs     []int32
	TypeIDs []int32
}

// Specials holds the ids of the special tokens; -1 when the vocabulary has
// no such token. For RoBERTa CLS is <s> (BOS) and SEP is </s> (EOS).
type Specials struct {
	CLS  int32 // [CLS] / <s> (BOS)
	SEP  int32 // [SEP] / </s> (EOS)
	PAD  int32
	UNK  int32
	MASK int32
}

// Tokenizer turns text into model ids exactly like the Hugging Face fast
// tokenizer for the same files. Implementations are safe for concurrent use.
type Tokenizer interface {
	// Encode is HF tokenizer(text): ids with special tokens.
	Encode(text string) (Encoding, error)
	// EncodePair is HF tokenizer(text, text_pair).
	EncodePair(text, pair string) (Encoding, error)
	// Tokenize returns the sub-word tokens without template specials
	// (special tokens written literally in the text are kept).
	Tokenize(text string) ([]string, error)
	VocabSize() int
	TokenToID(tok string) (int32, bool)
	IDToToken(id int32) (string, bool)
	Special() Specials
}

// ErrInvalidUTF8 is wrapped by the error returned for text that is not valid
// UTF-8 (HF's Python API only accepts str, so such input has no HF answer).
var ErrInvalidUTF8 = errors.New("text is not valid UTF-8")

// model is the part of the pipeline after normalisation: pre-tokenizer and
// sub-word model.
type model interface {
	// appendIDs pre-tokenizes normalized text and appends its sub-word ids.
	appendIDs(dst []int32, normalized string) []int32
}

// addedToken is an entry of HF's added vocabulary that is split out of the
// text before the model runs.
type addedToken struct {
	content    string
	id         int32
	lstrip     bool // swallow White_Space on the left
	rstrip     bool // swallow White_Space on the right
	normalized bool // matched in normalized text instead of raw text
	special    bool
}

// templatePiece is one element of a post-processing template: a special
// token (ids) or the sequence A (seq 0) or B (seq 1).
type templatePiece struct {
	ids    []int32 // special token ids; nil for a sequence
	seq    int
	typeID int32
}

type template struct {
	single, pair []templatePiece
}

// tok is the one concrete Tokenizer: added-token splitting, a model and a
// template.
type tok struct {
	kind     string          // "bpe" or "wordpiece", for messages
	norm     *bertNormalizer // nil: no normalizer
	m        model
	vocab    map[string]int32
	idToTok  []string
	known    []bool  // idToTok[i] is a real token
	raw      matcher // added tokens matched on raw text
	normed   matcher // added tokens matched on normalized text
	tmpl     *template
	specials Specials
	size     int
}

// matcher finds added tokens in a string: leftmost, then longest match.
type matcher struct {
	tokens []addedToken
	first  [256]bool // first bytes of the contents
}

func newMatcher(toks []addedToken) matcher {
	m := matcher{tokens: toks}
	for _, t := range toks {
		if t.content != "" {
			m.first[t.content[0]] = true
		}
	}
	return m
}

// span is a piece of text, or an added token when id >= 0.
type span struct {
	text string
	id   int32
}

// split cuts s into text spans and added tokens, applying lstrip/rstrip the
// way HF's AddedVocabulary does.
func (m *matcher) split(s string, dst []span) []span {
	if len(m.tokens) == 0 {
		return append(dst, span{text: s, id: -1})
	}
	prev := 0 // end of the previous match (start of pending text)
	i := 0
	for i < len(s) {
		if !m.first[s[i]] {
			i++
			continue
		}
		best := -1
		for k := range m.tokens {
			c := m.tokens[k].content
			if c != "" && strings.HasPrefix(s[i:], c) && (best < 0 || len(c) > len(m.tokens[best].content)) {
				best = k
			}
		}
		if best < 0 {
			i++
			continue
		}
		t := &m.tokens[best]
		start, stop := i, i+len(t.content)
		if t.lstrip {
			for start > prev {
				r, size := utf8.DecodeLastRuneInString(s[prev:start])
				if !isWhiteSpace(r) {
					break
				}
				start -= size
			}
		}
		if t.rstrip {
			for stop < len(s) {
				r, size := utf8.DecodeRuneInString(s[stop:])
				if !isWhiteSpace(r) {
					break
				}
				stop += size
			}
		}
		if start > prev {
			dst = append(dst, span{text: s[prev:start], id: -1})
		}
		dst = append(dst, span{id: t.id})
		prev, i = stop, stop
	}
	if prev < len(s) {
		dst = append(dst, span{text: s[prev:], id: -1})
	}
	return dst
}

func checkUTF8(s, what string) error {
	if utf8.ValidString(s) {
		return nil
	}
	off := 0
	for off < len(s) {
		r, size := utf8.DecodeRuneInString(s[off:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		off += size
	}
	return fmt.Errorf("tokenizer: %s: %w (invalid byte 0x%02x at offset %d)", what, ErrInvalidUTF8, s[off], off)
}

// ids runs the whole pipeline for one sequence, without template.
func (t *tok) ids(s string, dst []int32) []int32 {
	var buf [16]span
	for _, sp := range t.raw.split(s, buf[:0]) {
		if sp.id >= 0 {
			dst = append(dst, sp.id)
			continue
		}
		n := sp.text
		if t.norm != nil {
			n = t.norm.normalize(n)
		}
		if len(t.normed.tokens) == 0 {
			dst = t.m.appendIDs(dst, n)
			continue
		}
		var buf2 [8]span
		for _, sp2 := range t.normed.split(n, buf2[:0]) {
			if sp2.id >= 0 {
				dst = append(dst, sp2.id)
			} else {
				dst = t.m.appendIDs(dst, sp2.text)
			}
		}
	}
	return dst
}

func (t *tok) Encode(text string) (Encoding, error) {
	if err := checkUTF8(text, "Encode"); err != nil {
		return Encoding{}, err
	}
	a := t.ids(text, make([]int32, 0, len(text)/3+4))
	return t.apply(a, nil, false), nil
}

func (t *tok) EncodePair(text, pair string) (Encoding, error) {
	if err := checkUTF8(text, "EncodePair text"); err != nil {
		return Encoding{}, err
	}
	if err := checkUTF8(pair, "EncodePair text_pair"); err != nil {
		return Encoding{}, err
	}
	a := t.ids(text, make([]int32, 0, len(text)/3+4))
	b := t.ids(pair, make([]int32, 0, len(pair)/3+4))
	return t.apply(a, b, true), nil
}

// apply lays out sequences with the template (HF post-processor).
func (t *tok) apply(a, b []int32, isPair bool) Encoding {
	if t.tmpl == nil {
		ids := append(append([]int32{}, a...), b...)
		types := make([]int32, len(ids))
		for i := len(a); i < len(ids); i++ {
			types[i] = 1
		}
		return Encoding{IDs: ids, TypeIDs: types}
	}
	pieces := t.tmpl.single
	if isPair {
		pieces = t.tmpl.pair
	}
	n := len(a) + len(b)
	for _, p := range pieces {
		n += len(p.ids)
	}
	enc := Encoding{IDs: make([]int32, 0, n), TypeIDs: make([]int32, 0, n)}
	for _, p := range pieces {
		src := p.ids
		if src == nil {
			src = a
			if p.seq == 1 {
				src = b
			}
		}
		enc.IDs = append(enc.IDs, src...)
		for range src {
			enc.TypeIDs = append(enc.TypeIDs, p.typeID)
		}
	}
	return enc
}

func (t *tok) Tokenize(text string) ([]string, error) {
	if err := checkUTF8(text, "Tokenize"); err != nil {
		return nil, err
	}
	ids := t.ids(text, nil)
	out := make([]string, len(ids))
	for i, id := range ids {
		s, ok := t.IDToToken(id)
		if !ok {
			return nil, fmt.Errorf("tokenizer: id %d has no token", id)
		}
		out[i] = s
	}
	return out, nil
}

func (t *tok) VocabSize() int { return t.size }

func (t *tok) TokenToID(s string) (int32, bool) {
	if id, ok := t.vocab[s]; ok {
		return id, true
	}
	for _, m := range []*matcher{&t.raw, &t.normed} {
		for _, a := range m.tokens {
			if a.content == s {
				return a.id, true
			}
		}
	}
	return 0, false
}

func (t *tok) IDToToken(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.idToTok) || !t.known[id] {
		return "", false
	}
	return t.idToTok[id], true
}

func (t *tok) Special() Specials { return t.specials }

// maxIDGap is how many unused ids a vocabulary may leave in all.
const maxIDGap = 1 << 16

// finish builds the reverse table, vocabulary size and special ids.
func (t *tok) finish(names map[string]string) error {
	size := 0
	for _, id := range t.vocab {
		if int(id)+1 > size {
			size = int(id) + 1
		}
	}
	all := append(append([]addedToken{}, t.raw.tokens...), t.normed.tokens...)
	for _, a := range all {
		if int(a.id)+1 > size {
			size = int(a.id) + 1
		}
	}
	// the reverse table is as long as the largest id: a file must not size
	// it far beyond its tokens (real vocabularies are contiguous)
	if n := len(t.vocab) + len(all); size > n+maxIDGap {
		return fmt.Errorf("id %d is far beyond the %d tokens (ids must be contiguous up to gaps of %d)", size-1, n, maxIDGap)
	}
	t.size = size
	t.idToTok = make([]string, size)
	t.known = make([]bool, size)
	for s, id := range t.vocab {
		if id < 0 {
			return fmt.Errorf("negative id %d for token %q", id, s)
		}
		t.idToTok[id] = s
		t.known[id] = true
	}
	for _, a := range all {
		if a.id < 0 {
			return fmt.Errorf("negative id %d for added token %q", a.id, a.content)
		}
		t.idToTok[a.id] = a.content
		t.known[a.id] = true
	}
	look := func(key string) int32 {
		if n, ok := names[key]; ok {
			if id, ok := t.TokenToID(n); ok {
				return id
			}
		}
		return -1
	}
	t.specials = Specials{CLS: look("cls"), SEP: look("sep"), PAD: look("pad"), UNK: look("unk"), MASK: look("mask")}
	return nil
}

// Load reads a tokenizer from dir. It looks, in order, for spm.model
// (SentencePiece, DeBERTa v2/v3; with added_tokens.json), tokenizer.json
// (HF tokenizers format, BPE+ByteLevel or WordPiece+Bert pipelines),
// vocab.json + merges.txt (RoBERTa/GPT-2 byte-level BPE) and vocab.txt
// (BERT WordPiece). tokenizer_config.json, when present, supplies
// do_lower_case, strip_accents, tokenize_chinese_chars, add_prefix_space and
// special token names, overriding tokenizer.json like transformers does.
func Load(dir string) (Tokenizer, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if fileExists(filepath.Join(dir, "spm.model")) {
		return loadSentencePiece(dir, cfg)
	}
	if p := filepath.Join(dir, "tokenizer.json"); fileExists(p) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		t, err := fromHFJSON(data, cfg)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
		}
		return t, nil
	}
	vj, mt := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if fileExists(vj) && fileExists(mt) {
		return loadBPEFiles(vj, mt, cfg)
	}
	if vt := filepath.Join(dir, "vocab.txt"); fileExists(vt) {
		return loadWordPieceFile(vt, cfg)
	}
	return nil, fmt.Errorf("tokenizer: %s: no spm.model, tokenizer.json, vocab.json+merges.txt or vocab.txt", dir)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
