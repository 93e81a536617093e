package peft

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
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

// DeBERTa v1 keeps its attention's query, key and value in one in_proj
// [3C, C] with q_bias and v_bias: a full adapter stores them so (unchanged
// weights give the checkpoint's own tensors back, bit for bit), and loading
// it gives the same logits.
func TestFullDebertaV1CheckpointNames(t *testing.T) {
	enc := loadModel(t, "deberta-v1-tiny")
	a, err := New(enc, &AdapterConfig{Method: "full", Task: "custom", ProblemType: model.SingleLabel, NumLabels: 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	saved, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Close()
	ckpt, err := safetensors.Open(filepath.Join(golden.Dir(t), "models", "deberta-v1-tiny", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ckpt.Close()
	for _, n := range saved.Names() {
		if model.IsDebertaV1Split(n) {
			t.Errorf("saved split tensor %s", n)
		}
	}
	for _, n := range []string{"encoder.layer.1.attention.self.in_proj.weight", "encoder.layer.1.attention.self.q_bias", "encoder.layer.0.attention.self.v_bias"} {
		got, _, err := saved.Float32("deberta." + n)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := ckpt.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		if !identical(got, want) {
			t.Errorf("%s differs from the checkpoint's", n)
		}
	}
	for _, p := range a.Method.Params() {
		for i := range p.Data {
			p.Data[i] *= 1.01
		}
	}
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(enc.Config.VocabSize)
	logits := func(a *Adapter) []float32 { return logitsOf(t, a.Method.(*Full).Encoder(), a, b) }
	if want, got := logits(a), logits(back); !identical(got, want) {
		t.Fatalf("reloaded v1 full adapter: logits %v, want %v", got, want)
	}
}
