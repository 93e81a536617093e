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
	Kind       string // "roberta-cls" (dense+tanh+out_proj on <s>), "pooled" (classifier on the pooler output), "deberta" (ContextPooler + classifier)
	Problem    string
	NumLabels  int    // logits per example (1 for regression)
	NumChoices int    // multiple choice: sequences per example
	Dense      *Param // [C, C] classifier.dense.weight (roberta-cls)
	DenseBias  *Param // [C]
	Out        *Param // [K, C] classifier.out_proj.weight or classifier.weight
	OutBias    *Param // [K]
	C          int

	PoolerW *Param // [C, C] pooler.dense.weight: own pooler (AddPooler), else nil
	PoolerB *Param // [C]

	// DeBERTa's ContextPooler activation (pooler_hidden_act) and its
	// backward; nil: tanh (BERT's pooler)
	poolAct  func([]float32)
	poolBack func(dinp, inp, dout []float32)
	z        []float32 // [B, C] DeBERTa pooler pre-activation

	// forward cache and scratch, [B, C] unless noted
	first  []float32 // hidden state of each sequence's first token
	x      []float32 // head input before dropout (pooled or first token)
	in     []float32 // x after dropout
	h, hd  []float32 // roberta-cls: tanh output, and after dropout
	logits []float32 // [B, K]
	d1, d2 []float32 // backward scratch
	drop1  dropSite
	drop2  dropSite
}

// Bounds on a head's size, so that a config from elsewhere cannot make
// NewHead allocate without limit: far beyond any GLUE-like task.
const (
	MaxLabels  = 1 << 16
	MaxChoices = 1 << 10
)

