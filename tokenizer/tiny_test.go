package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Tiny in-test vocabularies: these tests always run.

// tinyBPEVocab returns a byte-level vocabulary: RoBERTa specials, the 256
// byte symbols, the merge results and <mask> last.
func tinyBPEVocab() (map[string]int32, [][2]string) {
	vocab := map[string]int32{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	add := func(s string) {
		if _, ok := vocab[s]; !ok {
			vocab[s] = int32(len(vocab))
		}
	}
	for b := 0; b < 256; b++ {
		add(string(byteToRune[b]))
	}
	merges := [][2]string{
		{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"},
		{"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"Ġwor", "l"}, {"Ġworl", "d"},
		{"a", "a"}, {"Ġ", "Ġ"}, {"'", "s"},
	}
	for _, m := range merges {
		add(m[0] + m[1])
	}
	add("<mask>")
	return vocab, merges
}

func writeTinyBPE(t testing.TB) string {
	t.Helper()
	vocab, merges := tinyBPEVocab()
	dir := t.TempDir()
	data, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "vocab.json"), string(data))
	var sb strings.Builder
	sb.WriteString("#version: 0.2\n")
	for _, m := range merges {
		sb.WriteString(m[0] + " " + m[1] + "\n")
	}
	writeFile(t, filepath.Join(dir, "merges.txt"), sb.String())
	return dir
}

func tinyBPE(t testing.TB) Tokenizer {
	t.Helper()
	vocab, merges := tinyBPEVocab()
	tk, err := newRoBERTa(vocab, merges, &config{tokens: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

var tinyWordPieceTokens = []string{
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
	"hello", "world", "un", "##aff", "##able", "!", ",", ".", "cafe", "中", "the", "##s", "run", "##ning",
	"a", "b", "c", "##a", "##b", "##c", "hel", "##lo", "é", "~",
}

func writeTinyWordPiece(t testing.TB, config string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "vocab.txt"), strings.Join(tinyWordPieceTokens, "\n")+"\n")
	if config != "" {
		writeFile(t, filepath.Join(dir, "tokenizer_config.json"), config)
	}
	return dir
}

func tinyWordPiece(t testing.TB, config string) Tokenizer {
	t.Helper()
	tk, err := Load(writeTinyWordPiece(t, config))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestSplitGPT2(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" ", []string{" "}},
		{"Hello world", []string{"Hello", " world"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a   b", []string{"a", "  ", " b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"a \nb", []string{"a", " ", "\n", "b"}},
		{"  a", []string{" ", " a"}},
		{"\t a", []string{"\t", " a"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"I'm", []string{"I", "'m"}},
		{"don't they'll we've you're he'd", []string{"don", "'t", " they", "'ll", " we", "'ve", " you", "'re", " he", "'d"}},
		{"'S", []string{"'", "S"}},
		{"x''s", []string{"x", "''", "s"}},
		{" 's", []string{" '", "s"}},
		{"'", []string{"'"}},
		{"abc123def", []string{"abc", "123", "def"}},
		{"a!!b a !!", []string{"a", "!!", "b", " a", " !!"}},
		{"e\u0301", []string{"e", "\u0301"}},
		{"a\u00a0b", []string{"a", "\u00a0", "b"}},
		{"a\u00a0 b", []string{"a", "\u00a0", " b"}},
		{"中文 字", []string{"中文", " 字"}},
		{"½²3", []string{"½²3"}},
	} {
		var got []string
		splitGPT2(c.in, func(p string) { got = append(got, p) })
		if !slices.Equal(got, c.want) {
			t.Errorf("splitGPT2(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTinyBPE(t *testing.T) {
	vocab, _ := tinyBPEVocab()
	id := func(s string) int32 {
		v, ok := vocab[s]
		if !ok {
			t.Fatalf("no %q", s)
		}
		return v
	}
	fromFiles, err := Load(writeTinyBPE(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, tk := range map[string]Tokenizer{"memory": tinyBPE(t), "files": fromFiles} {
		t.Run(name, func(t *testing.T) {
			enc, err := tk.Encode("hello world")
			if err != nil {
				t.Fatal(err)
			}
			if want := []int32{0, id("hello"), id("Ġworld"), 2}; !slices.Equal(enc.IDs, want) {
				t.Errorf("ids %v want %v", enc.IDs, want)
			}
			// Equal ranks: leftmost first; "aaa" -> aa a.
			toks, _ := tk.Tokenize("aaa  x's")
			if want := []string{"aa", "a", "Ġ", "Ġ", "x", "'s"}; !slices.Equal(toks, want) {
				t.Errorf("tokens %q want %q", toks, want)
			}
			// <mask> swallows whitespace on its left only.
			enc, _ = tk.Encode("hello  <mask> world")
			if want := []int32{0, id("hello"), id("<mask>"), id("Ġworld"), 2}; !slices.Equal(enc.IDs, want) {
				t.Errorf("mask ids %v want %v", enc.IDs, want)
			}
			enc, _ = tk.Encode("")
			if !slices.Equal(enc.IDs, []int32{0, 2}) || !slices.Equal(enc.TypeIDs, []int32{0, 0}) {
				t.Errorf("empty: %+v", enc)
			}
			enc, _ = tk.EncodePair("hello", "")
			if want := []int32{0, id("hello"), 2, 2, 2}; !slices.Equal(enc.IDs, want) || !slices.Equal(enc.TypeIDs, make([]int32, 5)) {
				t.Errorf("pair: %+v", enc)
			}
			if _, err := tk.Encode("bad \xff byte"); !errors.Is(err, ErrInvalidUTF8) {
				t.Errorf("invalid UTF-8: err = %v", err)
			}
			if _, err := tk.EncodePair("ok", "\xc3"); !errors.Is(err, ErrInvalidUTF8) {
				t.Errorf("invalid UTF-8 pair: err = %v", err)
			}
			if _, err := tk.Tokenize("\xed\xa0\x80"); !errors.Is(err, ErrInvalidUTF8) {
				t.Errorf("surrogate: err = %v", err)
			}
			if s := tk.Special(); s != (Specials{CLS: 0, SEP: 2, PAD: 1, UNK: 3, MASK: id("<mask>")}) {
				t.Errorf("specials %+v", s)
			}
			if tk.VocabSize() != len(vocab) {
				t.Errorf("vocab size %d want %d", tk.VocabSize(), len(vocab))
			}
			if s, ok := tk.IDToToken(id("Ġworld")); !ok || s != "Ġworld" {
				t.Errorf("IDToToken = %q %v", s, ok)
			}
			if _, ok := tk.IDToToken(-1); ok {
				t.Error("IDToToken(-1) ok")
			}
			if _, ok := tk.IDToToken(int32(len(vocab))); ok {
				t.Error("IDToToken(size) ok")
			}
			if _, ok := tk.TokenToID("nope-not-there"); ok {
				t.Error("TokenToID of unknown token ok")
			}
		})
	}
}

func TestTinyBPEAddPrefixSpace(t *testing.T) {
	dir := writeTinyBPE(t)
	writeFile(t, filepath.Join(dir, "tokenizer_config.json"), `{"add_prefix_space": true, "mask_token": {"content": "<mask>", "lstrip": true}}`)
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := tk.Tokenize("world")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(toks, []string{"Ġworld"}) {
		t.Errorf("tokens %q", toks)
	}
}

func TestTinyWordPiece(t *testing.T) {
	tk := tinyWordPiece(t, "")
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello, World!", []string{"hello", ",", "world", "!"}},
		{"unaffable", []string{"un", "##aff", "##able"}},
		{"CAFÉ Café cafe\u0301", []string{"cafe", "cafe", "cafe"}},
		{"中文", []string{"中", "[UNK]"}},
		{"a中b", []string{"a", "中", "b"}},
		{"hel\x00lo\u200d \ufffd\x7f", []string{"hello"}},
		{"hello\tworld\u3000the\u00a0runs", []string{"hello", "world", "the", "run", "##s"}},
		{"runx", []string{"[UNK]"}},
		{"running~", []string{"run", "##ning", "~"}},
		{"abcx", []string{"[UNK]"}},
		{strings.Repeat("a", 100), slices.Repeat([]string{"a"}, 1)[:0]}, // filled below
		{strings.Repeat("a", 101), []string{"[UNK]"}},
		{"[MASK] [mask]x[CLS]", []string{"[MASK]", "[UNK]", "[UNK]", "[UNK]", "[UNK]", "[CLS]"}},
		{"", nil},
		{"  \n ", nil},
	} {
		want := c.want
		if c.in == strings.Repeat("a", 100) {
			want = append([]string{"a"}, slices.Repeat([]string{"##a"}, 99)...)
		}
		got, err := tk.Tokenize(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, want)
		}
	}
	enc, err := tk.EncodePair("hello", "world!")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{2, 5, 3, 6, 10, 3}; !slices.Equal(enc.IDs, want) {
		t.Errorf("pair ids %v want %v", enc.IDs, want)
	}
	if want := []int32{0, 0, 0, 1, 1, 1}; !slices.Equal(enc.TypeIDs, want) {
		t.Errorf("pair types %v want %v", enc.TypeIDs, want)
	}
	enc, _ = tk.EncodePair("", "")
	if !slices.Equal(enc.IDs, []int32{2, 3, 3}) || !slices.Equal(enc.TypeIDs, []int32{0, 0, 1}) {
		t.Errorf("empty pair %+v", enc)
	}
	if s := tk.Special(); s != (Specials{CLS: 2, SEP: 3, PAD: 0, UNK: 1, MASK: 4}) {
		t.Errorf("specials %+v", s)
	}
	if _, err := tk.Encode("x\x80"); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestTinyWordPieceCased(t *testing.T) {
	tk := tinyWordPiece(t, `{"do_lower_case": false}`)
	got, _ := tk.Tokenize("hello Hello café İ")
	if want := []string{"hello", "[UNK]", "[UNK]", "[UNK]"}; !slices.Equal(got, want) {
		t.Errorf("cased: %q want %q", got, want)
	}
	// strip_accents without lower-casing.
	tk = tinyWordPiece(t, `{"do_lower_case": false, "strip_accents": true}`)
	got, _ = tk.Tokenize("café")
	if want := []string{"cafe"}; !slices.Equal(got, want) {
		t.Errorf("cased+strip: %q want %q", got, want)
	}
	// lower-casing without accent stripping keeps é; İ lowers to i + U+0307.
	tk = tinyWordPiece(t, `{"do_lower_case": true, "strip_accents": false}`)
	got, _ = tk.Tokenize("CAFÉ É")
	if want := []string{"[UNK]", "é"}; !slices.Equal(got, want) {
		t.Errorf("lower no strip: %q want %q", got, want)
	}
	bn := &bertNormalizer{lowercase: true}
	if got := bn.normalize("İ"); got != "i\u0307" {
		t.Errorf("İ lower = %q", got)
	}
}

func TestTokenizerJSONTiny(t *testing.T) {
	vocab, merges := tinyBPEVocab()
	ms := make([]string, len(merges))
	for i, m := range merges {
		ms[i] = m[0] + " " + m[1]
	}
	obj := map[string]any{
		"added_tokens": []any{
			map[string]any{"id": vocab["<s>"], "content": "<s>", "special": true, "normalized": true},
			map[string]any{"id": vocab["</s>"], "content": "</s>", "special": true, "normalized": true},
			map[string]any{"id": vocab["<mask>"], "content": "<mask>", "special": true, "lstrip": true},
			map[string]any{"id": 999, "content": "<extra>", "special": false, "rstrip": true},
		},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": true},
		"post_processor": map[string]any{"type": "Sequence", "processors": []any{
			map[string]any{"type": "ByteLevel"},
			map[string]any{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}},
		}},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": ms},
	}
	tk, err := Load(writeTokenizerJSON(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tk.Encode("world<extra>  hello")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, vocab["Ġworld"], 999, vocab["Ġ"], vocab["hello"], 2}; !slices.Equal(enc.IDs, want) {
		// rstrip swallows the spaces after <extra>; add_prefix_space applies
		// per split, so "hello" becomes " hello" (no Ġh merge here).
		t.Errorf("ids %v want %v", enc.IDs, want)
	}
	if tk.VocabSize() != 1000 {
		t.Errorf("vocab size %d", tk.VocabSize())
	}
	if s, ok := tk.IDToToken(999); !ok || s != "<extra>" {
		t.Errorf("IDToToken(999) = %q %v", s, ok)
	}
	if _, ok := tk.IDToToken(998); ok {
		t.Error("IDToToken(998) should be absent")
	}
}

func TestLoadErrors(t *testing.T) {
	mk := func(files map[string]string) string {
		dir := t.TempDir()
		for n, c := range files {
			writeFile(t, filepath.Join(dir, n), c)
		}
		return dir
	}
	vocab, _ := tinyBPEVocab()
	vj, _ := json.Marshal(vocab)
	for name, files := range map[string]map[string]string{
		"empty dir":             {},
		"bad vocab.json":        {"vocab.json": "{", "merges.txt": ""},
		"merge not in vocab":    {"vocab.json": string(vj), "merges.txt": "#version: 0.2\nq z\n"},
		"malformed merge":       {"vocab.json": string(vj), "merges.txt": "abc\n"},
		"vocab.txt without unk": {"vocab.txt": "[CLS]\n[SEP]\nhello\n"},
		"bad config":            {"vocab.txt": "[UNK]\n", "tokenizer_config.json": "[1,2"},
		"bad config bool":       {"vocab.txt": "[UNK]\n", "tokenizer_config.json": `{"do_lower_case": "yes"}`},
		"bad tokenizer.json":    {"tokenizer.json": "{]"},
		"unigram":               {"tokenizer.json": `{"model": {"type": "Unigram", "vocab": {}}}`},
		"no vocab":              {"tokenizer.json": `{"model": {"type": "BPE"}}`},
		"bpe without bytelevel": {"tokenizer.json": `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
		"bad merges":            {"tokenizer.json": `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}}`},
		"bad normalizer":        {"tokenizer.json": `{"normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}`},
		"bad post_processor": {"tokenizer.json": `{"pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[X]"}}]},
			"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}`},
		"wordpiece unk missing":     {"tokenizer.json": `{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "WordPiece", "vocab": {"a": 0}}}`},
		"negative id":               {"tokenizer.json": `{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "WordPiece", "vocab": {"[UNK]": -5}}}`},
		"negative id in vocab.json": {"vocab.json": `{"a": -1, "b": 1}`, "merges.txt": "#version: 0.2\n"},
		// a reverse table of 2³¹ entries was allocated for these
		"sparse ids":        {"tokenizer.json": `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 2147483000}, "merges": []}}`},
		"sparse added id":   {"tokenizer.json": `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 2147483000, "content": "<s>", "special": true}]}`},
		"sparse vocab.json": {"vocab.json": `{"a": 2147483000, "b": 1}`, "merges.txt": "#version: 0.2\n"},
	} {
		_, err := Load(mk(files))
		if err == nil {
			t.Errorf("%s: Load succeeded", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("%s: error without context: %v", name, err)
		}
		named := len(files) == 0
		for f := range files {
			named = named || strings.Contains(err.Error(), f)
		}
		if !named {
			t.Errorf("%s: error names none of the files: %v", name, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing dir: Load succeeded")
	}
}

func TestConcurrentEncode(t *testing.T) {
	tk := tinyBPE(t)
	texts := []string{"hello world", "aaaa  hello's", "héllo wörld 😀", "<mask> world", ""}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		enc, err := tk.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = enc.IDs
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 200; r++ {
				i := (g + r) % len(texts)
				enc, err := tk.Encode(texts[i] + strings.Repeat(" hello", r%3))
				if err != nil {
					errs <- err
					return
				}
				if r%3 == 0 && !slices.Equal(enc.IDs, want[i]) {
					errs <- fmt.Errorf("goroutine %d: %q: %v want %v", g, texts[i], enc.IDs, want[i])
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
