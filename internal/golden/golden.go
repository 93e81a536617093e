// Package golden loads the reference golden files under <repo>/testdata that
// tools/reference/make_golden.py writes (safetensors written by PyTorch-side
// reference code), for use by tests in other packages.
//
// It carries its own tiny safetensors parser so that tests do not depend on
// the production safetensors package they are meant to check.
package golden

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// Tensor is one stored tensor. Exactly one of F32, F64, I64 is set, by Dtype.
type Tensor struct {
	Name  string
	Dtype string // "F32", "F64" or "I64"
	Shape []int
	F32   []float32
	F64   []float64
	I64   []int64
}

// Numel is the product of Shape (1 for a scalar).
func (t Tensor) Numel() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Dir returns <repo>/testdata, located from this source file's path, or
// $AOTP_TESTDATA when set (a test binary run on another machine).
func Dir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("AOTP_TESTDATA")
	if d == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			t.Fatal("golden: cannot locate source file")
		}
		d = filepath.Join(filepath.Dir(file), "..", "..", "testdata")
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("golden: testdata dir: %v", err)
	}
	return filepath.Clean(d)
}

// Load parses a safetensors file; a relative path is taken relative to Dir(t).
func Load(t testing.TB, path string) map[string]Tensor {
	t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(Dir(t), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("golden: %s: %v", path, err)
	}
	return m
}

// Names returns the sorted tensor names of m.
func Names(m map[string]Tensor) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Parse decodes a safetensors buffer (F32, F64 and I64 tensors only).
func Parse(data []byte) (map[string]Tensor, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("short file")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds file", n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &hdr); err != nil {
		return nil, err
	}
	body := data[8+n:]
	out := map[string]Tensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var info struct {
			Dtype   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		b, e := info.Offsets[0], info.Offsets[1]
		if b < 0 || e < b || e > int64(len(body)) {
			return nil, fmt.Errorf("%s: bad offsets %v", name, info.Offsets)
		}
		buf := body[b:e]
		t := Tensor{Name: name, Dtype: info.Dtype, Shape: info.Shape}
		size := map[string]int{"F32": 4, "F64": 8, "I64": 8}[info.Dtype]
		if size == 0 {
			return nil, fmt.Errorf("%s: unsupported dtype %s", name, info.Dtype)
		}
		if len(buf) != t.Numel()*size {
			return nil, fmt.Errorf("%s: %d bytes for shape %v %s", name, len(buf), info.Shape, info.Dtype)
		}
		k := t.Numel()
		switch info.Dtype {
		case "F32":
			t.F32 = make([]float32, k)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		case "F64":
			t.F64 = make([]float64, k)
			for i := range t.F64 {
				t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		case "I64":
			t.I64 = make([]int64, k)
			for i := range t.I64 {
				t.I64[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		}
		out[name] = t
	}
	return out, nil
}

// Packed takes a right-padded [.., T] batch (input_ids, attention_mask and
// token_type_ids as int64) apart into its unmasked tokens per sequence, and
// each kept token's row index into the padded [B·T] layout.
func Packed(ids, mask, types Tensor) (seqs, tts [][]int32, rows []int) {
	T := ids.Shape[len(ids.Shape)-1]
	for b := 0; b < len(ids.I64)/T; b++ {
		var s, tt []int32
		for i := 0; i < T; i++ {
			if mask.I64[b*T+i] == 0 {
				continue
			}
			s = append(s, int32(ids.I64[b*T+i]))
			tt = append(tt, int32(types.I64[b*T+i]))
			rows = append(rows, b*T+i)
		}
		seqs, tts = append(seqs, s), append(tts, tt)
	}
	return seqs, tts, rows
}
