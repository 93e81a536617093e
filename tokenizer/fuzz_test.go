package tokenizer

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Fuzz targets: never panic, valid ids, template layout, and for byte-level
// BPE losslessness (the tokens decode back to the input bytes). They run on
// the tiny in-test vocabularies and, when the shared data is present, on
// the real ones too.

var runeToByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteToRune {
		m[r] = byte(b)
	}
	return m
}()

var (
	realOnce        sync.Once
	realRoBERTa     Tokenizer
	realBERTUncased Tokenizer
)

func loadReal() {
	d, _ := findSharedData()
	if d == "" {
		return
	}
	realRoBERTa, _ = Load(filepath.Join(d, "tokenizers", "roberta-base"))
	realBERTUncased, _ = Load(filepath.Join(d, "tokenizers", "bert-base-uncased"))
}

var fuzzSeeds = []string{
	"", " ", "hello world", "Hello  world  ", "I'm don't 'S x''s", "a\n\n\tb\u00a0c\u3000",
	"<mask> <s></s><pad><unk>", "[CLS] [MASK] [mask]", "Café e\u0301 İ ß ﬁ", "中文 日本語 한국어",
	"👨\u200d👩\u200d👧 👍🏽 1️⃣", "\x00\x01\x7f\ufffd\u200b\ufeff", "\xff\xfe bad", "a\xc3", strings.Repeat("ab", 80),
	"1,000.50 $5 ½ ²", "שלום مرحبا สวัสดี नमस्ते",
}

// checkTemplate validates an encoding's shape and ids.
func checkTemplate(t *testing.T, tk Tokenizer, enc Encoding, pair bool) {
	t.Helper()
	sp := tk.Special()
	n := len(enc.IDs)
	if n < 2 || len(enc.TypeIDs) != n {
		t.Fatalf("bad encoding lengths: %d ids, %d type ids", n, len(enc.TypeIDs))
	}
	if enc.IDs[0] != sp.CLS || enc.IDs[n-1] != sp.SEP {
		t.Fatalf("encoding does not start with CLS / end with SEP: %v", enc.IDs)
	}
	for _, id := range enc.IDs {
		if id < 0 || int(id) >= tk.VocabSize() {
			t.Fatalf("id %d out of range [0,%d)", id, tk.VocabSize())
		}
		if _, ok := tk.IDToToken(id); !ok {
			t.Fatalf("id %d has no token", id)
		}
	}
	for _, ty := range enc.TypeIDs {
		if ty != 0 && (!pair || ty != 1) {
			t.Fatalf("type id %d", ty)
		}
	}
}

func fuzzBPEOne(t *testing.T, tk Tokenizer, s string) {
	enc, err := tk.Encode(s)
	if !utf8.ValidString(s) {
		if !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("invalid UTF-8 %q: err = %v", s, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Encode(%q): %v", s, err)
	}
	checkTemplate(t, tk, enc, false)
	for _, ty := range enc.TypeIDs {
		if ty != 0 {
			t.Fatalf("RoBERTa type id %d", ty)
		}
	}
	toks, err := tk.Tokenize(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(enc.IDs)-2 {
		t.Fatalf("Tokenize gives %d tokens, Encode %d ids", len(toks), len(enc.IDs)-2)
	}
	for i, tok := range toks {
		if id, ok := tk.TokenToID(tok); !ok || id != enc.IDs[i+1] {
			t.Fatalf("token %q -> %d,%v; want %d", tok, id, ok, enc.IDs[i+1])
		}
	}
	// Without special tokens in the text, byte-level BPE is lossless.
	if !strings.Contains(s, "<") {
		var b []byte
		for _, tok := range toks {
			for _, r := range tok {
				c, ok := runeToByte[r]
				if !ok {
					t.Fatalf("token %q is not byte-level", tok)
				}
				b = append(b, c)
			}
		}
		if string(b) != s {
			t.Fatalf("decode(%q) = %q", s, b)
		}
	}
	pair, err := tk.EncodePair(s, s)
	if err != nil {
		t.Fatal(err)
	}
	checkTemplate(t, tk, pair, true)
	if len(pair.IDs) != 2*len(enc.IDs) {
		t.Fatalf("pair length %d, single %d", len(pair.IDs), len(enc.IDs))
	}
	var pieces []string
	splitGPT2(s, func(p string) {
		if p == "" {
			t.Fatal("empty piece")
		}
		pieces = append(pieces, p)
	})
	if strings.Join(pieces, "") != s {
		t.Fatalf("pieces %q do not cover %q", pieces, s)
	}
}

func FuzzBPE(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	tiny := tinyBPE(f)
	f.Fuzz(func(t *testing.T, s string) {
		fuzzBPEOne(t, tiny, s)
		realOnce.Do(loadReal)
		if realRoBERTa != nil {
			fuzzBPEOne(t, realRoBERTa, s)
		}
	})
}

func fuzzWordPieceOne(t *testing.T, tk Tokenizer, s string) {
	enc, err := tk.Encode(s)
	if !utf8.ValidString(s) {
		if !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("invalid UTF-8 %q: err = %v", s, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Encode(%q): %v", s, err)
	}
	checkTemplate(t, tk, enc, false)
	pair, err := tk.EncodePair(s, s)
	if err != nil {
		t.Fatal(err)
	}
	checkTemplate(t, tk, pair, true)
	n := len(enc.IDs) - 2
	if len(pair.IDs) != 2*n+3 {
		t.Fatalf("pair length %d, single %d", len(pair.IDs), len(enc.IDs))
	}
	for i, ty := range pair.TypeIDs {
		if want := int32(0); i > n+1 {
			want = 1
			if ty != want {
				t.Fatalf("pair type ids %v", pair.TypeIDs)
			}
		} else if ty != want {
			t.Fatalf("pair type ids %v", pair.TypeIDs)
		}
	}
	toks, err := tk.Tokenize(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != n {
		t.Fatalf("Tokenize gives %d tokens, Encode %d ids", len(toks), n)
	}
	// The uncased pipeline ignores ASCII case (outside special tokens).
	if isASCII(s) && !strings.Contains(s, "[") {
		up, err := tk.Encode(strings.ToUpper(s))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(up.IDs, enc.IDs) {
			t.Fatalf("upper-case %q encodes differently: %v vs %v", s, up.IDs, enc.IDs)
		}
	}
}

func FuzzWordPiece(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	tiny := tinyWordPiece(f, "")
	f.Fuzz(func(t *testing.T, s string) {
		fuzzWordPieceOne(t, tiny, s)
		realOnce.Do(loadReal)
		if realBERTUncased != nil {
			fuzzWordPieceOne(t, realBERTUncased, s)
		}
	})
}
