// Package peft holds the parameter-efficient fine-tuning methods (one file
// each) and the adapter directory format they share.
package peft

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// Adapter file names inside an adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// AdapterConfig is adapter_config.json: the method and its hyperparameters,
// the task and head, and the base model it was trained on.
type AdapterConfig struct {
	Method string `json:"method"`
	AoTConfig
	// HF PEFT's own keys, for methods whose directory is also a PEFT one
	PeftType            string `json:"peft_type,omitempty"`
	TaskType            string `json:"task_type,omitempty"`
	BaseModelNameOrPath string `json:"base_model_name_or_path,omitempty"`
	InferenceMode       *bool  `json:"inference_mode,omitempty"`
	// LoRA, with HF PEFT's keys (lora.go)
	LoraConfig
	// bottleneck adapters (adapter.go); "activation" is shared with AoT FC
	Placement  string `json:"placement,omitempty"` // houlsby | pfeiffer
	Bottleneck int    `json:"bottleneck,omitempty"`
	// P-Tuning v2 (ptv2.go) and prompt tuning (prompt.go)
	PrefixLen    int               `json:"prefix_len,omitempty"`
	PrefixHidden int               `json:"prefix_hidden,omitempty"` // prefix MLP width in training; 0: none
	PromptLen    int               `json:"prompt_len,omitempty"`
	Task         string            `json:"task"`
	ProblemType  string            `json:"problem_type"`
	NumLabels    int               `json:"num_labels"`
	NumChoices   int               `json:"num_choices,omitempty"`
	ID2Label     map[string]string `json:"id2label"`
	// base model
	ModelType       string `json:"model_type"`
	HiddenSize      int    `json:"hidden_size"`
	NumHiddenLayers int    `json:"num_hidden_layers"`
	VocabSize       int    `json:"vocab_size"`

	peftOnly bool // read from a directory written by HF PEFT (no aotp keys)
}

// ReadConfig reads DIR/adapter_config.json.
func ReadConfig(dir string) (*AdapterConfig, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c AdapterConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if c.Method == "" {
		// a directory written by HF PEFT has peft_type but none of aotp's keys
		m, ok := peftTypes[c.PeftType]
		if c.PeftType == "" || !ok {
			return nil, fmt.Errorf("%s: key \"method\" is missing", path)
		}
		c.Method, c.peftOnly = m, true
	}
	return &c, nil
}

// peftTypes maps HF PEFT's peft_type to the aotp method that reads such
// directories (RegisterPeftType).
var peftTypes = map[string]string{}

// RegisterPeftType lets ReadConfig accept directories written by HF PEFT
// (peft_type set, no "method" key) for method.
func RegisterPeftType(peftType, method string) { peftTypes[peftType] = method }

// PeftOnly reports whether the config came from a directory written by HF
// PEFT itself (no aotp keys: task, head and base shape are not recorded).
func (c *AdapterConfig) PeftOnly() bool { return c.peftOnly }

// CheckBase refuses an adapter trained on a different backbone shape.
func (c *AdapterConfig) CheckBase(cfg *model.Config) error {
	for _, kv := range []struct {
		key       string
		got, want any
	}{
		{"model_type", c.ModelType, cfg.ModelType},
		{"hidden_size", c.HiddenSize, cfg.HiddenSize},
		{"num_hidden_layers", c.NumHiddenLayers, cfg.NumHiddenLayers},
		{"vocab_size", c.VocabSize, cfg.VocabSize},
	} {
		if c.peftOnly && (kv.got == "" || kv.got == 0) {
			continue // not recorded by HF PEFT
		}
		if kv.got != kv.want {
			return fmt.Errorf("%s: %q is %v, but the model has %v", ConfigFile, kv.key, kv.got, kv.want)
		}
	}
	return nil
}

// SetBase records the backbone's shape in the config.
func (c *AdapterConfig) SetBase(cfg *model.Config) {
	c.ModelType, c.HiddenSize, c.NumHiddenLayers, c.VocabSize = cfg.ModelType, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.VocabSize
}

// LoadParams fills params from DIR/adapter_model.safetensors; every param
// must be present with its shape (an Optional one may be absent: it keeps
// its value), and every tensor in the file must be a param (the error
// names the tensor).
func LoadParams(dir string, params []*model.Param) error {
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return loadParamsFrom(f, path, params, nil)
}

// loadParamsFrom copies params out of an open file; names for which other
// returns true are tensors someone else reads (fused tables).
func loadParamsFrom(f *safetensors.File, path string, params []*model.Param, other func(string) bool) error {
	want := map[string]bool{}
	for _, p := range params {
		want[p.Name] = true
		data, shape, err := f.Float32(p.Name)
		if err != nil {
			if _, ok := f.Info(p.Name); !ok {
				if p.Optional {
					continue
				}
				return fmt.Errorf("%s: tensor %q is missing", path, p.Name)
			}
			return fmt.Errorf("%s: tensor %q: %w", path, p.Name, err)
		}
		if !slices.Equal(shape, p.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, the model needs %v", path, p.Name, shape, p.Shape)
		}
		copy(p.Data, data)
	}
	var extra []string
	for _, n := range f.Names() {
		if !want[n] && (other == nil || !other(n)) {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("%s: unexpected tensor %q (%d not used by this method)", path, extra[0], len(extra))
	}
	return nil
}

// Save writes the adapter directory atomically file by file (weights first,
// then the config, so a directory with a config always has its weights).
// extra tensors (fused tables) are written beside the params.
func Save(dir string, c *AdapterConfig, params []*model.Param, extra ...safetensors.Tensor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := make([]safetensors.Tensor, len(params), len(params)+len(extra))
	for i, p := range params {
		ts[i] = safetensors.F32Tensor(p.Name, p.Shape, p.Data)
	}
	ts = append(ts, extra...)
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, ConfigFile), append(data, '\n'))
}
