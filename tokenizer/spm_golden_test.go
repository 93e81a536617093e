package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The SentencePiece models in testdata/spm were trained by
// tools/reference/spm_ref.py with sentencepiece's own trainer on GLUE text
// plus generated Unicode edge cases; the golden files hold the ids of the
// sentencepiece Python module (0.1.97) for 574 texts per model.
var spmModels = []string{"unigram_nfkc", "unigram_bytes", "bpe_nfkc", "bpe_bytes_raw", "unigram_raw"}

// spmTopFields splits a ModelProto into its top-level fields (raw bytes).
func spmTopFields(t testing.TB, b []byte) (fields [][]byte, nums []int) {
	t.Helper()
	r := pbReader{b: b}
	for {
		start := len(b) - len(r.b)
		num, _, _, _, ok := r.next()
		if !ok {
			break
		}
		fields = append(fields, b[start:len(b)-len(r.b)])
		nums = append(nums, num)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return fields, nums
}

// spmModelBytes reads testdata/spm/<name>.model[.gz], adding back a shared
// normalizer_spec (see spm_ref.py's SHARE_NORMALIZER).
func spmModelBytes(t testing.TB, name string) []byte {
	t.Helper()
	base := filepath.Join("testdata", "spm", name)
	data, err := os.ReadFile(base + ".model")
	if os.IsNotExist(err) {
		f, err := os.Open(base + ".model.gz")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	if src, err := os.ReadFile(base + ".normalizer_from"); err == nil {
		var out []byte
		fields, nums := spmTopFields(t, data)
		for i, f := range fields {
			if nums[i] != 3 {
				out = append(out, f...)
			}
		}
		fields, nums = spmTopFields(t, spmModelBytes(t, strings.TrimSpace(string(src))))
		for i, f := range fields {
			if nums[i] == 3 {
				out = append(out, f...)
			}
		}
		data = out
	}
	return data
}

// spmTok builds the DeBERTa-style tokenizer of a test model, with [MASK]
// added after the pieces as deberta-v3-base's added_tokens.json does.
func spmTok(t testing.TB, name string) *tok {
	t.Helper()
	data := spmModelBytes(t, name)
	p, err := parseSPModel(data)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := newSentencePiece(data, &config{tokens: map[string]string{}},
		spOptions{added: map[string]int32{"[MASK]": int32(len(p.pieces))}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tk
}

type spmGolden struct {
	Text         string  `json:"text"`
	TextPair     *string `json:"text_pair"`
	IDs          []int32 `json:"ids"`
	InputIDs     []int32 `json:"input_ids"`
	TokenTypeIDs []int32 `json:"token_type_ids"`
}

func readSPMGolden(t testing.TB, name string) []spmGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden_spm_"+name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []spmGolden
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c spmGolden
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.IDs == nil { // sp.encode(text) equals A's ids in input_ids
			n := 0
			for _, ty := range c.TokenTypeIDs {
				if ty == 0 {
					n++
				}
			}
			c.IDs = c.InputIDs[1 : n-1]
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no golden cases", name)
	}
	return out
}

// TestSPMGolden: every golden case of every model, at the sentencepiece
// level (sp.encode) and at the HF DebertaV2Tokenizer level (template,
// special tokens in text, type ids).
func TestSPMGolden(t *testing.T) {
	for _, name := range spmModels {
		t.Run(name, func(t *testing.T) {
			tk := spmTok(t, name)
			m := tk.m.(*spModel)
			cases := readSPMGolden(t, name)
			bad := 0
			for i, c := range cases {
				got := m.appendIDs(nil, c.Text)
				if !slices.Equal(got, c.IDs) {
					bad++
					if bad <= 5 {
						t.Errorf("case %d sp.encode(%q):\n got  %v\n want %v", i, c.Text, got, c.IDs)
					}
				}
				var enc Encoding
				var err error
				if c.TextPair != nil {
					enc, err = tk.EncodePair(c.Text, *c.TextPair)
				} else {
					enc, err = tk.Encode(c.Text)
				}
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				if !slices.Equal(enc.IDs, c.InputIDs) || !slices.Equal(enc.TypeIDs, c.TokenTypeIDs) {
					bad++
					if bad <= 5 {
						t.Errorf("case %d Encode(%q, %v):\n got  %v %v\n want %v %v", i, c.Text, c.TextPair,
							enc.IDs, enc.TypeIDs, c.InputIDs, c.TokenTypeIDs)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d mismatches over %d cases", name, bad, len(cases))
			} else {
				t.Logf("%s: %d/%d cases equal (sp.encode and DeBERTa template)", name, len(cases), len(cases))
			}
		})
	}
}

// TestSPMExternalGolden compares against a large uncommitted set written by
// `spm_ref.py --extra DIR` (all GLUE sentences the script reads + random
// fragment strings); skipped unless AOTP_SPM_GOLDEN_DIR=DIR.
func TestSPMExternalGolden(t *testing.T) {
	dir := os.Getenv("AOTP_SPM_GOLDEN_DIR")
	if dir == "" {
		t.Skip("AOTP_SPM_GOLDEN_DIR not set")
	}
	for _, name := range spmModels {
		t.Run(name, func(t *testing.T) {
			m := spmTok(t, name).m.(*spModel)
			f, err := os.Open(filepath.Join(dir, name+".jsonl"))
			if err != nil {
				t.Skip(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<22)
			n, bad := 0, 0
			for sc.Scan() {
				var c spmGolden
				if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
					t.Fatal(err)
				}
				n++
				if got := m.appendIDs(nil, c.Text); !slices.Equal(got, c.IDs) {
					bad++
					if bad <= 5 {
						t.Errorf("sp.encode(%q):\n got  %v\n want %v", c.Text, got, c.IDs)
					}
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d/%d equal", name, n-bad, n)
			if bad > 0 {
				t.Errorf("%d mismatches", bad)
			}
		})
	}
}
