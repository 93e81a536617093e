package model

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/aotp/aotp/safetensors"
)

// NewRandomMapped is NewRandom loaded the way a real checkpoint is: the
// random weights are written once to a safetensors file in a new temporary
// directory under tmp ("" for os.TempDir(), or the user cache directory
// where that is RAM-backed) and memory-mapped back, so that PackWeights can
// give the mapped pages back (Encoder.PackWeights) and the resident memory
// of a benchmark on a named shape is that of a real checkpoint of that
// shape, not the heap copy plus the packed one. The directory is removed
// once the file is mapped (on Linux; elsewhere at Close). On a RAM-backed
// file system (tmpfs) the file itself would take the memory the mapping
// gives back, hiding it from RSS: there, and when the file cannot be
// written, it returns ErrNoMappedRandom.
func NewRandomMapped(cfg *Config, seed uint64, tmp string) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir, path, err := scratchFile(tmp, "aotp-random-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMappedRandom, err)
	}
	t, err := mapScratch(dir, path, randomTensors(cfg, seed))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMappedRandom, err)
	}
	debug.FreeOSMemory() // the heap copy is garbage now
	m, err := loadEncoder(cfg, t, path)
	if err != nil {
		t.Close()
		return nil, err
	}
	m.closer = t
	return m, nil
}

// ErrNoMappedRandom: NewRandomMapped could not use a file; NewRandom can
// still build the model (on the heap).
var ErrNoMappedRandom = fmt.Errorf("random weights not file-backed")

// randomTensors is RandomSource(cfg, seed) under the checkpoint's names;
// the tensors alias RandomSource's heap copy (F32View): writing them adds
// no second one.
func randomTensors(cfg *Config, seed uint64) []safetensors.Tensor {
	src := RandomSource(cfg, seed)
	prefix := cfg.BaseModelPrefix() + "."
	ts := make([]safetensors.Tensor, 0, len(src))
	for _, n := range src.Names() {
		t := src[n]
		ts = append(ts, safetensors.F32View(prefix+n, t.Shape, t.Data))
	}
	return ts
}

// tempModel is a mapped scratch checkpoint that removes its directory.
type tempModel struct {
	*safetensors.Model // ReleaseView for PackWeights
	dir                string
}

func (t *tempModel) removeDir() {
	if t.dir != "" {
		os.RemoveAll(t.dir)
		t.dir = ""
	}
}

func (t *tempModel) Close() error {
	err := t.Model.Close()
	t.removeDir()
	return err
}
