// Package torchckpt converts PyTorch checkpoints — pytorch_model.bin, the
// torch.save of a state dict that many Hugging Face repositories still ship
// instead of (or beside) model.safetensors, single or sharded with
// pytorch_model.bin.index.json — into a model.safetensors that aotp's
// loader memory-maps.
//
// Why our own reader: the pickle is interpreted by a small unpickler of our
// own (pickle.go) that knows the opcodes and the few globals of a state dict
// (OrderedDict, torch's tensor and parameter rebuilders, the storage types)
// and nothing else, so no file can make it run or build anything else,
// unlike Python's torch.load without weights_only; every length in the file
// is checked against what is left of it before anything is allocated. The
// Go library for this, github.com/nlpodyssey/gopickle (v0.2.0), was tried
// first and dropped: it decodes float16 subnormals wrongly, loops forever on
// an empty file, and allocates whatever sizes the file claims. Both
// container formats of torch.save are read (the zip archive of torch ≥ 1.6,
// the legacy stream); storages stay raw bytes until the tensors are copied
// out.
// Every floating-point tensor is written as F32 (aotp computes in float32;
// a mapped F32 file needs no conversion at load), integer ones
// (position_ids buffers) as I64.
package torchckpt

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aotp/aotp/safetensors"
)

// File names of a PyTorch checkpoint in a model directory.
const (
	SingleFileName = "pytorch_model.bin"
	IndexFileName  = "pytorch_model.bin.index.json"
)

// Files returns the checkpoint files of a model directory: pytorch_model.bin,
// or the shards its index names; nil when it has neither.
func Files(dir string) ([]string, error) {
	if p := filepath.Join(dir, SingleFileName); regular(p) {
		return []string{p}, nil
	}
	ip := filepath.Join(dir, IndexFileName)
	if !regular(ip) {
		return nil, nil
	}
	data, err := os.ReadFile(ip)
	if err != nil {
		return nil, err
	}
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%s: %v", ip, err)
	}
	var files []string
	for _, f := range ix.WeightMap {
		if f == "" || filepath.Base(f) != f {
			return nil, fmt.Errorf("%s: shard name %q is not a file of the directory", ip, f)
		}
		p := filepath.Join(dir, f)
		if !slices.Contains(files, p) {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: empty weight_map", ip)
	}
	sort.Strings(files)
	return files, nil
}

func regular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Convert reads the state dicts in files and writes their tensors to dst
// (atomically: a temporary file renamed over dst). It returns the number of
// tensors written.
func Convert(files []string, dst string) (int, error) {
	var out []safetensors.Tensor
	seen := map[string]string{}
	for _, f := range files {
		ts, err := read(f)
		if err != nil {
			return 0, err
		}
		for _, t := range ts {
			if prev, ok := seen[t.Name]; ok {
				return 0, fmt.Errorf("torchckpt: tensor %q is in both %s and %s", t.Name, prev, f)
			}
			seen[t.Name] = f
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return 0, fmt.Errorf("torchckpt: no tensors in %v", files)
	}
	if err := safetensors.Write(dst, out, map[string]string{"format": "pt", "converted_by": "aotp"}); err != nil {
		return 0, err
	}
	return len(out), nil
}

// read loads one checkpoint file's state dict.
func read(path string) ([]safetensors.Tensor, error) {
	obj, err := load(path)
	if err != nil {
		return nil, fmt.Errorf("torchckpt: %s: %w", path, err)
	}
	d, ok := obj.(*dict)
	if !ok {
		return nil, fmt.Errorf("torchckpt: %s: holds a %T, not a state dict (name → tensor)", path, obj)
	}
	var ts []safetensors.Tensor
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("torchckpt: %s: state dict key %v is not a string", path, k)
		}
		t, ok := d.vals[i].(*tensor)
		if !ok {
			return nil, fmt.Errorf("torchckpt: %s: %q is a %T, not a tensor", path, name, d.vals[i])
		}
		st, err := convert(name, t)
		if err != nil {
			return nil, fmt.Errorf("torchckpt: %s: %w", path, err)
		}
		ts = append(ts, st)
	}
	return ts, nil
}

// storage is one torch storage: raw little-endian elements.
type storage struct {
	class *storageClass
	size  int // elements
	data  []byte
}

// storageClass is a torch.*Storage class.
type storageClass struct {
	name string
	item int  // bytes per element
	kind byte // 'f' float32, 'h' float16, 'b' bfloat16, 'd' float64, 'l' int64, 'i' int32
}

