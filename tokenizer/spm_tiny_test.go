package tokenizer

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Hand-built SentencePiece models. Their expected ids were worked out by
// hand and confirmed with the sentencepiece Python module (0.1.97) on the
// same bytes (AOTP_SPM_DUMP=dir writes them out as dir/<name>.model).

type spmPB []byte

func (b spmPB) varint(v uint64) spmPB {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
func (b spmPB) key(num, wt int) spmPB { return b.varint(uint64(num<<3 | wt)) }
func (b spmPB) bytes(num int, s []byte) spmPB {
	return append(b.key(num, 2).varint(uint64(len(s))), s...)
}
func (b spmPB) str(num int, s string) spmPB  { return b.bytes(num, []byte(s)) }
func (b spmPB) uint(num int, v uint64) spmPB { return b.key(num, 0).varint(v) }
func (b spmPB) float(num int, f float32) spmPB {
	return binary.LittleEndian.AppendUint32(b.key(num, 5), math.Float32bits(f))
}
func (b spmPB) boolean(num int, v bool) spmPB {
	if v {
		return b.uint(num, 1)
	}
	return b.uint(num, 0)
}

type spmTinyPiece struct {
	s     string
	score float32
	typ   int
}

type spmTinySpec struct {
	modelType          int
	byteFallback       bool
	addDummy, removeWS bool
	escapeWS           bool
	pieces             []spmTinyPiece
}

// spmTinyModel writes a ModelProto with DeBERTa's four specials first.
func spmTinyModel(s spmTinySpec) []byte {
	var m spmPB
	all := append([]spmTinyPiece{{"[PAD]", 0, spControl}, {"[CLS]", 0, spControl}, {"[SEP]", 0, spControl},
		{"[UNK]", 0, spUnknown}}, s.pieces...)
	if s.byteFallback {
		for b := 0; b < 256; b++ {
			all = append(all, spmTinyPiece{"<0x" + strings.ToUpper(string("0123456789abcdef"[b>>4])+string("0123456789abcdef"[b&15])) + ">", 0, spByte})
		}
	}
	for _, p := range all {
		m = m.bytes(1, spmPB(nil).str(1, p.s).float(2, p.score).uint(3, uint64(p.typ)))
	}
	tr := spmPB(nil).uint(3, uint64(s.modelType)).boolean(35, s.byteFallback).
		uint(40, 3).uint(41, 1).uint(42, 2).uint(43, 0)
	m = m.bytes(2, tr)
	ns := spmPB(nil).str(1, "identity").boolean(3, s.addDummy).boolean(4, s.removeWS).boolean(5, s.escapeWS)
	m = m.bytes(3, ns)
	return m
}

var spmTinyUnigram = spmTinySpec{modelType: spUnigram, addDummy: true, removeWS: true, escapeWS: true, pieces: []spmTinyPiece{
	{"▁", -1, spNormal}, {"a", -2, spNormal}, {"b", -2, spNormal}, {"c", -2.5, spNormal},
	{"ab", -3, spNormal}, {"▁ab", -3.5, spNormal}, {"abc", 0, spUnused}, {"<u>", 0, spUserDefined},
	{"▁x", -8, spNormal}, {"bc", -4.5, spNormal},
}}

var spmTinyBPE = spmTinySpec{modelType: spBPE, addDummy: true, removeWS: true, escapeWS: true, pieces: []spmTinyPiece{
	{"▁", -1, spNormal}, {"a", -2, spNormal}, {"b", -2, spNormal}, {"c", -2, spNormal},
	{"bc", -0.5, spNormal}, {"ab", -1, spNormal}, {"abc", -2, spNormal}, {"▁a", -3, spNormal},
	{"cc", -0.1, spUnused}, {"ccc", -0.2, spNormal}, {"<u>", 0, spUserDefined},
}}

var spmTinyBPEBytes = spmTinySpec{modelType: spBPE, byteFallback: true, addDummy: false, removeWS: false, escapeWS: true,
	pieces: []spmTinyPiece{{"▁", -1, spNormal}, {"a", -2, spNormal}, {"b", -2, spNormal}, {"ab", -1, spNormal}}}

func TestSPMTiny(t *testing.T) {
	type tc struct {
		text string
		want []int32
	}
	// Unigram ids: 4 ▁, 5 a, 6 b, 7 c, 8 ab, 9 ▁ab, 10 abc (unused),
	// 11 <u>, 12 ▁x, 13 bc; 3 [UNK].
	// BPE ids: 4 ▁, 5 a, 6 b, 7 c, 8 bc, 9 ab, 10 abc, 11 ▁a, 12 cc
	// (unused), 13 ccc, 14 <u>.
	// BPE+bytes: 4 ▁, 5 a, 6 b, 7 ab, bytes 8+b.
	sets := []struct {
		name  string
		spec  spmTinySpec
		cases []tc
	}{
		{"unigram", spmTinyUnigram, []tc{
			{"", nil}, {"   ", nil}, {"ab", []int32{9}}, {"  ab  ", []int32{9}}, {"abc", []int32{9, 7}},
			{"ab ab", []int32{9, 9}}, {"a  b", []int32{4, 5, 4, 6}}, {"xyz", []int32{12, 3}},
			{"zz yy", []int32{4, 3, 4, 3}}, {"a<u>b", []int32{4, 5, 11, 6}}, {"<u>", []int32{4, 11}},
			{"bcab", []int32{4, 13, 8}} /* tie -8.5 with ▁ b c ab */, {"é", []int32{4, 3}}, {"\u2581ab", []int32{4, 9}},
		}},
		{"bpe", spmTinyBPE, []tc{
			{"", nil}, {"abc", []int32{4, 10}}, {"ab", []int32{4, 9}}, {"b a", []int32{4, 6, 11}},
			{"cc", []int32{4, 7, 7}}, {"ccc", []int32{4, 13}}, {"cccc", []int32{4, 7, 7, 7, 7}}, /* cc+cc, unused cc split back */
			{"xy z", []int32{4, 3, 4, 3}}, {"a<u>bc", []int32{11, 14, 8}}, {"<u><u>", []int32{4, 14, 14}},
		}},
		{"bpe_bytes", spmTinyBPEBytes, []tc{
			{"", nil}, {"ab", []int32{7}}, {" ab", []int32{4, 7}}, {"ab  ", []int32{7, 4, 4}},
			{"aé", []int32{5, 8 + 0xC3, 8 + 0xA9}}, {"x\x00", []int32{8 + 'x', 8}},
		}},
	}
	dump := os.Getenv("AOTP_SPM_DUMP")
	for _, set := range sets {
		data := spmTinyModel(set.spec)
		if dump != "" {
			if err := os.WriteFile(filepath.Join(dump, set.name+".model"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tk, err := newSentencePiece(data, &config{tokens: map[string]string{}}, spOptions{})
		if err != nil {
			t.Fatalf("%s: %v", set.name, err)
		}
		m := tk.m.(*spModel)
		for _, c := range set.cases {
			if got := m.appendIDs(nil, c.text); !slices.Equal(got, c.want) {
				t.Errorf("%s: %q: got %v, want %v", set.name, c.text, got, c.want)
			}
		}
	}
}

// TestSPMTokenizerAPI: template, specials in text, invalid UTF-8, empty
// input, truncation, Load(dir) with added_tokens.json.
func TestSPMTokenizerAPI(t *testing.T) {
	dir := t.TempDir()
	data := spmModelBytes(t, "unigram_nfkc")
	if err := os.WriteFile(filepath.Join(dir, "spm.model"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "added_tokens.json"), []byte(`{"[MASK]": 1000}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": false, "vocab_type": "spm"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp := tk.Special()
	if sp != (Specials{CLS: 1, SEP: 2, PAD: 0, UNK: 3, MASK: 1000}) {
		t.Fatalf("specials %+v", sp)
	}
	if tk.VocabSize() != 1001 {
		t.Fatalf("vocab size %d", tk.VocabSize())
	}
	if s, ok := tk.IDToToken(1000); !ok || s != "[MASK]" {
		t.Fatalf("IDToToken(1000) = %q %v", s, ok)
	}
	if id, ok := tk.TokenToID("▁the"); !ok || id <= 3 {
		t.Fatalf("TokenToID(▁the) = %d %v", id, ok)
	}
	enc, err := tk.Encode("")
	if err != nil || !slices.Equal(enc.IDs, []int32{1, 2}) || !slices.Equal(enc.TypeIDs, []int32{0, 0}) {
		t.Fatalf("Encode(\"\") = %v %v", enc, err)
	}
	enc, err = tk.EncodePair("", "")
	if err != nil || !slices.Equal(enc.IDs, []int32{1, 2, 2}) || !slices.Equal(enc.TypeIDs, []int32{0, 0, 1}) {
		t.Fatalf("EncodePair(\"\", \"\") = %v %v", enc, err)
	}
	enc, _ = tk.Encode("the [MASK] sat")
	if !slices.Contains(enc.IDs, 1000) {
		t.Fatalf("[MASK] not split out: %v", enc.IDs)
	}
	toks, err := tk.Tokenize("Hello world")
	if err != nil || len(toks) == 0 || !strings.HasPrefix(toks[0], "▁") {
		t.Fatalf("Tokenize = %q %v", toks, err)
	}
	for _, bad := range []string{"\xff", "ok\xc3", "a\xed\xa0\x80b"} {
		if _, err := tk.Encode(bad); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("Encode(%q): err %v", bad, err)
		}
		if _, err := tk.EncodePair("x", bad); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("EncodePair(x, %q): err %v", bad, err)
		}
		if _, err := tk.Tokenize(bad); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("Tokenize(%q): err %v", bad, err)
		}
	}
	// The model itself never sees invalid UTF-8 through the API, but must
	// cope like sentencepiece: each bad byte becomes U+FFFD, not passed
	// through the charsmap (which maps a real U+FFFD to a space). Expected
	// ids: sp.encode(bytes) with the sentencepiece Python module.
	m := tk.(*tok).m.(*spModel)
	for _, c := range []struct {
		in   string
		want []int32
	}{{"a\xffb", []int32{9, 3, 41}}, {"a\uFFFDb", []int32{9, 48}}, {"\xff", []int32{7, 3}},
		{"ok\xc3", []int32{7, 472, 3}}, {"a\xed\xa0\x80b", []int32{9, 3, 41}}, {" \xff ", []int32{7, 3}}} {
		if got := m.appendIDs(nil, c.in); !slices.Equal(got, c.want) {
			t.Errorf("model(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	long := strings.Repeat("hello world ", 100)
	enc, err = EncodeTruncated(tk, long, "short pair", true, 32)
	if err != nil || len(enc.IDs) != 32 || enc.IDs[0] != 1 || enc.IDs[31] != 2 {
		t.Fatalf("EncodeTruncated: %v %v", enc.IDs, err)
	}
	// Lower-casing (do_lower_case=true) leaves special tokens alone.
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	lower, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := lower.Encode("HELLO [MASK] World")
	b, _ := tk.Encode("hello [MASK] world")
	if !slices.Equal(a.IDs, b.IDs) {
		t.Errorf("do_lower_case: %v vs %v", a.IDs, b.IDs)
	}
}

func TestSPMMalformed(t *testing.T) {
	good := spmTinyModel(spmTinyUnigram)
	for i := 0; i < len(good); i++ {
		// Every truncation either parses or errors; none panics.
		_, _ = newSentencePiece(good[:i], &config{tokens: map[string]string{}}, spOptions{})
	}
	for _, bad := range [][]byte{nil, {0xff}, {0x0a, 0x80}, []byte("garbage that is not protobuf")} {
		if _, err := newSentencePiece(bad, &config{tokens: map[string]string{}}, spOptions{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// A charsmap whose trie points outside itself must not panic.
	blob := binary.LittleEndian.AppendUint32(nil, 8)
	blob = binary.LittleEndian.AppendUint32(blob, 0xFFFFFC00)
	blob = binary.LittleEndian.AppendUint32(blob, 0xFFFFFFFF)
	d, err := newDartsMap(blob)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "\xff\xff", "\x00"} {
		d.longest(s)
	}
}
