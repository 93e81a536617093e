package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// rawFile builds file bytes from a header string (not padded) and data.
func rawFile(hdr string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func writeBytes(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOpen(t testing.TB, p string) *File {
	t.Helper()
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestRoundTripEveryDtype(t *testing.T) {
	var tensors []Tensor
	for dt, size := range dtypeSizes {
		tensors = append(tensors, Tensor{Name: "t." + string(dt), Dtype: dt, Shape: []int{2, 3}, Data: seq(6 * size)})
	}
	md := map[string]string{"format": "pt", "note": "<&>"}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(p, tensors, md); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, p)
	if !reflect.DeepEqual(f.Metadata(), md) {
		t.Errorf("metadata %v, want %v", f.Metadata(), md)
	}
	names := f.Names()
	if len(names) != len(tensors) {
		t.Fatalf("%d names, want %d", len(names), len(tensors))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("names not sorted: %v", names)
		}
	}
	for _, tt := range tensors {
		raw, info, err := f.Raw(tt.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, tt.Data) || info.Dtype != tt.Dtype || !reflect.DeepEqual(info.Shape, tt.Shape) {
			t.Errorf("%s: got %v %v %x, want %v %v %x", tt.Name, info.Dtype, info.Shape, raw, tt.Dtype, tt.Shape, tt.Data)
		}
		if info.Size() != int64(len(tt.Data)) || info.NumElements() != 6 {
			t.Errorf("%s: info %+v", tt.Name, info)
		}
		// Every tensor is aligned to its element size (reference layout).
		if (f.DataOffset()+info.Begin)%int64(tt.Dtype.Size()) != 0 {
			t.Errorf("%s: data at file offset %d not aligned to %d", tt.Name, f.DataOffset()+info.Begin, tt.Dtype.Size())
		}
		_, _, err = f.Float32(tt.Name)
		if tt.Dtype.IsFloat() != (err == nil) {
			t.Errorf("%s: Float32 err = %v", tt.Name, err)
		}
		if err != nil && (!strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.Name)) {
			t.Errorf("error does not name file and tensor: %v", err)
		}
	}
	if f.DataOffset()%8 != 0 {
		t.Errorf("data offset %d not 8-aligned", f.DataOffset())
	}
}

func TestFloatConversionsOnRead(t *testing.T) {
	vals := []float32{1, -2, 0.1, 65504, 1e-8, float32(math.Inf(-1))}
	tensors := []Tensor{
		F32Tensor("f32", []int{6}, vals),
		F16Tensor("f16", []int{2, 3}, vals),
		BF16Tensor("bf16", []int{3, 2}, vals),
		F64Tensor("f64", []int{6}, []float64{1, -2, 0.1, 65504, 1e-8, math.Inf(-1)}),
	}
	p := filepath.Join(t.TempDir(), "f.safetensors")
	if err := Write(p, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, p)
	// Known bit patterns of the encoded data.
	raw, _, _ := f.Raw("f16")
	wantF16 := []uint16{0x3c00, 0xc000, 0x2e66, 0x7bff, 0x0000, 0xfc00}
	for i, w := range wantF16 {
		if g := binary.LittleEndian.Uint16(raw[2*i:]); g != w {
			t.Errorf("f16[%d] = %#04x, want %#04x", i, g, w)
		}
	}
	raw, _, _ = f.Raw("bf16")
	wantBF16 := []uint16{0x3f80, 0xc000, 0x3dcd, 0x4780, 0x322c, 0xff80}
	for i, w := range wantBF16 {
		if g := binary.LittleEndian.Uint16(raw[2*i:]); g != w {
			t.Errorf("bf16[%d] = %#04x, want %#04x", i, g, w)
		}
	}
	got, shape, err := f.Float32("f16")
	if err != nil || !reflect.DeepEqual(shape, []int{2, 3}) {
		t.Fatal(err, shape)
	}
	wantF := []float32{1, -2, 0.099975586, 65504, 0, float32(math.Inf(-1))}
	if !reflect.DeepEqual(got, wantF) {
		t.Errorf("f16 -> %v, want %v", got, wantF)
	}
	got, _, _ = f.Float32("bf16")
	wantB := []float32{1, -2, 0.10009765625, 65536, math.Float32frombits(0x322c0000), float32(math.Inf(-1))}
	if !reflect.DeepEqual(got, wantB) {
		t.Errorf("bf16 -> %v, want %v", got, wantB)
	}
	got, _, _ = f.Float32("f64")
	if !reflect.DeepEqual(got, vals) {
		t.Errorf("f64 -> %v, want %v", got, vals)
	}
	got, _, _ = f.Float32("f32")
	if !reflect.DeepEqual(got, vals) {
		t.Errorf("f32 -> %v, want %v", got, vals)
	}
	// Float32Into: any part of each tensor, as Float32 gives it
	for _, name := range []string{"f32", "f16", "bf16", "f64"} {
		whole, _, _ := f.Float32(name)
		for _, part := range [][2]int{{0, 6}, {1, 4}, {5, 6}, {3, 3}} {
			dst := make([]float32, part[1]-part[0])
			if err := f.Float32Into(name, dst, part[0]); err != nil {
				t.Fatalf("%s %v: %v", name, part, err)
			}
			if !reflect.DeepEqual(dst, whole[part[0]:part[1]]) {
				t.Errorf("%s values %v: %v, want %v", name, part, dst, whole[part[0]:part[1]])
			}
		}
		if err := f.Float32Into(name, make([]float32, 2), 5); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: values [5, 7) of 6: %v", name, err)
		}
	}
}