var storageClasses = map[string]*storageClass{
	"FloatStorage":    {"FloatStorage", 4, 'f'},
	"HalfStorage":     {"HalfStorage", 2, 'h'},
	"BFloat16Storage": {"BFloat16Storage", 2, 'b'},
	"DoubleStorage":   {"DoubleStorage", 8, 'd'},
	"LongStorage":     {"LongStorage", 8, 'l'},
	"IntStorage":      {"IntStorage", 4, 'i'},
}

// storageRef reads a persistent id ('storage', class, key, location, size, ...).
func storageRef(t tuple) (*storageClass, string, int, error) {
	if len(t) < 5 || t[0] != "storage" {
		return nil, "", 0, fmt.Errorf("persistent id %v is not a storage", t)
	}
	c, ok1 := t[1].(*storageClass)
	key, ok2 := t[2].(string)
	size, ok3 := t[4].(int)
	if !ok1 {
		return nil, "", 0, fmt.Errorf("storage of an unsupported type %v", t[1])
	}
	if !ok2 || !ok3 || size < 0 {
		return nil, "", 0, fmt.Errorf("malformed storage id %v", t)
	}
	return c, key, size, nil
}

// load reads a torch.save file: a zip archive (archive/data.pkl and one
// record archive/data/<key> per storage) or the legacy stream.
func load(path string) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	switch {
	case n == 4 && string(head[:]) == "PK\x03\x04":
		return loadZip(f, st.Size())
	case n >= 3 && head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a: // PROTO 2, LONG1: the legacy magic number
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return loadLegacy(&stream{r: bufio.NewReader(f), left: st.Size()})
	}
	return nil, errors.New("not a PyTorch checkpoint (neither a torch.save zip archive nor its legacy format)")
}

