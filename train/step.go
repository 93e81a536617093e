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

	state            model.TrainState
	dHidden, dPooled []float32
	dlogits          []float32
}

// Params lists method and head tensors, in that order.
func (s *Stepper) Params() []*model.Param {
	return append(append([]*model.Param(nil), s.Method.Params()...), s.Head.Params()...)
}

// LossAndGrad runs forward and backward for lb, adding into the params'
// Grad (zero them first for a fresh step), and returns the mean loss and
// the logits.
func (s *Stepper) LossAndGrad(ctx context.Context, lb *LabeledBatch, opt model.TrainOptions) (float64, []float32, error) {
	b := expand(s.Method, lb.Batch)
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
		loss, err = CrossEntropy(logits, lb.Labels, s.Head.NumLabels, s.dlogits)
	case model.MultipleChoice:
		loss, err = CrossEntropy(logits, lb.Labels, s.Head.NumChoices, s.dlogits)
	case model.Regression:
		if len(lb.Targets) != b.B() {
			return 0, nil, fmt.Errorf("regression batch has %d targets for %d sequences", len(lb.Targets), b.B())
		}
		loss = MSE(logits, lb.Targets, s.dlogits)
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
