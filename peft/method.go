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
