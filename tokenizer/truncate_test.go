package tokenizer

import "testing"

func TestEncodeTruncatedLongestFirst(t *testing.T) {
	tk := tinyWordPieceForTruncation(t)
	// "a a a a a a" = 6 tokens, "b b" = 2; [CLS] a.. [SEP] b.. [SEP] = 3 specials
	enc, err := EncodeTruncated(tk, "a a a a a a", "b b", true, 8)
	if err != nil {
		t.Fatal(err)
	}
	// budget 5: the longer first sequence loses tokens until 3 + 2
	if len(enc.IDs) != 8 {
		t.Fatalf("len %d: %v", len(enc.IDs), enc.IDs)
	}
	full, _ := tk.EncodePair("a a a", "b b")
	for i := range full.IDs {
		if full.IDs[i] != enc.IDs[i] || full.TypeIDs[i] != enc.TypeIDs[i] {
			t.Fatalf("got %v/%v, want %v/%v", enc.IDs, enc.TypeIDs, full.IDs, full.TypeIDs)
		}
	}
	// ties: the second sequence loses first ("a a a" + "b b b", budget 4 -> 2 + 2)
	enc, _ = EncodeTruncated(tk, "a a a", "b b b", true, 7)
	want, _ := tk.EncodePair("a a", "b b")
	if len(enc.IDs) != len(want.IDs) {
		t.Fatalf("tie: %v want %v", enc.IDs, want.IDs)
	}
	// single sequence, and inputs that already fit are unchanged
	enc, _ = EncodeTruncated(tk, "a a a a", "", false, 4)
	want, _ = tk.Encode("a a")
	if len(enc.IDs) != 4 || enc.IDs[3] != want.IDs[3] {
		t.Fatalf("single: %v want %v", enc.IDs, want.IDs)
	}
	enc, _ = EncodeTruncated(tk, "a", "b", true, 100)
	want, _ = tk.EncodePair("a", "b")
	if len(enc.IDs) != len(want.IDs) {
		t.Fatalf("fits: %v want %v", enc.IDs, want.IDs)
	}
	if _, err := EncodeTruncated(tk, "a", "b", true, 3); err == nil {
		t.Fatal("max length below the specials: want an error")
	}
}

func tinyWordPieceForTruncation(t *testing.T) Tokenizer {
	t.Helper()
	vocab := map[string]int32{"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "a": 5, "b": 6}
	tk, err := newBERT(vocab, &config{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}
