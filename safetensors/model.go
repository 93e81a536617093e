package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names used by Hugging Face checkpoints.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// maxIndexSize bounds the index JSON we are willing to read.
const maxIndexSize = 256 << 20

// Model is one checkpoint, stored in one file or sharded over several, seen
// as one tensor set. Its methods are safe for concurrent use.
type Model struct {
	dir      string
	index    string  // index path, "" for a single file
	files    []*File // in shard-name order
	where    map[string]*File
	names    []string
	metadata map[string]string
}

// OpenModel opens a checkpoint. path may be
//   - a directory holding model.safetensors (preferred, as transformers
//     does) or model.safetensors.index.json and its shards;
//   - a .safetensors file;
//   - an index .json file.
func OpenModel(path string) (*Model, error) { return OpenModelWith(path, OpenOptions{}) }

// OpenModelWith is OpenModel with options applied to every file.
func OpenModelWith(path string, opt OpenOptions) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(path, ".json") {
			return openIndex(path, opt)
		}
		return openSingle(path, opt)
	}
	single := filepath.Join(path, SingleFileName)
	if fileExists(single) {
		return openSingle(single, opt)
	}
	index := filepath.Join(path, IndexFileName)
	if fileExists(index) {
		return openIndex(index, opt)
	}
	return nil, fmt.Errorf("safetensors: %s: no %s and no %s in the directory", path, SingleFileName, IndexFileName)
}

// HasModel reports whether dir holds safetensors weights, single or sharded
// (what OpenModel opens).
func HasModel(dir string) bool {
	return fileExists(filepath.Join(dir, SingleFileName)) || fileExists(filepath.Join(dir, IndexFileName))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func openSingle(path string, opt OpenOptions) (*Model, error) {
	f, err := OpenWith(path, opt)
	if err != nil {
		return nil, err
	}
	m := &Model{dir: filepath.Dir(path), files: []*File{f}, where: map[string]*File{}, metadata: f.hdr.metadata}
	for _, n := range f.hdr.names {
		m.where[n] = f
	}
	m.names = f.Names()
	return m, nil
}

type indexJSON struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

func openIndex(index string, opt OpenOptions) (_ *Model, err error) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if len(raw) > maxIndexSize {
		return nil, fmt.Errorf("safetensors: %s: index of %d bytes is too large", index, len(raw))
	}
	var ix indexJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("safetensors: %s: invalid index JSON: %v", index, err)
	}
	if ix.WeightMap == nil {
		return nil, fmt.Errorf("safetensors: %s: index has no \"weight_map\" object", index)
	}
	dir := filepath.Dir(index)
	m := &Model{dir: dir, index: index, where: map[string]*File{}}
	if len(ix.Metadata) > 0 {
		m.metadata = map[string]string{}
		for k, v := range ix.Metadata {
			switch v := v.(type) {
			case string:
				m.metadata[k] = v
			default:
				b, _ := json.Marshal(v)
				m.metadata[k] = string(b)
			}
		}
	}
	defer func() {
		if err != nil {
			m.Close() // the shards opened so far
		}
	}()
	// Open each shard once, in name order.
	shardNames := map[string]bool{}
	for tensor, shard := range ix.WeightMap {
		if shard == "" || !filepath.IsLocal(shard) {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q is not a file name inside %s", index, tensor, shard, dir)
		}
		shardNames[shard] = true
	}
	sorted := make([]string, 0, len(shardNames))
	for s := range shardNames {
		sorted = append(sorted, s)
	}
	sort.Strings(sorted)
	byShard := map[string]*File{}
	for _, s := range sorted {
		p := filepath.Join(dir, filepath.FromSlash(s))
		f, err := OpenWith(p, opt)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("safetensors: %s: weight_map names shard %q, which is missing (%s)", index, s, p)
			}
			return nil, fmt.Errorf("safetensors: %s: shard %q: %w", index, s, err)
		}
		m.files = append(m.files, f)
		byShard[s] = f
	}
	// Every shard tensor must be mapped to that shard; a tensor in two
	// shards is a duplicate.
	for _, s := range sorted {
		f := byShard[s]
		for _, n := range f.hdr.names {
			want, ok := ix.WeightMap[n]
			switch {
			case !ok:
				return nil, fmt.Errorf("safetensors: %s: tensor %q in shard %q is not in weight_map", index, n, s)
			case want != s:
				return nil, fmt.Errorf("safetensors: %s: tensor %q is in shards %q and %q (weight_map says %q)", index, n, s, want, want)
			}
			m.where[n] = f
		}
	}
	for tensor, s := range ix.WeightMap {
		if _, ok := m.where[tensor]; !ok {
			return nil, fmt.Errorf("safetensors: %s: weight_map puts tensor %q in shard %q, which does not have it", index, tensor, s)
		}
	}
	m.names = make([]string, 0, len(m.where))
	for n := range m.where {
		m.names = append(m.names, n)
	}
	sort.Strings(m.names)
	return m, nil
}

