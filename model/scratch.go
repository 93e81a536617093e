package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"unsafe"

	"github.com/aotp/aotp/safetensors"
)

// SpillWeights moves the float32 originals of packed Linear weights that
// live on the heap — converted from an F16/BF16 checkpoint, DeBERTa v1's
// split in_proj, weights built in memory — into a scratch file that is
// mapped back read-only, so that they cost page cache the kernel may
// reclaim instead of process memory: after PackWeights, an encoder then
// holds one copy of its Linear weights, the packed one (4 bytes a weight,
// or 2 after PackWeightsHalf), whatever its checkpoint's dtype, as it does
// for a float32 checkpoint (whose views packing gives back). The word
// embeddings move too: a pass reads only its tokens' rows. The slices keep
// their values: readers (the backward pass, LoRA's Merge) fault the pages
// back in from the file. Weights that are trained (WGrad) or not packed
// stay where they are.
//
// The file goes to dir ("" for os.TempDir(), or the user cache directory
// when that is RAM-backed) and is unlinked while mapped (Linux; elsewhere
// at Close). On a RAM-backed file system the move would save nothing, so
// SpillWeights returns ErrNoSpill and changes nothing; the encoder works
// either way. It returns the bytes moved.
func (m *Encoder) SpillWeights(dir string) (int64, error) {
	rel, _ := m.closer.(releaser)
	var ws []*[]float32
	var total int64
	add := func(w *[]float32) {
		if len(*w) > 0 && !(rel != nil && rel.Releasable(*w)) {
			ws = append(ws, w)
			total += 4 * int64(len(*w))
		}
	}
	for _, l := range m.packable() {
		if l.packed != nil && l.WGrad == nil {
			add(&l.Weight)
		}
	}
	if m.Embeddings.WordGrad == nil {
		add(&m.Embeddings.WordEmbeddings) // a pass reads the rows of its tokens only
	}
	if len(ws) == 0 {
		return 0, nil
	}
	tmp, path, err := scratchFile(dir, "aotp-spill-")
	if err != nil {
		return 0, err
	}
	ts := make([]safetensors.Tensor, len(ws))
	for i, w := range ws {
		ts[i] = safetensors.F32View(strconv.Itoa(i), []int{len(*w)}, *w)
	}
	t, err := mapScratch(tmp, path, ts)
	if err != nil {
		return 0, err
	}
	views := make([][]float32, len(ws))
	for i := range ws {
		v, _, err := t.Float32(strconv.Itoa(i))
		if err != nil || !t.Releasable(v) {
			t.Close()
			return 0, fmt.Errorf("%w: %s: tensor %d is not a mapped view (%v)", ErrNoSpill, path, i, err)
		}
		views[i] = v
	}
	for i, w := range ws {
		*w = views[i]
	}
	m.closer = closers{m.closer, t}
	debug.FreeOSMemory() // the heap originals are garbage now
	return total, nil
}

// ErrNoSpill: no disk-backed scratch file could be written (SpillWeights,
// LoadOptions.Float32File); the encoder is unchanged, or loads on the heap.
var ErrNoSpill = errors.New("weights not spilled to a file")

// spillDir is where scratch weight files go: dir, os.TempDir() or the user
// cache directory, the first that is not RAM-backed.
func spillDir(dir string) (string, error) {
	if dir != "" {
		if onTmpfs(dir) {
			return "", fmt.Errorf("%w: %s is RAM-backed (tmpfs)", ErrNoSpill, dir)
		}
		return dir, nil
	}
	if d := os.TempDir(); !onTmpfs(d) {
		return d, nil
	}
	if c, err := os.UserCacheDir(); err == nil {
		d := filepath.Join(c, "aotp")
		if os.MkdirAll(d, 0o755) == nil && !onTmpfs(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: the temporary and cache directories are RAM-backed (tmpfs)", ErrNoSpill)
}

// needsFloat32 reports whether st stores a float tensor in a dtype other
// than F32.
func needsFloat32(st *safetensors.Model) bool {
	for _, n := range st.Names() {
		if info, ok := st.Info(n); ok && info.Dtype != safetensors.F32 && info.Dtype.IsFloat() {
			return true
		}
	}
	return false
}

// float32File writes st with every float tensor as F32 to a scratch file in
// dir (spillDir), converting chunk by chunk (no float32 copy of a whole
// tensor, and each source tensor's mapped pages given back once read), and
// maps it. The names, shapes and other tensors are st's.
func float32File(st *safetensors.Model, dir string) (*tempModel, error) {
	var ts []safetensors.Tensor
	for _, name := range st.Names() {
		raw, info, err := st.Raw(name)
		if err != nil {
			return nil, err
		}
		if info.Dtype == safetensors.F32 || !info.Dtype.IsFloat() {
			ts = append(ts, safetensors.Tensor{Name: name, Dtype: info.Dtype, Shape: info.Shape, Data: raw})
			continue
		}
		n := len(raw) / info.Dtype.Size()
		ts = append(ts, safetensors.Tensor{Name: name, Dtype: safetensors.F32, Shape: info.Shape,
			Fill: func(dst []byte, off int64) error {
				v := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)/4)
				if err := st.Float32Into(name, v, int(off/4)); err != nil {
					return err
				}
				if int(off/4)+len(v) == n {
					_, _ = st.Release(name) // read: its pages can go
				}
				return nil
			}})
	}
	tmp, path, err := scratchFile(dir, "aotp-f32-")
	if err != nil {
		return nil, err
	}
	return mapScratch(tmp, path, ts)
}

// scratchFile makes a new directory for a scratch weight file under dir
// (spillDir's choice) and names the file in it.
func scratchFile(dir, prefix string) (tmp, path string, err error) {
	if dir, err = spillDir(dir); err != nil {
		return "", "", err
	}
	if tmp, err = os.MkdirTemp(dir, prefix); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoSpill, err)
	}
	return tmp, filepath.Join(tmp, safetensors.SingleFileName), nil
}

// mapScratch writes ts to path, in scratchFile's directory tmp, and maps
// it. The directory goes on failure, and at once where a mapped file may be
// unlinked (else at Close).
func mapScratch(tmp, path string, ts []safetensors.Tensor) (*tempModel, error) {
	err := writeScratch(path, ts)
	var st *safetensors.Model
	if err == nil {
		st, err = safetensors.OpenModel(path)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%w: %v", ErrNoSpill, err)
	}
	t := &tempModel{Model: st, dir: tmp}
	if removeWhileMapped {
		t.removeDir()
	}
	return t, nil
}

// writeScratch writes ts as a safetensors file, without fsync: a scratch
// file, worthless after a crash.
func writeScratch(path string, ts []safetensors.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = safetensors.Encode(w, ts, map[string]string{"format": "pt"})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// releaser is what packing asks of the encoder's weight files.
type releaser interface {
	Releasable(v []float32) bool
	ReleaseView(v []float32) (int64, error)
}

// closers is the weight files of an encoder whose weights came from more
// than one (a checkpoint and SpillWeights' file).
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func (cs closers) Releasable(v []float32) bool {
	for _, c := range cs {
		if r, ok := c.(releaser); ok && r.Releasable(v) {
			return true
		}
	}
	return false
}

func (cs closers) ReleaseView(v []float32) (int64, error) {
	for _, c := range cs {
		if r, ok := c.(releaser); ok {
			if n, err := r.ReleaseView(v); n != 0 || err != nil {
				return n, err
			}
		}
	}
	return 0, nil
}
