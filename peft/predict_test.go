package peft

import (
	"context"
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
	for s, sq := range seqs {
		if sq.Adapter == nil {
			if got[s] != nil {
				t.Fatalf("sequence %d has no adapter but got logits", s)
			}
			continue
		}
		one := model.NewBatch([][]int32{sq.IDs}, nil)
		out, err := enc.Forward(context.Background(), one, &model.Workspace{}, sq.Adapter.AoT)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sq.Adapter.Head.Forward(out, one, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k := range want {
			if got[s][k] != want[k] {
				t.Fatalf("sequence %d logit %d: mixed %v, alone %v", s, k, got[s][k], want[k])
			}
		}
	}
}
