package tokenizer

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"unicode/utf8"
)

var (
	spmFuzzOnce sync.Once
	spmFuzzToks []*tok
)

// FuzzSentencePiece: for unigram and BPE models (nmt_nfkc with user-defined
// symbols, identity with byte fallback, identity without whitespace
// clean-up) nothing panics, ids are valid vocabulary ids, the DeBERTa
// template holds, byte-fallback models never emit [UNK], other models never
// emit two [UNK] in a row, and the raw model copes with invalid UTF-8.
func FuzzSentencePiece(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	spmFuzzOnce.Do(func() {
		for _, name := range []string{"unigram_nfkc", "bpe_nfkc", "unigram_bytes", "bpe_bytes_raw", "unigram_raw"} {
			spmFuzzToks = append(spmFuzzToks, spmTok(f, name))
		}
	})
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range spmFuzzToks {
			fuzzSPMOne(t, tk, s)
		}
	})
}

func fuzzSPMOne(t *testing.T, tk *tok, s string) {
	m := tk.m.(*spModel)
	raw := m.appendIDs(nil, s) // any bytes: bad UTF-8 becomes U+FFFD
	checkSPMIDs(t, m, raw, s)
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
	n := len(enc.IDs) - 2
	pair, err := tk.EncodePair(s, s)
	if err != nil {
		t.Fatal(err)
	}
	checkTemplate(t, tk, pair, true)
	if len(pair.IDs) != 2*n+3 || !slices.Equal(pair.IDs[1:n+1], enc.IDs[1:n+1]) {
		t.Fatalf("pair %v vs single %v", pair.IDs, enc.IDs)
	}
	for i, ty := range pair.TypeIDs {
		if want := int32(min(1, max(0, i-n-1))); ty != want {
			t.Fatalf("pair type ids %v", pair.TypeIDs)
		}
	}
	toks, err := tk.Tokenize(s)
	if err != nil || len(toks) != n {
		t.Fatalf("Tokenize: %d tokens for %d ids (%v)", len(toks), n, err)
	}
}

func checkSPMIDs(t *testing.T, m *spModel, ids []int32, s string) {
	t.Helper()
	for i, id := range ids {
		if id < 0 || int(id) >= len(m.pieces) {
			t.Fatalf("%q: id %d out of range", s, id)
		}
		if typ := m.pieces[id].typ; typ == spControl || typ == spUnused {
			t.Fatalf("%q: id %d has piece type %d", s, id, typ)
		}
		if id == m.unkID && (m.byteFallback || (i > 0 && ids[i-1] == m.unkID)) {
			t.Fatalf("%q: unexpected unk at %d in %v", s, i, ids)
		}
	}
}

// BenchmarkEncodeSPM: GLUE text (benchTexts) through the DeBERTa-style
// tokenizer of each test model.
func BenchmarkEncodeSPM(b *testing.B) {
	for _, name := range []string{"unigram_nfkc", "bpe_nfkc", "unigram_bytes"} {
		b.Run(name, func(b *testing.B) { benchEncode(b, spmTok(b, name)) })
	}
}

func BenchmarkEncodeSPMParallel(b *testing.B) {
	benchParallel(b, spmTok(b, "unigram_nfkc"))
}

func BenchmarkLoadSPM(b *testing.B) {
	data := spmModelBytes(b, "unigram_nfkc")
	for i := 0; i < b.N; i++ {
		if _, err := newSentencePiece(data, &config{tokens: map[string]string{}}, spOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
