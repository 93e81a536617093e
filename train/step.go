package train

import (
	"context"
	"fmt"

	"github.com/aotp/aotp/model"
)

// Method is what a PEFT method gives the training loop: its trainable
// tensors; the value itself is passed to the encoder as its hooks (it
// implements the model hook interfaces it needs).
type Method interface {
	Params() []*model.Param
}

// LabeledBatch is a packed batch with its labels: class ids (classification,
// multiple choice: one per example) or targets (regression).
type LabeledBatch struct {
	Batch   *model.Batch
	Labels  []int
	Targets []float32
}

// Stepper computes loss and gradients of one batch; it owns the buffers
// that are reused across steps.
type Stepper struct {
	Enc    *model.Encoder
	Method Method
	Head   *model.Head
	// FullLastLayer computes the last layer at every token; by default it
	// runs at each sequence's first token only, all the head reads
	// (model.TrainOptions.FirstTokensOnly): the same loss, bit for bit.
	FullLastLayer bool
	// MicroBatch, when > 0, runs a batch of more examples in pieces of at
	// most that many (gradient accumulation): activation memory is a
	// piece's, the gradients and loss are the whole batch's. Dropout masks
	// are drawn where each row sits in the whole batch and each piece's
	// loss is divided by the whole batch's size, so the step is the one
	// pass's up to float32 rounding (its sums run in another order).
	MicroBatch int

	state            model.TrainState
	dHidden, dPooled []float32
	dlogits          []float32
	logits           []float32 // the whole batch's, when run in pieces
}

// Params lists method and head tensors, in that order.
func (s *Stepper) Params() []*model.Param {
	return append(append([]*model.Param(nil), s.Method.Params()...), s.Head.Params()...)
}

// LossAndGrad runs forward and backward for lb, adding into the params'
// Grad (zero them first for a fresh step), and returns the mean loss and
// the logits (owned by the Stepper: valid until the next call).
func (s *Stepper) LossAndGrad(ctx context.Context, lb *LabeledBatch, opt model.TrainOptions) (float64, []float32, error) {
	b := expand(s.Method, lb.Batch)
	per := 1 // sequences per example
	if s.Head.Problem == model.MultipleChoice {
		per = s.Head.NumChoices
	}
	if b.B()%per != 0 {
		return 0, nil, fmt.Errorf("multiple-choice batch of %d sequences is not whole examples of %d choices", b.B(), per)
	}
	E := b.B() / per
	if s.MicroBatch <= 0 || E <= s.MicroBatch {
		return s.pass(ctx, b, lb, 0, E, E, opt)
	}
	s.logits = s.logits[:0]
	var loss float64
	for e0 := 0; e0 < E; e0 += s.MicroBatch {
		e1 := min(e0+s.MicroBatch, E)
		sub := b.Slice(e0*per, e1*per)
		o := opt
		o.RowBase, o.SeqBase = opt.RowBase+b.Offsets[e0*per], opt.SeqBase+e0*per
		l, logits, err := s.pass(ctx, sub, lb, e0, e1, E, o)
		if err != nil {
			return 0, nil, err
		}
		loss += l
		s.logits = append(s.logits, logits...)
	}
	return loss, s.logits, nil
}

// pass runs forward and backward for the examples e0:e1 of lb, whose
// (expanded) sequences are b, its loss divided by n, the whole step's
// examples: it returns that share of the mean loss and b's logits.
func (s *Stepper) pass(ctx context.Context, b *model.Batch, lb *LabeledBatch, e0, e1, n int, opt model.TrainOptions) (float64, []float32, error) {
	enc := encoderFor(s.Enc, s.Method)
	opt.FirstTokensOnly = !s.FullLastLayer
	out, err := enc.ForwardTrain(ctx, b, &s.state, s.Method, opt)
	if err != nil {
		return 0, nil, err
	}
	logits, err := s.Head.Forward(out, b, &opt)
	if err != nil {
		return 0, nil, err
	}
	s.dlogits = growF(s.dlogits, len(logits))
	var loss float64
	switch s.Head.Problem {
	case model.SingleLabel:
		loss, err = crossEntropy(logits, lb.Labels[e0:e1], s.Head.NumLabels, s.dlogits, n)
	case model.MultipleChoice:
		loss, err = crossEntropy(logits, lb.Labels[e0:e1], s.Head.NumChoices, s.dlogits, n)
	case model.Regression:
		if len(lb.Targets) != n {
			return 0, nil, fmt.Errorf("regression batch has %d targets for %d sequences", len(lb.Targets), n)
		}
		loss = mse(logits, lb.Targets[e0:e1], s.dlogits, n)
	}
	if err != nil {
		return 0, nil, err
	}
	C := s.Enc.Config.HiddenSize
	s.dHidden = growF(s.dHidden, b.N()*C)
	clear(s.dHidden)
	var dPooled []float32
	if s.Head.NeedsPooler() {
		s.dPooled = growF(s.dPooled, b.B()*C)
		dPooled = s.dPooled
	}
	s.Head.Backward(s.dlogits, b, s.dHidden, dPooled)
	if err := enc.Backward(ctx, &s.state, s.dHidden, dPooled, s.Method); err != nil {
		return 0, nil, err
	}
	return loss, logits, nil
}

// encoderFor is the encoder a method runs on: its own copy for full
// fine-tuning (model.OwnEncoder), the shared backbone otherwise.
func encoderFor(enc *model.Encoder, m any) *model.Encoder {
	if o, ok := m.(model.OwnEncoder); ok {
		return o.Encoder()
	}
	return enc
}

// expand prepends the method's virtual tokens, if it has any.
func expand(m any, b *model.Batch) *model.Batch {
	if vt, ok := m.(model.VirtualTokenizer); ok {
		return b.Prepend(vt.VirtualTokens())
	}
	return b
}

func growF(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}