// NewHead builds the head of a model type for a problem. numLabels is the
// number of classes (ignored for regression: 1, and multiple choice: 1 per sequence).
func NewHead(cfg *Config, problem string, numLabels, numChoices int) (*Head, error) {
	C := cfg.HiddenSize
	h := &Head{Problem: problem, C: C, NumChoices: numChoices}
	K := numLabels
	switch problem {
	case SingleLabel:
		if numLabels < 2 || numLabels > MaxLabels {
			return nil, fmt.Errorf("classification needs 2 to %d labels, got %d", MaxLabels, numLabels)
		}
	case Regression:
		K = 1
	case MultipleChoice:
		if numChoices < 2 || numChoices > MaxChoices {
			return nil, fmt.Errorf("multiple choice needs 2 to %d choices, got %d", MaxChoices, numChoices)
		}
		K = 1
	default:
		return nil, fmt.Errorf("problem_type %q is not supported (%s, %s, %s)", problem, SingleLabel, Regression, MultipleChoice)
	}
	h.NumLabels = K
	if cfg.IsDeberta() {
		// DebertaForSequenceClassification / ForMultipleChoice:
		// classifier(dropout(ContextPooler(h[CLS]))), ContextPooler =
		// pooler_hidden_act(pooler.dense(h[CLS])), part of the head (base
		// checkpoints have none; transformers draws it at random).
		h.Kind = "deberta"
		h.Out, h.OutBias = NewParam("classifier.weight", K, C), NewParam("classifier.bias", K)
		h.AddPooler()
		act, err := activationByName(cfg.PoolerHiddenAct)
		if err != nil {
			return nil, fmt.Errorf("pooler_hidden_act: %w", err)
		}
		h.poolAct, h.poolBack = act, activationBackwards[cfg.PoolerHiddenAct]
		return h, nil
	}
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

// AddPooler gives a pooled head its own pooler (`pooler.dense.*`, dense +
// tanh on the first token), trained with the head. HF's
// RobertaForMultipleChoice reads the pooler, but RoBERTa checkpoints saved
// from RobertaForMaskedLM have none and transformers then starts it at
// random; aotp makes that pooler part of the adapter, so it is saved and
// reloaded with the task instead of being drawn anew each time.
func (h *Head) AddPooler() {
	C := h.C
	h.PoolerW, h.PoolerB = NewParam("pooler.dense.weight", C, C), NewParam("pooler.dense.bias", C)
}

// Params lists the head's trainable tensors.
func (h *Head) Params() []*Param {
	var ps []*Param
	if h.PoolerW != nil {
		ps = append(ps, h.PoolerW, h.PoolerB)
	}
	if h.Dense != nil {
		ps = append(ps, h.Dense, h.DenseBias)
	}
	return append(ps, h.Out, h.OutBias)
}

// NeedsPooler reports whether the head reads the encoder's pooler_output
// (false when it has its own pooler).
func (h *Head) NeedsPooler() bool { return h.Kind == "pooled" && h.PoolerW == nil }

// Forward returns logits [B, NumLabels] (multiple choice: [B/NumChoices,
// NumChoices]) for the sequences of b. opt is nil at inference (no dropout).
// The result lives in the head and is overwritten by the next call.
func (h *Head) Forward(out Output, b *Batch, opt *TrainOptions) ([]float32, error) {
	var drop *dropout
	if opt != nil {
		drop = newDropout(opt.Dropout, opt).layer(-2)
	}
	B, C, K := b.B(), h.C, h.NumLabels
	h.x = grow(h.x, B*C)
	switch {
	case h.NeedsPooler():
		if out.PoolerOutput == nil {
			return nil, fmt.Errorf("the head needs the pooler, but the checkpoint has no pooler weights")
		}
		copy(h.x, out.PoolerOutput[:B*C])
	default:
		h.first = grow(h.first, B*C)
		for s := 0; s < B; s++ {
			lo, _ := b.Seq(s)
			copy(h.first[s*C:(s+1)*C], out.LastHiddenState[lo*C:(lo+1)*C])
		}
		if h.PoolerW != nil && h.poolAct != nil {
			h.z = grow(h.z, B*C)
			gemm.Linear(h.z, h.first, h.PoolerW.Data, h.PoolerB.Data, B, C, C, nil)
			copy(h.x, h.z)
			h.poolAct(h.x)
		} else if h.PoolerW != nil {
			gemm.Linear(h.x, h.first, h.PoolerW.Data, h.PoolerB.Data, B, C, C, vec.Tanh)
		} else {
			copy(h.x, h.first)
		}
	}
	h.drop1, h.drop2 = drop.site(siteHead), drop.site(siteHead+1)
	h.in = grow(h.in, B*C)
	copy(h.in, h.x)
	h.drop1.applySeqs(h.in, C)
	in := h.in
	if h.Kind == "roberta-cls" {
		// keep the tanh output t for backward; dropout applies to a copy
		h.h, h.hd = grow(h.h, B*C), grow(h.hd, B*C)
		gemm.Linear(h.h, h.in, h.Dense.Data, h.DenseBias.Data, B, C, C, vec.Tanh)
		copy(h.hd, h.h)
		h.drop2.applySeqs(h.hd, C)
		in = h.hd
	}
	h.logits = grow(h.logits, B*K)
	gemm.Linear(h.logits, in, h.Out.Data, h.OutBias.Data, B, C, K, nil)
	return h.logits, nil
}

// Backward accumulates the head's gradients from dlogits (same layout as
// Forward's result) and writes the gradient w.r.t. its input: into dHidden
// [N,C] at each sequence's first token (added), or into dPooled [B,C]
// (overwritten) when it reads the encoder's pooler.
func (h *Head) Backward(dlogits []float32, b *Batch, dHidden, dPooled []float32) {
	B, C, K := b.B(), h.C, h.NumLabels
	in := h.in
	if h.Kind == "roberta-cls" {
		in = h.hd
	}
	h.d1, h.d2 = grow(h.d1, B*C), grow(h.d2, B*C)
	// logits = in·Woutᵀ + b
	din := h.d1
	linearBackward(h.Out, h.OutBias, din, dlogits, in, B, C, K)
	if h.Kind == "roberta-cls" {
		// hd = dropout(t), t = tanh(z), z = in'·Wdᵀ + bd
		h.drop2.applySeqs(din, C)
		tanhBackward(din, h.h)
		linearBackward(h.Dense, h.DenseBias, h.d2, din, h.in, B, C, C)
		din = h.d2
	}
	h.drop1.applySeqs(din, C)
	if h.NeedsPooler() {
		copy(dPooled[:B*C], din)
		return
	}
	if h.PoolerW != nil {
		// x = tanh(first·Wpᵀ + bp)
		// (only pooled heads have their own pooler, so din is d1 here)
		if h.poolBack != nil {
			h.poolBack(din, h.z, din)
		} else {
			tanhBackward(din, h.x)
		}
		linearBackward(h.PoolerW, h.PoolerB, h.d2, din, h.first, B, C, C)
		din = h.d2
	}
	for s := 0; s < B; s++ {
		lo, _ := b.Seq(s)
		vec.AddInPlace(dHidden[lo*C:(lo+1)*C], din[s*C:(s+1)*C])
	}
}

// tanhBackward turns dt into dz in place, for t = tanh(z).
func tanhBackward(d, t []float32) { vec.TanhBackward(d, t[:len(d)], d) }

// linearBackward accumulates the gradients of y[M,Out] = x[M,In]·Wᵀ + b:
// dW += dyᵀ·x, db += Σ dy, and writes dx = dy·W.
func linearBackward(w, b *Param, dx, dy, x []float32, M, In, Out int) {
	gemm.Sgemm(true, false, Out, In, M, 1, dy, Out, x, In, 1, w.Grad, In)
	vec.BiasBackward(b.Grad, dy[:M*Out], M, Out)
	gemm.Sgemm(false, false, M, In, Out, 1, dy, Out, w.Data, In, 0, dx, In)
}
