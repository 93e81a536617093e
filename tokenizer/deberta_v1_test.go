package tokenizer

import "testing"

// DeBERTa v1's vocabulary is GPT-2 byte-level BPE with BERT-style special
// tokens: [CLS] A [SEP] and [CLS] A [SEP] B [SEP], token types 0 then 1
// (HF's DebertaTokenizer).
func TestDebertaV1Template(t *testing.T) {
	base, merges := tinyBPEVocab()
	vocab := map[string]int32{"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3}
	for k, v := range base {
		switch k {
		case "<s>", "<pad>", "</s>", "<unk>", "<mask>":
			continue
		}
		vocab[k] = v + 100
	}
	vocab["[MASK]"] = 500
	tk, err := newRoBERTa(vocab, merges, &config{tokens: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	sp := tk.Special()
	if sp.CLS != 1 || sp.SEP != 2 || sp.PAD != 0 || sp.UNK != 3 || sp.MASK != 500 {
		t.Fatalf("specials %+v", sp)
	}
	one, err := tk.Encode("hello")
	if err != nil {
		t.Fatal(err)
	}
	if one.IDs[0] != 1 || one.IDs[len(one.IDs)-1] != 2 {
		t.Fatalf("single: %v", one.IDs)
	}
	pair, err := tk.EncodePair("hello", "hello")
	if err != nil {
		t.Fatal(err)
	}
	n := len(one.IDs)
	if len(pair.IDs) != 2*n-1 || pair.IDs[n-1] != 2 || pair.IDs[len(pair.IDs)-1] != 2 {
		t.Fatalf("pair: %v", pair.IDs)
	}
	for i, ty := range pair.TypeIDs {
		if want := int32(0); i >= n {
			want = 1
			if ty != want {
				t.Fatalf("pair type ids %v", pair.TypeIDs)
			}
		} else if ty != want {
			t.Fatalf("pair type ids %v", pair.TypeIDs)
		}
	}
}
