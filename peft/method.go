package peft

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aotp/aotp/model"
)

// Method is one PEFT method's state for a task. Besides Params it
// implements the model hook interfaces it needs (model.LayerHook and
// model.BackwardHook for AoT; model.LinearHook and model.LinearBackwardHook
// for LoRA, BitFit, adapters); the encoder calls them at their points, in
// training and in serving alike.
type Method interface {
	// Params lists the trainable tensors under their adapter-file names.
	Params() []*model.Param
}

// Constructor builds a freshly initialised method for enc from its adapter
// config, filling in the config's defaults.
type Constructor func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error)

var methods = map[string]Constructor{}

// Register adds a method under its adapter_config.json "method" name; each
// method file registers itself in init.
func Register(name string, c Constructor) {
	if _, dup := methods[name]; dup {
		panic("peft: method " + name + " registered twice")
	}
	methods[name] = c
}

// Methods lists the registered method names.
func Methods() []string {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxWidthFactor bounds every inner width (AoT-FC's rank, LoRA's r, a
// bottleneck, the prefix MLP) at this many times the hidden size: wider is
// no longer parameter-efficient, and an adapter_config.json from elsewhere
// must not make New allocate what no weights file backs (Go cannot recover
// from running out of memory).
const maxWidthFactor = 4

// checkWidth refuses a width outside [1, maxWidthFactor·C].
func checkWidth(what string, v, C int) error {
	if v < 1 || v > maxWidthFactor*C {
		return fmt.Errorf("%s must be in [1, %d] (at most %d× the hidden size %d), got %d", what, maxWidthFactor*C, maxWidthFactor, C, v)
	}
	return nil
}

// checkLength refuses a count of virtual tokens outside [1, the model's
// positions]: the prompt or prefix would not fit beside any input.
func checkLength(what string, v int, cfg *model.Config) error {
	if hi := cfg.MaxSequenceLength(); v < 1 || v > hi {
		return fmt.Errorf("%s must be in [1, %d] (the model's positions), got %d", what, hi, v)
	}
	return nil
}

func newMethod(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
	c, ok := methods[cfg.Method]
	if !ok {
		return nil, fmt.Errorf("method %q is not available (have: %s)", cfg.Method, strings.Join(Methods(), ", "))
	}
	return c(enc, cfg, seed)
}

func init() {
	Register("aot", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		a, err := NewAoT(enc, cfg.AoTConfig, seed)
		if err != nil {
			return nil, err
		}
		cfg.AoTConfig = a.Cfg // defaults filled in
		return a, nil
	})
}
