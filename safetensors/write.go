package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Tensor is one tensor to write: raw little-endian row-major bytes.
type Tensor struct {
	Name  string
	Dtype Dtype
	Shape []int
	Data  []byte
	// Fill, when not nil, produces the bytes instead of Data (which is then
	// ignored) as they are written: bytes [off, off+len(dst)) of the tensor
	// into dst, a chunk of at most fillChunk bytes, so that a tensor made
	// on the fly (converted to another dtype) never exists whole in memory.
	Fill func(dst []byte, off int64) error
}

// fillChunk is the largest chunk Encode asks a Tensor.Fill for.
const fillChunk = 1 << 20

// size is the tensor's byte size: len(Data), or the shape's with Fill.
func (t *Tensor) size() int64 {
	if t.Fill == nil {
		return int64(len(t.Data))
	}
	n := int64(t.Dtype.Size())
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// F32Tensor encodes data as an F32 tensor.
func F32Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, Dtype: F32, Shape: append([]int(nil), shape...), Data: b}
}

// F32View is F32Tensor without the copy on little-endian hosts (the
// format's byte order): Data aliases data, which must not change until the
// tensor is written.
func F32View(name string, shape []int, data []float32) Tensor {
	if !littleEndian || len(data) == 0 {
		return F32Tensor(name, shape, data)
	}
	return Tensor{Name: name, Dtype: F32, Shape: append([]int(nil), shape...), Data: f32Bytes(data)}
}

// f32Bytes is v's memory as bytes (host order), no copy.
func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// F16Tensor encodes data as an F16 tensor (round to nearest even).
func F16Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(v))
	}
	return Tensor{Name: name, Dtype: F16, Shape: append([]int(nil), shape...), Data: b}
}

// BF16Tensor encodes data as a BF16 tensor (round to nearest even).
func BF16Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(v))
	}
	return Tensor{Name: name, Dtype: BF16, Shape: append([]int(nil), shape...), Data: b}
}

// F64Tensor encodes data as an F64 tensor.
func F64Tensor(name string, shape []int, data []float64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, Dtype: F64, Shape: append([]int(nil), shape...), Data: b}
}

// I64Tensor encodes data as an I64 tensor (e.g. position_ids buffers).
func I64Tensor(name string, shape []int, data []int64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, Dtype: I64, Shape: append([]int(nil), shape...), Data: b}
}

// I32Tensor encodes data as an I32 tensor.
func I32Tensor(name string, shape []int, data []int32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, Dtype: I32, Shape: append([]int(nil), shape...), Data: b}
}

// Write writes tensors and optional metadata to path atomically: the bytes
// go to a temporary file in the same directory, which is fsynced and renamed
// over path (and the directory fsynced), so readers see the old file or the
// complete new one, never a partial one. See the package documentation for
// the layout.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	plan, err := planWrite(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := plan.writeTo(w); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	ok = true
	syncDir(dir)
	return nil
}

// Encode writes the safetensors bytes of tensors and metadata to w (no
// atomicity; use Write for files).
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	plan, err := planWrite(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	return plan.writeTo(w)
}

// syncDir fsyncs a directory so a rename in it is durable. Best effort: some
// platforms cannot open or sync directories.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

type writePlan struct {
	header  []byte // padded JSON
	tensors []Tensor
}

func (p *writePlan) writeTo(w io.Writer) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(p.header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(p.header); err != nil {
		return err
	}
	var chunk []byte
	for _, t := range p.tensors {
		if t.Fill == nil {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
			continue
		}
		n := t.size()
		if chunk == nil {
			chunk = make([]byte, fillChunk)
		}
		for off := int64(0); off < n; off += fillChunk {
			c := chunk[:min(fillChunk, n-off)]
			if err := t.Fill(c, off); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func planWrite(tensors []Tensor, metadata map[string]string) (*writePlan, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if t.Name == "" {
			return nil, fmt.Errorf("a tensor has an empty name")
		}
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("tensor %q: name is not valid UTF-8", t.Name)
		}
		if t.Name == metadataKey {
			return nil, fmt.Errorf("tensor %q: name is reserved", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %q: given twice", t.Name)
		}
		seen[t.Name] = true
		if !t.Dtype.Valid() {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.Dtype)
		}
		n := uint64(t.Dtype.Size())
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q: shape %v has a negative dimension", t.Name, t.Shape)
			}
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 || lo > math.MaxInt64 {
				return nil, fmt.Errorf("tensor %q: shape %v overflows", t.Name, t.Shape)
			}
			n = lo
		}
		if t.Fill == nil && uint64(len(t.Data)) != n {
			return nil, fmt.Errorf("tensor %q: %d data bytes, but shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.Dtype, n)
		}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata key %q: key or value is not valid UTF-8", k)
		}
	}
	// Reference order: descending element size (keeps every tensor aligned
	// to its element size), then name.
	order := append([]Tensor(nil), tensors...)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if sa, sb := a.Dtype.Size(), b.Dtype.Size(); sa != sb {
			return sa > sb
		}
		return a.Name < b.Name
	})

	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	if metadata != nil {
		buf.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
		first = false
	}
	off := int64(0)
	for _, t := range order {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeJSONString(&buf, t.Name)
		buf.WriteString(`:{"dtype":`)
		writeJSONString(&buf, string(t.Dtype))
		buf.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := off + t.size()
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", buf.Len(), MaxHeaderSize)
	}
	return &writePlan{header: buf.Bytes(), tensors: order}, nil
}

// writeJSONString writes s as a JSON string without HTML escaping (like
// serde_json, which the reference uses).
func writeJSONString(buf *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}
