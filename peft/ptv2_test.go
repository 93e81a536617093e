package peft

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/aotp/aotp/model"
)

// P-Tuning v2's prefix gradients through the whole encoder (dropout on)
// agree with finite differences.
func TestFDPTv2Encoder(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			m, err := NewPTv2(enc, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params() {
				for i := range p.Data {
					p.Data[i] *= 0.5
				}
			}
			b := aotBatch(enc.Config.VocabSize)
			loss, backward := encoderLoss(t, enc, b, m, 7, 8, 1)
			loss()
			backward()
			// The loss is smooth in the prefixes (no ReLU on their path), so
			// the larger step wins: roundoff dominates below it (errors
			// ≤ 5e-4 at 0.1, up to 1.7e-3 at 0.025).
			const h = 0.1
			for _, p := range m.Params() {
				checkFD(t, p.Name, p.Data, append([]float32(nil), p.Grad...), loss, nil, h, fdTol)
			}
			mustFailFD(t, "layer 0 key with layer 1's gradient", m.Key[0].Data, m.Key[1].Grad, loss, nil, h, fdTol)
		})
	}
}

// A mixed batch of a P-Tuning v2 task, an AoT task and a plain sequence
// gives each sequence what running it alone gives; a saved and reloaded
// ptv2 adapter gives the same logits.
func TestPTv2ServedAndSaved(t *testing.T) {
	enc, aot := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	cfg := &AdapterConfig{Method: "ptv2", PrefixLen: 4, Task: "custom", ProblemType: model.SingleLabel, NumLabels: 3}
	pt, err := New(enc, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(dir, pt.Config, pt.Params()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(enc.Config.VocabSize)
	adapters := []*Adapter{pt, aot, nil, back}
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
	// the reloaded copy (sequence 3) equals the original on the same input
	lo, hi := b.Seq(3)
	one := model.NewBatch([][]int32{b.IDs[lo:hi]}, nil)
	out, _ := enc.Forward(context.Background(), one, &model.Workspace{}, pt.Method)
	want, _ := pt.Head.Forward(out, one, nil)
	for k := range want {
		if got[3][k] != want[k] {
			t.Fatalf("reloaded ptv2 logit %d: %v, original %v", k, got[3][k], want[k])
		}
	}
}

// With the prefix MLP, the gradients of its tensors agree with finite
// differences, and the saved adapter (projected prefixes, no MLP) gives the
// same logits.
func TestPTv2PrefixMLP(t *testing.T) {
	enc, _ := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	cfg := &AdapterConfig{Method: "ptv2", PrefixLen: 3, PrefixHidden: 8, Task: "custom", ProblemType: model.SingleLabel, NumLabels: 2}
	ad, err := New(enc, cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	m := ad.Method.(*PTv2)
	if len(m.Params()) != 5 {
		t.Fatalf("%d params, want the MLP's 5", len(m.Params()))
	}
	b := aotBatch(enc.Config.VocabSize)
	N, B, C := b.N(), b.B(), enc.Config.HiddenSize
	r := rand.New(rand.NewPCG(13, 14))
	w, wp := randn(r, N*C, 1), randn(r, B*C, 1)
	st := &model.TrainState{}
	opt := model.TrainOptions{}
	loss := func() float64 {
		out, err := enc.ForwardTrain(context.Background(), b, st, m, opt)
		if err != nil {
			t.Fatal(err)
		}
		return dot64(w, out.LastHiddenState) + dot64(wp, out.PoolerOutput)
	}
	loss()
	for _, p := range m.Params() {
		p.ZeroGrad()
	}
	if err := enc.Backward(context.Background(), st, append([]float32(nil), w...), append([]float32(nil), wp...), m); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		// Best steps measured: 0.1 for the MLP's weights (truncation grows
		// above it: 1.5e-3 at 0.2 for mlp.0.weight), 0.2 for the embedding
		// (roundoff dominates below: 1.6e-3 at 0.1, 3.7e-4 at 0.2).
		h := 0.1
		if p.Name == "ptv2.embedding" {
			h = 0.2
		}
		checkFD(t, p.Name, p.Data, append([]float32(nil), p.Grad...), loss, nil, h, fdTol)
	}
	dir := t.TempDir()
	if err := ad.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config.PrefixHidden != 0 || len(back.Method.Params()) != 2*enc.Config.NumHiddenLayers {
		t.Fatalf("saved adapter: prefix_hidden %d, %d tensors", back.Config.PrefixHidden, len(back.Method.Params()))
	}
	one := testBatch(enc.Config.VocabSize)
	o1, _ := enc.Forward(context.Background(), one, &model.Workspace{}, ad.Method)
	l1, _ := ad.Head.Forward(o1, one, nil)
	l1 = append([]float32(nil), l1...)
	o2, _ := enc.Forward(context.Background(), one, &model.Workspace{}, back.Method)
	l2, _ := back.Head.Forward(o2, one, nil)
	for k := range l1 {
		if l1[k] != l2[k] {
			t.Fatalf("logit %d: %v with the MLP, %v saved", k, l1[k], l2[k])
		}
	}
}
