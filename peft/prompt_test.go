package peft

import (
	"context"
	"testing"

	"github.com/aotp/aotp/model"
)

// Prompt tuning's gradients (through the encoder, its embedding LayerNorm
// and dropout) agree with finite differences.
func TestFDPromptEncoder(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			m, err := NewPrompt(enc, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			b := aotBatch(enc.Config.VocabSize).Prepend(m.VirtualTokens())
			loss, backward := encoderLoss(t, enc, b, m, 9, 10, 1)
			loss()
			backward()
			const h = 0.1 // smooth in the prompt; see TestFDPTv2Encoder
			checkFD(t, "prompt.embeddings", m.Embeddings.Data, append([]float32(nil), m.Embeddings.Grad...), loss, nil, h, fdTol)
			// negative control: the gradient of the soft tokens in reverse order
			P, bad := m.P, make([]float32, len(m.Embeddings.Grad))
			for k := 0; k < P; k++ {
				copy(bad[k*m.C:(k+1)*m.C], m.Embeddings.Grad[(P-1-k)*m.C:(P-k)*m.C])
			}
			mustFailFD(t, "soft tokens' gradients reversed", m.Embeddings.Data, bad, loss, nil, h, fdTol)
		})
	}
}

// One mixed batch with a prompt-tuning task, a P-Tuning v2 task, an AoT
// task and a plain sequence gives each what running it alone gives, and a
// saved prompt adapter reloads to the same logits.
func TestPromptServedWithOthers(t *testing.T) {
	enc, aot := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	mk := func(c *AdapterConfig) *Adapter {
		c.Task, c.ProblemType, c.NumLabels = "custom", model.SingleLabel, 2
		a, err := New(enc, c, 3)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	pr := mk(&AdapterConfig{Method: "prompt", PromptLen: 5})
	pt := mk(&AdapterConfig{Method: "ptv2", PrefixLen: 2})
	dir := t.TempDir()
	if err := Save(dir, pr.Config, pr.Params()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(enc.Config.VocabSize)
	adapters := []*Adapter{pr, pt, aot, back}
	var seqs []TaskSeq
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		seqs = append(seqs, TaskSeq{Adapter: adapters[s], IDs: b.IDs[lo:hi]})
	}
	seqs = append(seqs, TaskSeq{IDs: seqs[0].IDs}) // plain backbone
	p := &MixedPredictor{Enc: enc}
	got, _, err := p.Predict(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	checkMixedEqualsAlone(t, enc, seqs, got)
}
