package peft

import (
	"fmt"

	"github.com/aotp/aotp/model"
)

// Adapter is a method's tensors plus the task head, for one task.
type Adapter struct {
	Config *AdapterConfig
	AoT    *AoT
	Head   *model.Head // nil when the adapter has no head
}

// Params lists the trainable tensors: method first, then head.
func (a *Adapter) Params() []*model.Param {
	ps := a.AoT.Params()
	if a.Head != nil {
		ps = append(ps, a.Head.Params()...)
	}
	return ps
}

// New builds a freshly initialised adapter for cfg on enc.
func New(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (*Adapter, error) {
	if cfg.Method != "aot" {
		return nil, fmt.Errorf("method %q is not available yet (only \"aot\")", cfg.Method)
	}
	cfg.SetBase(enc.Config)
	aot, err := NewAoT(enc, cfg.AoTConfig, seed)
	if err != nil {
		return nil, err
	}
	cfg.AoTConfig = aot.Cfg // defaults filled in
	a := &Adapter{Config: cfg, AoT: aot}
	if cfg.ProblemType != "" {
		if a.Head, err = model.NewHead(enc.Config, cfg.ProblemType, cfg.NumLabels, cfg.NumChoices); err != nil {
			return nil, err
		}
		if a.Head.NeedsPooler() && enc.Pooler == nil {
			a.Head.AddPooler()
		}
		initHead(a.Head, seed)
	}
	return a, nil
}

// Load reads an adapter directory for enc, checking that it was trained on
// the same backbone shape.
func Load(enc *model.Encoder, dir string) (*Adapter, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckBase(enc.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	a, err := New(enc, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := LoadParams(dir, a.Params()); err != nil {
		return nil, err
	}
	return a, nil
}

// initHead draws the head's weights like HF's _init_weights: normal with
// std initializer_range (0.02), biases zero.
func initHead(h *model.Head, seed uint64) {
	r := newRand(seed ^ 0x4ead)
	for _, p := range h.Params() {
		if len(p.Shape) == 2 {
			for i := range p.Data {
				p.Data[i] = float32(r.NormFloat64() * 0.02)
			}
		}
	}
}
