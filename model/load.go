package model

import (
	"fmt"
	"path/filepath"

	"github.com/aotp/aotp/safetensors"
)

// Load reads a Hugging Face model directory: config.json and
// model.safetensors (or its sharded index). Weights stay memory-mapped; F32
// tensors are used in place, without a copy. Close the Encoder to unmap.
func Load(dir string) (*Encoder, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	m, err := loadEncoder(cfg, st, dir)
	if err != nil {
		st.Close()
		return nil, err
	}
	m.closer = st
	return m, nil
}

// FromSource builds an Encoder from in-memory tensors (tests, random weights).
func FromSource(cfg *Config, src TensorSource) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return loadEncoder(cfg, src, "in-memory weights")
}
