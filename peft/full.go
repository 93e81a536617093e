package peft

import (
	"slices"

	"github.com/aotp/aotp/model"
)

// Full fine-tuning: every backbone weight is trained. The method owns a
// complete copy of the encoder (model.Encoder.CloneTrainable), so a task
// shares nothing with the frozen backbone: it costs the whole model in
// memory and in the adapter file, and it is served with its own forward
// pass rather than in a mixed batch — the baseline every PEFT method is
// measured against. Tensors keep HF's names under the base model's prefix
// ("roberta.encoder.layer.0.attention.self.query.weight", ...). DeBERTa v1
// trains its attention's query, key and value apart and stores them as the
// checkpoint does, in_proj.weight with q_bias and v_bias (Exporter,
// Importer), so the file's tensors are an HF checkpoint's.
type Full struct {
	enc    *model.Encoder
	params []*model.Param
	prefix string
	file   []*model.Param // Import: the file's tensors until Imported
}

func init() {
	Register("full", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		c, ps := enc.CloneTrainable(enc.Config.BaseModelPrefix() + ".")
		return &Full{enc: c, params: ps, prefix: enc.Config.BaseModelPrefix() + "."}, nil
	})
}

// Params lists every backbone weight.
func (f *Full) Params() []*model.Param { return f.params }

// Encoder is the task's own, trained encoder: forward and backward passes
// of this task run on it instead of the shared backbone.
func (f *Full) Encoder() *model.Encoder { return f.enc }

// OwnEncoder is model.OwnEncoder (full fine-tuning's own encoder).
type OwnEncoder = model.OwnEncoder

// Export gives the file's tensors: DeBERTa v1's attention joined as in its
// checkpoints (Exporter).
func (f *Full) Export(cfg *AdapterConfig) (*AdapterConfig, []*model.Param) {
	return cfg, f.fileParams()
}

func (f *Full) fileParams() []*model.Param {
	joined := f.enc.DebertaV1Attention(f.prefix)
	if joined == nil {
		return f.params
	}
	var ps []*model.Param
	for _, p := range f.params {
		if !model.IsDebertaV1Split(p.Name) {
			ps = append(ps, p)
		}
	}
	return append(ps, joined...)
}

// Import lists the tensors Load reads (Importer).
func (f *Full) Import() []*model.Param {
	f.file = f.fileParams()
	return f.file
}

// Imported splits DeBERTa v1's joined attention into the trained weights.
func (f *Full) Imported() error {
	defer func() { f.file = nil }()
	var joined []*model.Param
	for _, p := range f.file {
		if !slices.Contains(f.params, p) {
			joined = append(joined, p)
		}
	}
	if len(joined) == 0 {
		return nil
	}
	return f.enc.SetDebertaV1Attention(joined)
}
