package torchckpt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// testdata/torch holds roberta-tiny saved by torch.save in the formats found
// on the Hub (tools/reference/torch_ckpt_golden.py).
func torchDir(t *testing.T, name string) string {
	return filepath.Join(golden.Dir(t), "torch", name)
}

func convertDir(t *testing.T, dir string) string {
	t.Helper()
	files, err := Files(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("Files(%s) = %v, %v", dir, files, err)
	}
	out := filepath.Join(t.TempDir(), "model.safetensors")
	if _, err := Convert(files, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The zip, legacy and sharded checkpoints convert to exactly the tensors of
// roberta-tiny's model.safetensors; float16 and bfloat16 ones to their
// rounded values. torch211/ was written by torch 2.11 (the lent machine's,
// tools/device), the others by Debian's torch 1.13.
func TestConvertMatchesSafetensors(t *testing.T) {
	ref, err := safetensors.Open(filepath.Join(golden.Dir(t), "models", "roberta-tiny", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, name := range []string{"zip", "legacy", "sharded", "half", "torch211", "torch211/bf16.bin"} {
		t.Run(name, func(t *testing.T) {
			var out string
			if strings.HasSuffix(name, ".bin") {
				out = filepath.Join(t.TempDir(), "model.safetensors")
				if _, err := Convert([]string{filepath.Join(golden.Dir(t), "torch", name)}, out); err != nil {
					t.Fatal(err)
				}
			} else {
				out = convertDir(t, torchDir(t, name))
			}
			got, err := safetensors.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if !slices.Equal(got.Names(), ref.Names()) {
				t.Fatalf("tensors %v, want %v", got.Names(), ref.Names())
			}
			for _, n := range ref.Names() {
				want, wshape, err := ref.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				have, shape, err := got.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, wshape) {
					t.Fatalf("%s: shape %v, want %v", n, shape, wshape)
				}
				for i, w := range want {
					switch {
					case name == "half":
						w = safetensors.F16ToFloat32(safetensors.Float32ToF16(w))
					case strings.HasSuffix(name, "bf16.bin"):
						w = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(w))
					}
					if have[i] != w {
						t.Fatalf("%s[%d] = %v, want %v", n, i, have[i], w)
					}
				}
			}
		})
	}
}

// Strided views, storage offsets, tensors sharing a storage, int64 buffers
// and nn.Parameters come out as row-major copies of what PyTorch shows.
func TestConvertViews(t *testing.T) {
	dir := torchDir(t, "views")
	got, err := safetensors.Open(convertDir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "views.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Shape  []int     `json:"shape"`
		Values []float64 `json:"values"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	// torch 2.11: an nn.Parameter arange(6)·[2,3] and the transpose of arange(6)·[3,2]
	pf := filepath.Join(t.TempDir(), "p.safetensors")
	if _, err := Convert([]string{filepath.Join(golden.Dir(t), "torch", "torch211", "param.bin")}, pf); err != nil {
		t.Fatal(err)
	}
	pt, err := safetensors.Open(pf)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	for name, w := range map[string][]float32{"param": {0, 1, 2, 3, 4, 5}, "t": {0, 2, 4, 1, 3, 5}} {
		v, shape, err := pt.Float32(name)
		if err != nil || !slices.Equal(v, w) || !slices.Equal(shape, []int{2, 3}) {
			t.Errorf("%s: %v %v (%v), want %v [2 3]", name, v, shape, err, w)
		}
	}
	for name, w := range want {
		b, info, err := got.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(info.Shape, w.Shape) {
			t.Fatalf("%s: shape %v, want %v", name, info.Shape, w.Shape)
		}
		for i, v := range w.Values {
			var x float64
			if info.Dtype == safetensors.I64 {
				x = float64(int64(binary.LittleEndian.Uint64(b[8*i:])))
			} else {
				vals, _, _ := got.Float32(name)
				x = float64(vals[i])
			}
			if x != v {
				t.Fatalf("%s[%d] = %v, want %v", name, i, x, v)
			}
		}
	}
}

// A converted checkpoint loads and runs like the original safetensors one,
// bit for bit.
func TestConvertedModelRuns(t *testing.T) {
	dir := t.TempDir()
	src := torchDir(t, "legacy")
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := Files(src)
	if _, err := Convert(files, filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	b := model.NewBatch([][]int32{{0, 5, 17, 42, 2}, {0, 9, 2}}, nil)
	run := func(d string) []float32 {
		m, err := model.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out, err := m.Forward(context.Background(), b, &model.Workspace{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out.LastHiddenState)
	}
	if !slices.Equal(run(dir), run(filepath.Join(golden.Dir(t), "models", "roberta-tiny"))) {
		t.Fatal("the converted checkpoint computes something else")
	}
}

// Damaged files give an error naming the file, never a panic.
func TestConvertBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(torchDir(t, "zip"), "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile(filepath.Join(torchDir(t, "legacy"), "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":            {},
		"garbage":          []byte("this is not a checkpoint at all, just text"),
		"truncated-zip":    good[:len(good)/2],
		"truncated-legacy": legacy[:len(legacy)/2],
		"legacy-header":    legacy[:40],
		"zip-body-damaged": damage(good),
	}
	for name, data := range cases {
		p := filepath.Join(dir, name+".bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Convert([]string{p}, filepath.Join(dir, name+".safetensors"))
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s", name, err, p)
		}
		if _, serr := os.Stat(filepath.Join(dir, name+".safetensors")); serr == nil {
			t.Errorf("%s: an output file was written", name)
		}
	}
	// a shard index naming a file outside the directory
	idx := filepath.Join(dir, "idx")
	os.MkdirAll(idx, 0o755)
	os.WriteFile(filepath.Join(idx, IndexFileName), []byte(`{"weight_map": {"a": "../x.bin"}}`), 0o644)
	if _, err := Files(idx); err == nil {
		t.Error("an index naming ../x.bin was accepted")
	}
}

// damage flips bytes in the middle of the data, keeping the zip structure.
func damage(b []byte) []byte {
	c := slices.Clone(b)
	for i := len(c) / 3; i < len(c)/3+64 && i < len(c); i++ {
		c[i] ^= 0xa5
	}
	return c
}

// FuzzRead: any file gives tensors or an error, never a panic or a hang.
// Seeds: the small test checkpoints, in both formats (the fuzzer slows to a
// crawl on 100 KB inputs).
func FuzzRead(f *testing.F) {
	for _, name := range []string{"pytorch_model.bin", "legacy.bin"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "torch", "views", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "pytorch_model.bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		read(p)
	})
}