// Dir is the directory holding the checkpoint.
func (m *Model) Dir() string { return m.dir }

// IndexPath is the index file, or "" for a single-file checkpoint.
func (m *Model) IndexPath() string { return m.index }

// Files lists the paths of the open files.
func (m *Model) Files() []string {
	out := make([]string, len(m.files))
	for i, f := range m.files {
		out[i] = f.path
	}
	return out
}

// Names lists all tensor names, sorted.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// Len is the number of tensors.
func (m *Model) Len() int { return len(m.names) }

// Metadata is the single file's __metadata__, or for a sharded checkpoint
// the index's "metadata" object (non-string values as JSON text, e.g.
// total_size).
func (m *Model) Metadata() map[string]string {
	if m.metadata == nil {
		return nil
	}
	out := make(map[string]string, len(m.metadata))
	for k, v := range m.metadata {
		out[k] = v
	}
	return out
}

// Info describes the named tensor.
func (m *Model) Info(name string) (TensorInfo, bool) {
	f, ok := m.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// FileOf is the path of the file holding the named tensor.
func (m *Model) FileOf(name string) (string, bool) {
	f, ok := m.where[name]
	if !ok {
		return "", false
	}
	return f.path, true
}

// File is the open file holding the named tensor.
func (m *Model) File(name string) (*File, bool) {
	f, ok := m.where[name]
	return f, ok
}

func (m *Model) missing(name string) error {
	where := m.dir
	if m.index != "" {
		where = m.index
	} else if len(m.files) == 1 {
		where = m.files[0].path
	}
	return fmt.Errorf("safetensors: %s: no tensor %q", where, name)
}

// Raw is File.Raw on the file holding the tensor.
func (m *Model) Raw(name string) ([]byte, TensorInfo, error) {
	f, ok := m.where[name]
	if !ok {
		return nil, TensorInfo{}, m.missing(name)
	}
	return f.Raw(name)
}

// Float32 is File.Float32 on the file holding the tensor (a view for
// aligned F32 data, valid until Close).
func (m *Model) Float32(name string) ([]float32, []int, error) {
	f, ok := m.where[name]
	if !ok {
		return nil, nil, m.missing(name)
	}
	return f.Float32(name)
}

// Float32Into is File.Float32Into on the file holding the tensor.
func (m *Model) Float32Into(name string, dst []float32, off int) error {
	f, ok := m.where[name]
	if !ok {
		return m.missing(name)
	}
	return f.Float32Into(name, dst, off)
}

// Float32Copy is File.Float32Copy on the file holding the tensor.
func (m *Model) Float32Copy(name string) ([]float32, []int, error) {
	f, ok := m.where[name]
	if !ok {
		return nil, nil, m.missing(name)
	}
	return f.Float32Copy(name)
}

// Close closes every file; views become invalid.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
