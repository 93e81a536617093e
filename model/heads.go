package model

import (
	"fmt"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/vec"
)

// Problem types, as HF's `problem_type`.
const (
	SingleLabel    = "single_label_classification"
	Regression     = "regression"
	MultipleChoice = "multiple_choice"
)

// Head is a task head with HF's names and semantics for the backbone's
// *ForSequenceClassification / *ForMultipleChoice. It is trained with the
// method's tensors; the backbone (pooler included) stays frozen.
type Head struct {
	Kind       string // "roberta-cls" (dense+tanh+out_proj on <s>), "pooled" (classifier on the pooler output)
	Problem    string
	NumLabels  int    // logits per example (1 for regression)
	NumChoices int    // multiple choice: sequences per example
	Dense      *Param // [C, C] classifier.dense.weight (roberta-cls)
	DenseBias  *Param // [C]
	Out        *Param // [K, C] classifier.out_proj.weight or classifier.weight
	OutBias    *Param // [K]
	C          int

	// forward cache
	x, h   []float32 // [B, C] head input (after dropout), hidden after tanh (roberta-cls)
	drop1  dropSite
	drop2  dropSite
	pooled bool
}

// NewHead builds the head of a model type for a problem. numLabels is the
// number of classes (ignored for regression: 1, and multiple choice: 1 per sequence).
func NewHead(cfg *Config, problem string, numLabels, numChoices int) (*Head, error) {
	C := cfg.HiddenSize
	h := &Head{Problem: problem, C: C, NumChoices: numChoices}
	K := numLabels
	switch problem {
	case SingleLabel:
		if numLabels < 2 {
			return nil, fmt.Errorf("classification needs at least 2 labels, got %d", numLabels)
		}
	case Regression:
		K = 1
	case MultipleChoice:
		if numChoices < 2 {
			return nil, fmt.Errorf("multiple choice needs at least 2 choices, got %d", numChoices)
		}
		K = 1
	default:
		return nil, fmt.Errorf("problem_type %q is not supported (%s, %s, %s)", problem, SingleLabel, Regression, MultipleChoice)
	}
	h.NumLabels = K
	if cfg.ModelType == "roberta" && problem != MultipleChoice {
		// RobertaClassificationHead: out_proj(dropout(tanh(dense(dropout(h[<s>])))))
		h.Kind = "roberta-cls"
		h.Dense, h.DenseBias = NewParam("classifier.dense.weight", C, C), NewParam("classifier.dense.bias", C)
		h.Out, h.OutBias = NewParam("classifier.out_proj.weight", K, C), NewParam("classifier.out_proj.bias", K)
	} else {
		// BertForSequenceClassification, *ForMultipleChoice: classifier(dropout(pooler_output))
		h.Kind = "pooled"
		h.Out, h.OutBias = NewParam("classifier.weight", K, C), NewParam("classifier.bias", K)
	}
	return h, nil
}

// Params lists the head's trainable tensors.
func (h *Head) Params() []*Param {
	if h.Dense != nil {
		return []*Param{h.Dense, h.DenseBias, h.Out, h.OutBias}
	}
	return []*Param{h.Out, h.OutBias}
}

// NeedsPooler reports whether the head reads pooler_output.
func (h *Head) NeedsPooler() bool { return h.Kind == "pooled" }

// Forward returns logits [B, NumLabels] (multiple choice: [B/NumChoices,
// NumChoices]) for the sequences of b. opt is nil at inference (no dropout).
func (h *Head) Forward(out Output, b *Batch, opt *TrainOptions) ([]float32, error) {
	var drop *dropout
	if opt != nil {
		drop = newDropout(opt.Dropout, opt.Seed, opt.Step).layer(-2)
	}
	B, C, K := b.B(), h.C, h.NumLabels
	h.x = grow(h.x, B*C)
	if h.NeedsPooler() {
		if out.PoolerOutput == nil {
			return nil, fmt.Errorf("the head needs the pooler, but the checkpoint has no pooler weights")
		}
		copy(h.x, out.PoolerOutput[:B*C])
	} else {
		for s := 0; s < B; s++ {
			lo, _ := b.Seq(s)
			copy(h.x[s*C:(s+1)*C], out.LastHiddenState[lo*C:(lo+1)*C])
		}
	}
	h.drop1, h.drop2 = drop.site(siteHead), drop.site(siteHead+1)
	h.drop1.apply(h.x)
	in := h.x
	if h.Kind == "roberta-cls" {
		h.h = grow(h.h, B*C)
		gemm.Linear(h.h, h.x, h.Dense.Data, h.DenseBias.Data, B, C, C, vec.Tanh)
		in = append(h.h[:0:0], h.h...) // keep tanh output for backward; dropout on a copy
		h.drop2.apply(in)
	}
	logits := make([]float32, B*K)
	gemm.Linear(logits, in, h.Out.Data, h.OutBias.Data, B, C, K, nil)
	return logits, nil
}

// Backward accumulates the head's gradients from dlogits (same layout as
// Forward's result) and writes the gradient w.r.t. its input: into dHidden
// [N,C] at each sequence's first token (added), or into dPooled [B,C]
// (overwritten) for pooled heads.
func (h *Head) Backward(dlogits []float32, b *Batch, dHidden, dPooled []float32) {
	B, C, K := b.B(), h.C, h.NumLabels
	in := h.x
	var dh []float32
	if h.Kind == "roberta-cls" {
		in = append(h.h[:0:0], h.h[:B*C]...)
		h.drop2.apply(in)
	}
	// out = in·Woutᵀ + b: dWout += dlogitsᵀ·in, db += Σ dlogits, din = dlogits·Wout
	gemm.Sgemm(true, false, K, C, B, 1, dlogits, K, in, C, 1, h.Out.Grad, C)
	for s := 0; s < B; s++ {
		vec.AddInPlace(h.OutBias.Grad, dlogits[s*K:(s+1)*K])
	}
	din := make([]float32, B*C)
	gemm.Sgemm(false, false, B, C, K, 1, dlogits, K, h.Out.Data, C, 0, din, C)
	if h.Kind == "roberta-cls" {
		h.drop2.apply(din)
		// t = tanh(z): dz = din ⊙ (1 - t²)
		for i := range din {
			t := h.h[i]
			din[i] *= 1 - t*t
		}
		gemm.Sgemm(true, false, C, C, B, 1, din, C, h.x, C, 1, h.Dense.Grad, C)
		for s := 0; s < B; s++ {
			vec.AddInPlace(h.DenseBias.Grad, din[s*C:(s+1)*C])
		}
		dh = make([]float32, B*C)
		gemm.Sgemm(false, false, B, C, C, 1, din, C, h.Dense.Data, C, 0, dh, C)
		din = dh
	}
	h.drop1.apply(din)
	if h.NeedsPooler() {
		copy(dPooled[:B*C], din)
		return
	}
	for s := 0; s < B; s++ {
		lo, _ := b.Seq(s)
		vec.AddInPlace(dHidden[lo*C:(lo+1)*C], din[s*C:(s+1)*C])
	}
}
