package model

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/aotp/aotp/safetensors"
)

// Load reads a Hugging Face model directory: config.json and
// model.safetensors (or its sharded index). Weights stay memory-mapped; F32
// tensors are used in place, without a copy. Close the Encoder to unmap.
func Load(dir string) (*Encoder, error) { return LoadWith(dir, LoadOptions{}) }

// LoadOptions tunes LoadWith.
type LoadOptions struct {
	// Float32File: a checkpoint that stores its weights in another float
	// dtype (F16, BF16, F64) is converted once into a float32 scratch file,
	// mapped and used as a float32 checkpoint is: no float32 copy on the
	// heap, so loading and packing never hold both, and PackWeights gives
	// the pages back. For long-running processes (serve, train): the write
	// costs about what a conversion on the heap does, and disk space of
	// the float32 size. Where no disk-backed directory takes the file
	// (float32File), the checkpoint loads as Load does.
	Float32File bool
}

// LoadWith is Load with options.
func LoadWith(dir string, opt LoadOptions) (*Encoder, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	var src interface {
		TensorSource
		io.Closer
	} = st
	if opt.Float32File && needsFloat32(st) {
		if t, err := float32File(st, ""); err != nil {
			slog.Info("converting the checkpoint's weights in memory", "dir", dir, "reason", err)
		} else {
			st.Close()
			src = t
		}
	}
	m, err := loadEncoder(cfg, src, dir)
	if err != nil {
		src.Close()
		return nil, err
	}
	m.closer = src
	return m, nil
}

// FromSource builds an Encoder from in-memory tensors (tests, random weights).
func FromSource(cfg *Config, src TensorSource) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return loadEncoder(cfg, src, "in-memory weights")
}
