package peft

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/safetensors"
)

// Table is one layer's fused AoT table P_l [V, C] in its storage dtype. A
// table read from an adapter file is a view into the memory-mapped file, so
// the OS pages rows in on demand and shares them between processes; f16,
// bf16 and int8 rows are widened to float32 as they are gathered.
type Table struct {
	V, C  int
	Dtype string    // "f32", "f16", "bf16", "int8"
	f32   []float32 // [V*C]
	u16   []uint16  // [V*C] f16 or bf16 bits
	i8    []int8    // [V*C]
	scale []float32 // [V] int8 row scales

	mapped int64 // bytes that are views into a memory-mapped adapter file
}

// Fused-table dtypes.
var fusedDtypes = map[string]safetensors.Dtype{"f32": safetensors.F32, "f16": safetensors.F16, "bf16": safetensors.BF16, "int8": safetensors.I8}

// NewTable stores a float32 table [V, C] in dtype, quantising as needed
// (int8: symmetric per row, scale = max|row|/127, round to nearest).
func NewTable(rows []float32, V, C int, dtype string) (*Table, error) {
	t := &Table{V: V, C: C, Dtype: dtype}
	switch dtype {
	case "f32":
		t.f32 = rows
	case "f16", "bf16":
		t.u16 = make([]uint16, V*C)
		conv := safetensors.Float32ToF16
		if dtype == "bf16" {
			conv = safetensors.Float32ToBF16
		}
		for i, v := range rows[:V*C] {
			t.u16[i] = conv(v)
		}
	case "int8":
		t.i8, t.scale = make([]int8, V*C), make([]float32, V)
		for x := 0; x < V; x++ {
			row := rows[x*C : (x+1)*C]
			var m float32
			for _, v := range row {
				m = max(m, float32(math.Abs(float64(v))))
			}
			if m == 0 {
				continue
			}
			s := m / 127
			t.scale[x] = s
			q := t.i8[x*C : (x+1)*C]
			for i, v := range row {
				q[i] = int8(max(-127, min(127, math.Round(float64(v/s)))))
			}
		}
	default:
		return nil, fmt.Errorf("fused dtype %q is not supported (f32, f16, bf16, int8)", dtype)
	}
	return t, nil
}

// Bytes is the table's storage size.
func (t *Table) Bytes() int64 {
	return int64(4*len(t.f32) + 2*len(t.u16) + len(t.i8) + 4*len(t.scale))
}

// MappedBytes is the part of Bytes that is a view into a memory-mapped
// adapter file (paged in on demand, reclaimable by the OS) rather than
// process memory.
func (t *Table) MappedBytes() int64 { return t.mapped }

// AddRow adds row x to dst [C].
func (t *Table) AddRow(dst []float32, x int) {
	C := t.C
	switch t.Dtype {
	case "f32":
		vec.AddInPlace(dst[:C], t.f32[x*C:(x+1)*C])
	case "f16":
		vec.AddF16(dst[:C], t.u16[x*C:(x+1)*C])
	case "bf16":
		vec.AddBF16(dst[:C], t.u16[x*C:(x+1)*C])
	case "int8":
		vec.AddI8Scaled(dst[:C], t.i8[x*C:(x+1)*C], t.scale[x])
	}
}

// Row writes row x into dst [C].
func (t *Table) Row(dst []float32, x int) {
	clear(dst[:t.C])
	t.AddRow(dst, x)
}

// Tensors returns the table as adapter-file tensors for layer l.
func (t *Table) Tensors(l int) []safetensors.Tensor {
	name := fmt.Sprintf("aot.layer.%d.table", l)
	shape := []int{t.V, t.C}
	switch t.Dtype {
	case "f32":
		return []safetensors.Tensor{safetensors.F32Tensor(name, shape, t.f32)}
	case "int8":
		b := unsafe.Slice((*byte)(unsafe.Pointer(&t.i8[0])), len(t.i8))
		return []safetensors.Tensor{
			{Name: name, Dtype: safetensors.I8, Shape: shape, Data: b},
			safetensors.F32Tensor(fmt.Sprintf("aot.layer.%d.scale", l), []int{t.V}, t.scale),
		}
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&t.u16[0])), 2*len(t.u16))
	return []safetensors.Tensor{{Name: name, Dtype: fusedDtypes[t.Dtype], Shape: shape, Data: b}}
}

// tableFromFile views layer l's table in an open adapter file (no copy
// where alignment allows).
func tableFromFile(f *safetensors.File, path string, l, V, C int, dtype string) (*Table, error) {
	name := fmt.Sprintf("aot.layer.%d.table", l)
	raw, info, err := f.Raw(name)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
	}
	want := fusedDtypes[dtype]
	if info.Dtype != want {
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, adapter_config.json says %s", path, name, info.Dtype, dtype)
	}
	if len(info.Shape) != 2 || info.Shape[0] != V || info.Shape[1] != C {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, the model needs [%d %d]", path, name, info.Shape, V, C)
	}
	t := &Table{V: V, C: C, Dtype: dtype}
	switch dtype {
	case "f32":
		if t.f32, _, err = f.Float32(name); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		if f.IsView(name) {
			t.mapped = int64(4 * len(t.f32))
		}
	case "f16", "bf16":
		if uintptr(unsafe.Pointer(&raw[0]))%2 != 0 {
			raw = append([]byte(nil), raw...)
		} else {
			t.mapped = int64(len(raw))
		}
		t.u16 = unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), V*C)
	case "int8":
		t.i8 = unsafe.Slice((*int8)(unsafe.Pointer(&raw[0])), V*C)
		t.mapped = int64(V * C)
		sname := fmt.Sprintf("aot.layer.%d.scale", l)
		s, shape, err := f.Float32(sname)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, sname, err)
		}
		if len(shape) != 1 || shape[0] != V {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, the model needs [%d]", path, sname, shape, V)
		}
		t.scale = s
		if f.IsView(sname) {
			t.mapped += int64(4 * V)
		}
	}
	return t, nil
}