func loadZip(f *os.File, size int64) (any, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, err
	}
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, zf := range zr.File {
		dir, base := path.Split(zf.Name)
		switch {
		case base == "data.pkl" && strings.Count(dir, "/") == 1:
			pkl = zf
		case path.Base(strings.TrimSuffix(dir, "/")) == "data":
			records[base] = zf
		case base == "constants.pkl":
			return nil, errors.New("a TorchScript archive, not a state dict")
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive without data.pkl")
	}
	loaded := map[string]*storage{}
	r, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	br := bufio.NewReader(r)
	u := newUnpickler(&stream{r: br, left: int64(min(pkl.UncompressedSize64, uint64(size)))}, func(t tuple) (any, error) {
		c, key, n, err := storageRef(t)
		if err != nil {
			return nil, err
		}
		if s := loaded[key]; s != nil {
			return s, nil
		}
		rec := records[key]
		if rec == nil {
			return nil, fmt.Errorf("storage %q has no record in the archive", key)
		}
		// torch stores records uncompressed: a size larger than the file is a lie
		if rec.Method != zip.Store || rec.UncompressedSize64 > uint64(size) || rec.UncompressedSize64 != uint64(n)*uint64(c.item) {
			return nil, fmt.Errorf("storage %q: record of %d bytes (method %d) for %d %s elements", key, rec.UncompressedSize64, rec.Method, n, c.name)
		}
		rr, err := rec.Open()
		if err != nil {
			return nil, err
		}
		defer rr.Close()
		s := &storage{class: c, size: n, data: make([]byte, rec.UncompressedSize64)}
		if _, err := io.ReadFull(rr, s.data); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		if err := atEOF(rr); err != nil { // the record's CRC-32 is checked at its end
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		loaded[key] = s
		return s, nil
	})
	obj, err := u.load()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil { // data.pkl's CRC-32
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	return obj, nil
}

// atEOF reads past the end of a zip record, where its checksum is verified.
func atEOF(r io.Reader) error {
	var b [1]byte
	for tries := 0; tries < 100; tries++ {
		n, err := r.Read(b[:])
		switch {
		case n > 0:
			return errors.New("record longer than its size")
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return errors.New("record does not end")
}

// loadLegacy reads torch's legacy stream: pickles of the magic number, the
// protocol version and system info, the object (storages by persistent id),
// the list of storage keys, then each storage as an int64 element count and
// its bytes, in that order.
func loadLegacy(s *stream) (any, error) {
	plain := func() (any, error) { return newUnpickler(s, nil).load() }
	magic, err := plain()
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Text(16) != "1950a86a20f9469cfc6c" {
		return nil, errors.New("legacy format: wrong magic number")
	}
	if v, err := plain(); err != nil || v != 1001 {
		return nil, fmt.Errorf("legacy format: protocol version %v (%v), want 1001", v, err)
	}
	if _, err := plain(); err != nil { // sys info
		return nil, err
	}
	storages := map[string]*storage{}
	u := newUnpickler(s, func(t tuple) (any, error) {
		c, key, n, err := storageRef(t)
		if err != nil {
			return nil, err
		}
		if len(t) > 5 && t[5] != nil {
			return nil, fmt.Errorf("storage %q is a view of another (not supported)", key)
		}
		if int64(n)*int64(c.item) > s.left {
			return nil, fmt.Errorf("storage %q: %d elements do not fit in what is left of the file", key, n)
		}
		if st := storages[key]; st != nil {
			return st, nil
		}
		st := &storage{class: c, size: n}
		storages[key] = st
		return st, nil
	})
	obj, err := u.load()
	if err != nil {
		return nil, err
	}
	keysObj, err := plain()
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*list)
	if !ok {
		return nil, errors.New("legacy format: no list of storage keys")
	}
	for _, k := range *keys {
		key, _ := k.(string)
		st := storages[key]
		if st == nil {
			return nil, fmt.Errorf("legacy format: storage key %v unknown", k)
		}
		n, err := s.uint(8)
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		if n != uint64(st.size) {
			return nil, fmt.Errorf("storage %q: %d elements in the file, %d in the pickle", key, n, st.size)
		}
		if st.data, err = s.bytes(int64(st.size * st.class.item)); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
	}
	for key, st := range storages {
		if st.data == nil && st.size > 0 {
			return nil, fmt.Errorf("legacy format: storage %q has no data", key)
		}
	}
	return obj, nil
}

// convert copies a (possibly strided) tensor view of a storage into a
// row-major safetensors tensor.
func convert(name string, t *tensor) (safetensors.Tensor, error) {
	s := t.storage
	shape := slices.Clone(t.size)
	if len(t.stride) != len(shape) {
		return safetensors.Tensor{}, fmt.Errorf("%q: %d strides for %d dimensions", name, len(t.stride), len(shape))
	}
	n := 1
	lo, hi := t.offset, t.offset
	for d, dim := range shape {
		if dim < 0 || t.stride[d] < 0 {
			return safetensors.Tensor{}, fmt.Errorf("%q: negative size or stride (%v, %v)", name, shape, t.stride)
		}
		if dim > 0 && n > math.MaxInt32/dim {
			return safetensors.Tensor{}, fmt.Errorf("%q: shape %v too large", name, shape)
		}
		n *= dim
		if dim > 0 {
			hi += (dim - 1) * t.stride[d]
		}
	}
	if n > s.size { // a broadcast view; never in a state dict, and it bounds what is allocated
		return safetensors.Tensor{}, fmt.Errorf("%q: %d elements from a storage of %d", name, n, s.size)
	}
	if n > 0 && (lo < 0 || hi >= s.size) {
		return safetensors.Tensor{}, fmt.Errorf("%q: view [%d, %d] outside its storage of %d elements", name, lo, hi, s.size)
	}
	// element i of the result (row-major) is storage[offset + Σ idx_d·stride_d]
	index := func(i int) int {
		off := t.offset
		for d := len(shape) - 1; d >= 0; d-- {
			off += (i % shape[d]) * t.stride[d]
			i /= shape[d]
		}
		return off
	}
	b := s.data
	floats := func(at func(int) float32) (safetensors.Tensor, error) {
		v := make([]float32, n)
		for i := range v {
			v[i] = at(index(i))
		}
		return safetensors.F32Tensor(name, shape, v), nil
	}
	ints := func(at func(int) int64) (safetensors.Tensor, error) {
		v := make([]int64, n)
		for i := range v {
			v[i] = at(index(i))
		}
		return safetensors.I64Tensor(name, shape, v), nil
	}
	switch s.class.kind {
	case 'f':
		return floats(func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])) })
	case 'h':
		return floats(func(i int) float32 { return safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])) })
	case 'b':
		return floats(func(i int) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16) })
	case 'd':
		return floats(func(i int) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))) })
	case 'l':
		return ints(func(i int) int64 { return int64(binary.LittleEndian.Uint64(b[8*i:])) })
	case 'i':
		return ints(func(i int) int64 { return int64(int32(binary.LittleEndian.Uint32(b[4*i:]))) })
	}
	return safetensors.Tensor{}, fmt.Errorf("%q: %s tensors are not supported", name, s.class.name)
}
