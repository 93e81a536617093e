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
			N, B, C := b.N(), b.B(), enc.Config.HiddenSize
			r := rand.New(rand.NewPCG(7, 8))
			w, wp := randn(r, N*C, 1), randn(r, B*C, 1)
			st := &model.TrainState{}
			opt := model.TrainOptions{Dropout: 0.1, Seed: 3, Step: 1}
			loss := func() float64 {
				out, err := enc.ForwardTrain(context.Background(), b, st, m, opt)
				if err != nil {
					t.Fatal(err)
				}
				return dot64(w, out.LastHiddenState) + dot64(wp, out.PoolerOutput)
			}
			loss()
			if err := enc.Backward(context.Background(), st, append([]float32(nil), w...), append([]float32(nil), wp...), m); err != nil {
				t.Fatal(err)
			}
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
	for s, sq := range seqs {
		if sq.Adapter == nil {
			continue
		}
		one := model.NewBatch([][]int32{sq.IDs}, nil)
		out, err := enc.Forward(context.Background(), one, &model.Workspace{}, sq.Adapter.Method)
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