// The reference implementation's own serialization vectors.
func TestReferenceBytes(t *testing.T) {
	data := F32Tensor("attn.0", []int{1, 2, 3}, []float32{0, 1, 2, 3, 4, 5})
	var b bytes.Buffer
	if err := Encode(&b, []Tensor{data}, nil); err != nil {
		t.Fatal(err)
	}
	want := rawFile(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, data.Data)
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", b.Bytes(), want)
	}
	b.Reset()
	data.Name, data.Shape = "attn0", []int{1, 1, 2, 3}
	Encode(&b, []Tensor{data}, nil)
	want = rawFile(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `, data.Data)
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", b.Bytes(), want)
	}
	b.Reset()
	Encode(&b, nil, nil)
	if want := rawFile("{}      ", nil); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("empty: got %q want %q", b.Bytes(), want)
	}
	b.Reset()
	Encode(&b, nil, map[string]string{"framework": "pt"})
	if want := rawFile(`{"__metadata__":{"framework":"pt"}}     `, nil); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("metadata: got %q want %q", b.Bytes(), want)
	}
}

func TestZeroSizeTensors(t *testing.T) {
	tensors := []Tensor{
		F32Tensor("empty", []int{0}, nil),
		F32Tensor("empty2d", []int{4, 0}, nil),
		F32Tensor("scalar", nil, []float32{7}),
		F16Tensor("h0", []int{0, 3}, nil),
		{Name: "u0", Dtype: U8, Shape: []int{0}},
	}
	p := filepath.Join(t.TempDir(), "z.safetensors")
	if err := Write(p, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, p)
	for _, n := range []string{"empty", "empty2d", "h0"} {
		v, shape, err := f.Float32(n)
		if err != nil || v == nil || len(v) != 0 {
			t.Errorf("%s: %v %v %v", n, v, shape, err)
		}
	}
	v, shape, err := f.Float32("scalar")
	if err != nil || len(shape) != 0 || !reflect.DeepEqual(v, []float32{7}) {
		t.Errorf("scalar: %v %v %v", v, shape, err)
	}
	// Zero-size tensors may sit at any offset that does not split another.
	hdr := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"z0":{"dtype":"I8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`
	hdr += strings.Repeat(" ", (8-len(hdr)%8)%8)
	f2 := mustOpen(t, writeBytes(t, "zz.safetensors", rawFile(hdr, seq(8))))
	if f2.Len() != 4 {
		t.Errorf("len %d", f2.Len())
	}
}

func TestNoCopyView(t *testing.T) {
	vals := make([]float32, 1000)
	for i := range vals {
		vals[i] = float32(i) * 0.5
	}
	p := filepath.Join(t.TempDir(), "v.safetensors")
	if err := Write(p, []Tensor{F32Tensor("w", []int{10, 100}, vals), {Name: "b", Dtype: U8, Shape: []int{3}, Data: []byte{1, 2, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, p)
	v, _, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, vals) {
		t.Fatal("values differ")
	}
	if !f.IsView("w") || !inside(f.data, unsafe.Pointer(&v[0])) {
		t.Errorf("F32 slice is not a view into the mapping")
	}
	c, _, _ := f.Float32Copy("w")
	if inside(f.data, unsafe.Pointer(&c[0])) || !reflect.DeepEqual(c, vals) {
		t.Errorf("Float32Copy returned a view or wrong values")
	}
}

func inside(mapping []byte, p unsafe.Pointer) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mapping)))
	return uintptr(p) >= base && uintptr(p) < base+uintptr(len(mapping))
}

