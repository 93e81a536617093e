package peft

import "github.com/aotp/aotp/model"

// Full fine-tuning: every backbone weight is trained. The method owns a
// complete copy of the encoder (model.Encoder.CloneTrainable), so a task
// shares nothing with the frozen backbone: it costs the whole model in
// memory and in the adapter file, and it is served with its own forward
// pass rather than in a mixed batch — the baseline every PEFT method is
// measured against. Tensors keep HF's names under the base model's prefix
// ("roberta.encoder.layer.0.attention.self.query.weight", ...).
type Full struct {
	enc    *model.Encoder
	params []*model.Param
}

func init() {
	Register("full", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		c, ps := enc.CloneTrainable(enc.Config.BaseModelPrefix() + ".")
		return &Full{enc: c, params: ps}, nil
	})
}

// Params lists every backbone weight.
func (f *Full) Params() []*model.Param { return f.params }

// Encoder is the task's own, trained encoder: forward and backward passes
// of this task run on it instead of the shared backbone.
func (f *Full) Encoder() *model.Encoder { return f.enc }

// OwnEncoder is model.OwnEncoder (full fine-tuning's own encoder).
type OwnEncoder = model.OwnEncoder
