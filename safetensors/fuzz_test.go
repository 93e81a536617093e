package safetensors

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// fuzzSeeds are valid and malformed files that steer the fuzzer into the
// interesting parts of the header parser.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	enc := func(ts []Tensor, md map[string]string) {
		var b bytes.Buffer
		if err := Encode(&b, ts, md); err != nil {
			panic(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	enc(nil, nil)
	enc(nil, map[string]string{"format": "pt"})
	enc([]Tensor{F32Tensor("w", []int{2, 2}, []float32{1, 2, 3, 4}), F16Tensor("h", []int{3}, []float32{1, 2, 3}), BF16Tensor("b", []int{1}, []float32{1})}, map[string]string{"format": "pt"})
	enc([]Tensor{F64Tensor("d", []int{1}, []float64{1}), I64Tensor("i", []int{0}, nil), {Name: "u", Dtype: U8, Shape: []int{3}, Data: []byte{1, 2, 3}}, {Name: "s", Dtype: BOOL, Data: []byte{1}}}, nil)
	seeds = append(seeds,
		rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}`, make([]byte, 9)),
		rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
		rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)),
		rawFile(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}`, make([]byte, 4)),
		rawFile(`{"__metadata__":{"k":1}}`, nil),
		rawFile(`{"a":[1]}`, nil),
		[]byte("\xff\xff\xff\xff\xff\xff\xff\xff{}"),
		[]byte("short"),
	)
	return seeds
}

func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		p := filepath.Join(dir, fmt.Sprintf("f%d.safetensors", n))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		file, err := Open(p)
		if err != nil {
			return
		}
		defer file.Close()
		names := file.Names()
		if !sort.StringsAreSorted(names) {
			t.Fatalf("names not sorted")
		}
		covered := int64(0)
		for _, name := range names {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) missing", name)
			}
			raw, info2, err := file.Raw(name)
			if err != nil {
				t.Fatalf("Raw(%q): %v", name, err)
			}
			if int64(len(raw)) != info.End-info.Begin || info2.Begin != info.Begin {
				t.Fatalf("Raw(%q) has %d bytes, info %+v", name, len(raw), info)
			}
			if info.NumElements()*int64(info.Dtype.Size()) != int64(len(raw)) {
				t.Fatalf("%q: size mismatch", name)
			}
			covered += int64(len(raw))
			v, shape, err := file.Float32(name)
			if info.Dtype.IsFloat() {
				if err != nil {
					t.Fatalf("Float32(%q): %v", name, err)
				}
				if int64(len(v)) != info.NumElements() || len(shape) != len(info.Shape) {
					t.Fatalf("Float32(%q): %d values, info %+v", name, len(v), info)
				}
				for range v { // touch every value
				}
			} else if err == nil {
				t.Fatalf("Float32(%q) on %s succeeded", name, info.Dtype)
			}
		}
		if covered != int64(len(data))-file.DataOffset() {
			t.Fatalf("tensors cover %d of %d data bytes", covered, int64(len(data))-file.DataOffset())
		}
		// Re-encoding what we read must give a file we can read again.
		var ts []Tensor
		for _, name := range names {
			raw, info, _ := file.Raw(name)
			ts = append(ts, Tensor{Name: name, Dtype: info.Dtype, Shape: info.Shape, Data: raw})
		}
		var b bytes.Buffer
		if err := Encode(&b, ts, file.Metadata()); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		p2 := p + ".re"
		os.WriteFile(p2, b.Bytes(), 0o644)
		defer os.Remove(p2)
		again, err := Open(p2)
		if err != nil {
			t.Fatalf("re-encoded file does not open: %v", err)
		}
		again.Close()
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen from fuzzSeeds when
// AOTP_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("AOTP_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set AOTP_WRITE_FUZZ_SEEDS=1 to regenerate the committed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
