package model

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/aotp/aotp/safetensors"
)

// NewRandomMapped is NewRandom loaded the way a real checkpoint is: the
// random weights are written once to a safetensors file in a new temporary
// directory under tmp ("" for os.TempDir()) and memory-mapped back, so that
// PackWeights can give the mapped pages back (Encoder.PackWeights) and the
// resident memory of a benchmark on a named shape is that of a real
// checkpoint of that shape, not the heap copy plus the packed one. The
// directory is removed once the file is mapped (on Linux; elsewhere at
// Close). On a RAM-backed file system (tmpfs) the file itself would take
// the memory the mapping gives back, hiding it from RSS: there, and when
// the file cannot be written, it returns ErrNoMappedRandom.
func NewRandomMapped(cfg *Config, seed uint64, tmp string) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if tmp == "" {
		tmp = os.TempDir()
	}
	if onTmpfs(tmp) {
		return nil, fmt.Errorf("%w: %s is RAM-backed (tmpfs)", ErrNoMappedRandom, tmp)
	}
	dir, err := os.MkdirTemp(tmp, "aotp-random-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMappedRandom, err)
	}
	path := filepath.Join(dir, safetensors.SingleFileName)
	if err := writeRandom(path, cfg, seed); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %v", ErrNoMappedRandom, err)
	}
	debug.FreeOSMemory() // the heap copy is garbage now: give it back before mapping
	st, err := safetensors.OpenModel(path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m, err := loadEncoder(cfg, st, path)
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	t := &tempModel{Model: st, dir: dir}
	if removeWhileMapped {
		t.removeDir()
	}
	m.closer = t
	return m, nil
}

// ErrNoMappedRandom: NewRandomMapped could not use a file; NewRandom can
// still build the model (on the heap).
var ErrNoMappedRandom = fmt.Errorf("random weights not file-backed")

// writeRandom writes RandomSource(cfg, seed) under the checkpoint's names
// (no fsync: a scratch file). The tensors alias RandomSource's heap copy
// (F32View): the write adds no second one.
func writeRandom(path string, cfg *Config, seed uint64) error {
	src := RandomSource(cfg, seed)
	prefix := cfg.BaseModelPrefix() + "."
	ts := make([]safetensors.Tensor, 0, len(src))
	for _, n := range src.Names() {
		t := src[n]
		ts = append(ts, safetensors.F32View(prefix+n, t.Shape, t.Data))
	}
	return writeScratch(path, ts)
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
