package peft

import (
	"context"
	"slices"
	"testing"

	"github.com/aotp/aotp/model"
)

// A mixed batch of two tasks (and a backbone-only sequence) gives each
// sequence exactly the logits of running it alone with its own adapter.
func TestMixedPredictorEqualsAlone(t *testing.T) {
	enc, a1 := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	_, a2 := loadInitAdapter(t, "roberta-tiny", "roberta-kron-cls")
	if err := a2.Fuse("f16"); err != nil {
		t.Fatal(err)
	}
	b := testBatch(enc.Config.VocabSize)
	adapters := []*Adapter{a1, a2, nil, a1}
	var seqs []TaskSeq
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		seqs = append(seqs, TaskSeq{Adapter: adapters[s], IDs: b.IDs[lo:hi]})
	}
	p := &MixedPredictor{Enc: enc}
	got, _, err := p.Predict(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	checkMixedEqualsAlone(t, enc, seqs, got)
}

// aloneLogits runs one sequence by itself with its adapter (soft tokens
// prepended, on its own encoder for full fine-tuning) and returns the
// head's logits.
func aloneLogits(t *testing.T, enc *model.Encoder, ad *Adapter, ids []int32) []float32 {
	t.Helper()
	if o, ok := ad.Method.(OwnEncoder); ok {
		enc = o.Encoder()
	}
	ex, _ := Expand(ad.Method, [][]int32{ids}, nil)
	one := model.NewBatch(ex, nil)
	out, err := enc.Forward(context.Background(), one, &model.Workspace{}, ad.Method)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ad.Head.Forward(out, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), want...)
}

// checkMixedEqualsAlone asserts that each sequence's logits from one mixed
// batch are bit-identical to running it alone (and absent without an adapter).
func checkMixedEqualsAlone(t *testing.T, enc *model.Encoder, seqs []TaskSeq, got [][]float32) {
	t.Helper()
	for s, sq := range seqs {
		if sq.Adapter == nil {
			if got[s] != nil {
				t.Fatalf("sequence %d has no adapter but got logits", s)
			}
			continue
		}
		if want := aloneLogits(t, enc, sq.Adapter, sq.IDs); !slices.Equal(got[s], want) {
			t.Fatalf("sequence %d (%s): mixed %v, alone %v", s, sq.Adapter.Config.Method, got[s], want)
		}
	}
}