func TestMisalignedF32IsCopied(t *testing.T) {
	// One byte of U8 first puts the F32 data at an odd offset: not what a
	// writer produces, but valid.
	hdr := `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}`
	hdr += strings.Repeat(" ", (8-len(hdr)%8)%8)
	data := []byte{9}
	data = binary.LittleEndian.AppendUint32(data, math.Float32bits(1.5))
	data = binary.LittleEndian.AppendUint32(data, math.Float32bits(-3))
	f := mustOpen(t, writeBytes(t, "m.safetensors", rawFile(hdr, data)))
	v, _, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, []float32{1.5, -3}) {
		t.Errorf("got %v", v)
	}
	if f.IsView("w") || inside(f.data, unsafe.Pointer(&v[0])) {
		t.Errorf("misaligned data must be copied")
	}
}

func TestWritableIsCopyOnWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if err := Write(p, []Tensor{F32Tensor("w", []int{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	f, err := OpenWith(p, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := f.Float32("w")
	v[0] = 42
	v2, _, _ := f.Float32("w")
	if v2[0] != 42 {
		t.Errorf("write not visible through the mapping")
	}
	f.Close()
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Errorf("copy-on-write mapping modified the file")
	}
}

func TestCloseAndMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.safetensors")
	if err := Write(p, []Tensor{F32Tensor("w", []int{1}, []float32{1}), I64Tensor("ids", []int{2}, []int64{1, -1})}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Raw("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), p) {
		t.Errorf("missing tensor error: %v", err)
	}
	if _, _, err := f.Float32("ids"); err == nil || !strings.Contains(err.Error(), "I64") {
		t.Errorf("Float32 on I64: %v", err)
	}
	raw, _, _ := f.Raw("ids")
	if int64(binary.LittleEndian.Uint64(raw[8:])) != -1 {
		t.Errorf("I64 data wrong")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := f.Float32("w"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v", err)
	}
}

func TestWriteAtomicAndValidates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.safetensors")
	if err := Write(p, []Tensor{F32Tensor("w", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(p)
	bad := [][]Tensor{
		{F32Tensor("w", []int{2}, []float32{1})},                                // size mismatch
		{{Name: "w", Dtype: "F7", Shape: []int{1}, Data: []byte{1}}},            // unknown dtype
		{F32Tensor("w", []int{-1}, nil)},                                        // negative dim
		{F32Tensor("w", []int{1}, []float32{1}), F32Tensor("w", []int{0}, nil)}, // duplicate
		{F32Tensor("__metadata__", []int{0}, nil)},                              // reserved
		{F32Tensor("", []int{0}, nil)},                                          // empty name
		{F32Tensor("w", []int{math.MaxInt, math.MaxInt}, nil)},                  // overflow
	}
	for i, ts := range bad {
		err := Write(p, ts, nil)
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		if !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: error %q should be one line naming the file", i, err)
		}
	}
	now, _ := os.ReadFile(p)
	if !bytes.Equal(old, now) {
		t.Errorf("failed Write changed the file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("leftover files: %v", ents)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	// Writing into a missing directory fails cleanly.
	if err := Write(filepath.Join(dir, "no", "x.safetensors"), nil, nil); err == nil {
		t.Errorf("write into missing dir succeeded")
	}
}

// A tensor with Fill is written exactly as the same bytes given as Data,
// chunk by chunk (a tensor larger than a chunk, one of none, one of a
// partial chunk), and a failing Fill fails the write naming the tensor.
func TestEncodeFill(t *testing.T) {
	big := make([]float32, fillChunk/4*2+5)
	for i := range big {
		big[i] = float32(i)
	}
	small := []float32{1, 2, 3}
	lazy := func(name string, v []float32) Tensor {
		b := F32Tensor(name, []int{len(v)}, v).Data
		return Tensor{Name: name, Dtype: F32, Shape: []int{len(v)}, Fill: func(dst []byte, off int64) error {
			copy(dst, b[off:])
			return nil
		}}
	}
	var want, got bytes.Buffer
	if err := Encode(&want, []Tensor{F32Tensor("big", []int{len(big)}, big), F32Tensor("s", []int{3}, small), F32Tensor("z", []int{0}, nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&got, []Tensor{lazy("big", big), lazy("s", small), lazy("z", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("a file written through Fill differs from the one written from Data")
	}
	bad := Tensor{Name: "bad", Dtype: F32, Shape: []int{4}, Fill: func([]byte, int64) error { return errors.New("disk on fire") }}
	if err := Encode(io.Discard, []Tensor{bad}, nil); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("failing Fill: %v", err)
	}
}
