package peft

import (
	"context"
	"testing"

	"github.com/aotp/aotp/model"
)

// Full fine-tuning: a changed copy of the backbone serves its task apart
// while the other tasks share the frozen backbone in one pass; save → load
// gives the same logits; the frozen backbone is untouched.
func TestFullServedAndSaved(t *testing.T) {
	enc, aot := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	full, err := New(enc, &AdapterConfig{Method: "full", Task: "custom", ProblemType: model.SingleLabel, NumLabels: 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	// perturb the copy, as training would
	for _, p := range full.Method.Params() {
		for i := range p.Data {
			p.Data[i] *= 1.01
		}
	}
	if enc.Layers[0].Output.Dense.Weight[0] == full.Method.(*Full).Encoder().Layers[0].Output.Dense.Weight[0] {
		t.Fatal("the full copy shares weights with the backbone")
	}
	dir := t.TempDir()
	if err := Save(dir, full.Config, full.Params()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(enc.Config.VocabSize)
	adapters := []*Adapter{full, aot, nil, back}
	var seqs []TaskSeq
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		seqs = append(seqs, TaskSeq{Adapter: adapters[s], IDs: b.IDs[lo:hi]})
	}
	got, _, err := (&MixedPredictor{Enc: enc}).Predict(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	checkMixedEqualsAlone(t, enc, seqs, got)
	// the reloaded copy (sequence 3) gives the original's logits on its input
	lo, hi := b.Seq(3)
	one := model.NewBatch([][]int32{b.IDs[lo:hi]}, nil)
	out, _ := full.Method.(*Full).Encoder().Forward(context.Background(), one, &model.Workspace{}, nil)
	want, _ := full.Head.Forward(out, one, nil)
	for k := range want {
		if got[3][k] != want[k] {
			t.Fatalf("reloaded full adapter logit %d: %v, original %v", k, got[3][k], want[k])
		}
	}
}
