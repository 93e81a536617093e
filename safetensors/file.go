package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/aotp/aotp/internal/half"
	"math"
	"os"
	"sync"
	"unsafe"
)

// OpenOptions tune [OpenWith].
type OpenOptions struct {
	// Writable maps the file copy-on-write (MAP_PRIVATE with PROT_WRITE), so
	// the F32 views returned by Float32 may be modified in place (e.g. by an
	// optimizer) without touching the file. Pages written to become private
	// anonymous memory; untouched pages stay shared with the page cache.
	// Without it the mapping is read-only and writing through a view faults.
	Writable bool
}

// File is one open safetensors file. Its methods are safe for concurrent use.
type File struct {
	path    string
	data    []byte // the whole file (mapping or buffer)
	dataOff int64  // start of the data section within data
	hdr     *header
	// writable: the mapping is copy-on-write (pages may hold private
	// changes), so Release must not drop them.
	writable bool

	mu     sync.RWMutex
	closed bool
}

// Open opens, maps and validates the safetensors file at path, read-only.
func Open(path string) (*File, error) { return OpenWith(path, OpenOptions{}) }

// OpenWith is Open with options.
func OpenWith(path string, opt OpenOptions) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, too short for the 8-byte header length", path, size)
	}
	// Read and check the header length before mapping anything.
	var lenbuf [8]byte
	if _, err := f.ReadAt(lenbuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lenbuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: %s: header length %d exceeds the %d-byte limit", path, n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: %s: header length %d runs past the end of the %d-byte file", path, n, size)
	}
	data, err := mapFile(f, size, opt.Writable)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	dataOff := 8 + int64(n)
	hdr, err := parseHeader(data[8:dataOff], size-dataOff)
	if err != nil {
		unmapFile(data)
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return &File{path: path, data: data, dataOff: dataOff, hdr: hdr, writable: opt.Writable}, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Names lists the tensor names, sorted.
func (f *File) Names() []string { return append([]string(nil), f.hdr.names...) }

// Len is the number of tensors.
func (f *File) Len() int { return len(f.hdr.names) }

// Info describes the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.hdr.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return t.clone(), true
}

// Metadata is a copy of the header's __metadata__ (nil if absent).
func (f *File) Metadata() map[string]string {
	if f.hdr.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.hdr.metadata))
	for k, v := range f.hdr.metadata {
		m[k] = v
	}
	return m
}

// DataOffset is the file offset where the data section begins (8 + header
// length); TensorInfo offsets are relative to it.
func (f *File) DataOffset() int64 { return f.dataOff }

// Raw returns the bytes of the named tensor: a view into the mapping, valid
// until Close, which must not be written to unless the file was opened
// Writable.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, TensorInfo{}, fmt.Errorf("safetensors: %s: tensor %q: file is closed", f.path, name)
	}
	t, ok := f.hdr.tensors[name]
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	b := f.data[f.dataOff+t.Begin : f.dataOff+t.End : f.dataOff+t.End]
	return b, t.clone(), nil
}

// Float32 returns the named tensor as float32s, and its shape.
//
// For F32 data that is 4-byte aligned in memory (every file written by the
// reference implementation or by Write) the slice is a view into the mapping:
// no copy, valid until Close, read-only unless opened Writable. Misaligned
// F32 data is copied, because a []float32 must be aligned. F16, BF16 and F64
// are converted into a new slice. Other dtypes are an error.
func (f *File) Float32(name string) ([]float32, []int, error) {
	b, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	out, err := toFloat32(b, t.Dtype, true)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, err)
	}
	if len(out) > 0 && len(b) > 0 && unsafe.Pointer(unsafe.SliceData(out)) != unsafe.Pointer(unsafe.SliceData(b)) {
		// converted (F16, BF16, …): the caller has its copy, so the
		// mapped pages it was read from are given back (they are clean
		// and file-backed: a later read faults them in again)
		_, _ = f.release(b)
	}
	return out, t.Shape, nil
}

// Float32Copy is like Float32 but always returns a new slice, which the
// caller owns and may keep after Close.
func (f *File) Float32Copy(name string) ([]float32, []int, error) {
	b, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	out, err := toFloat32(b, t.Dtype, false)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, err)
	}
	return out, t.Shape, nil
}

// IsView reports whether Float32 returns a view (no copy) for the tensor.
func (f *File) IsView(name string) bool {
	t, ok := f.hdr.tensors[name]
	if !ok || t.Dtype != F32 || !littleEndian {
		return false
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))%4 == 0 && (f.dataOff+t.Begin)%4 == 0
}

// Close unmaps the file. Views returned earlier become invalid: touching them
// afterwards crashes the process.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	data := f.data
	f.data = nil
	if err := unmapFile(data); err != nil {
		return fmt.Errorf("safetensors: %s: %w", f.path, err)
	}
	return nil
}

// littleEndian is true on little-endian hosts, where F32 data can be viewed
// in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// uint16s views b as little-endian uint16s, or nil where that would be
// wrong (a big-endian host, an odd address) or empty.
func uint16s(b []byte) []uint16 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	if !littleEndian || len(b) < 2 || uintptr(p)%2 != 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(p), len(b)/2)
}

func toFloat32(b []byte, dt Dtype, allowView bool) ([]float32, error) {
	if dt == F32 && allowView && littleEndian && len(b) >= 4 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4), nil
	}
	if !dt.IsFloat() {
		return nil, errNotFloat(dt)
	}
	out := make([]float32, len(b)/dt.Size())
	convertInto(out, b, dt)
	return out, nil
}

func errNotFloat(dt Dtype) error {
	return errors.New("dtype " + string(dt) + " is not a float type (Float32 supports F32, F16, BF16, F64)")
}

// convertInto decodes the len(dst) values of float dtype dt in b (little
// endian) into dst.
func convertInto(dst []float32, b []byte, dt Dtype) {
	switch dt {
	case F32:
		if littleEndian {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)), b)
			return
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		if h := uint16s(b); h != nil {
			half.ToFloat32s(dst, h[:len(dst)]) // F16C / NEON: loading an F16 checkpoint
			return
		}
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		if h := uint16s(b); h != nil {
			for i, v := range h[:len(dst)] {
				dst[i] = math.Float32frombits(uint32(v) << 16)
			}
			return
		}
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
}

// Float32Into decodes the values [off, off+len(dst)) of a float tensor (F32,
// F16, BF16 or F64) into dst: a part of what Float32 returns, without a
// float32 copy of the whole tensor.
func (f *File) Float32Into(name string, dst []float32, off int) error {
	b, t, err := f.Raw(name)
	if err != nil {
		return err
	}
	if !t.Dtype.IsFloat() {
		return fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, errNotFloat(t.Dtype))
	}
	sz := t.Dtype.Size()
	if off < 0 || (off+len(dst))*sz > len(b) {
		return fmt.Errorf("safetensors: %s: tensor %q: values [%d, %d) of %d", f.path, name, off, off+len(dst), len(b)/sz)
	}
	convertInto(dst, b[off*sz:(off+len(dst))*sz], t.Dtype)
	return nil
}
