package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// shardedDir writes shards (file -> tensors) and an index mapping each
// tensor to its shard, adjusted by edit.
func shardedDir(t *testing.T, shards map[string][]Tensor, edit func(wm map[string]string)) string {
	t.Helper()
	dir := t.TempDir()
	wm := map[string]string{}
	for file, ts := range shards {
		if err := Write(filepath.Join(dir, file), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range ts {
			wm[tt.Name] = file
		}
	}
	if edit != nil {
		edit(wm)
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1234}, "weight_map": wm})
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func twoShards() map[string][]Tensor {
	return map[string][]Tensor{
		"model-00001-of-00002.safetensors": {F32Tensor("a.weight", []int{2}, []float32{1, 2}), F32Tensor("b.weight", []int{1}, []float32{3})},
		"model-00002-of-00002.safetensors": {BF16Tensor("c.weight", []int{2}, []float32{4, 5})},
	}
}

func TestOpenModelSingle(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, SingleFileName), []Tensor{F32Tensor("x", []int{1}, []float32{9})}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, SingleFileName)} {
		m, err := OpenModel(p)
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := m.Float32("x")
		if err != nil || v[0] != 9 {
			t.Fatal(v, err)
		}
		if f, _ := m.FileOf("x"); f != filepath.Join(dir, SingleFileName) {
			t.Errorf("FileOf = %s", f)
		}
		if m.Metadata()["format"] != "pt" || m.IndexPath() != "" {
			t.Errorf("metadata %v index %q", m.Metadata(), m.IndexPath())
		}
		if _, _, err := m.Raw("nope"); err == nil || !strings.Contains(err.Error(), SingleFileName) {
			t.Errorf("missing: %v", err)
		}
		m.Close()
	}
}

func TestOpenModelSharded(t *testing.T) {
	dir := shardedDir(t, twoShards(), nil)
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if want := []string{"a.weight", "b.weight", "c.weight"}; !reflect.DeepEqual(m.Names(), want) {
		t.Errorf("names %v", m.Names())
	}
	v, shape, err := m.Float32("c.weight")
	if err != nil || !reflect.DeepEqual(v, []float32{4, 5}) || !reflect.DeepEqual(shape, []int{2}) {
		t.Errorf("c.weight: %v %v %v", v, shape, err)
	}
	if f, _ := m.FileOf("a.weight"); filepath.Base(f) != "model-00001-of-00002.safetensors" {
		t.Errorf("FileOf(a.weight) = %s", f)
	}
	if info, ok := m.Info("b.weight"); !ok || info.Dtype != F32 {
		t.Errorf("Info: %+v", info)
	}
	if m.Metadata()["total_size"] != "1234" || len(m.Files()) != 2 {
		t.Errorf("metadata %v files %v", m.Metadata(), m.Files())
	}
	// The index file itself can be given.
	m2, err := OpenModel(filepath.Join(dir, IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
}

func TestOpenModelErrors(t *testing.T) {
	cases := map[string]struct {
		shards func() map[string][]Tensor
		edit   func(map[string]string)
		want   []string
	}{
		"missing shard": {twoShards, func(wm map[string]string) { wm["c.weight"] = "model-00003-of-00002.safetensors" },
			[]string{"model-00003-of-00002.safetensors", "missing"}},
		"tensor absent from shard": {twoShards, func(wm map[string]string) { wm["ghost"] = "model-00001-of-00002.safetensors" },
			[]string{`"ghost"`, "does not have it"}},
		"shard tensor not in weight_map": {twoShards, func(wm map[string]string) { delete(wm, "b.weight") },
			[]string{`"b.weight"`, "not in weight_map"}},
		"duplicate across shards": {func() map[string][]Tensor {
			s := twoShards()
			s["model-00002-of-00002.safetensors"] = append(s["model-00002-of-00002.safetensors"], F32Tensor("a.weight", []int{1}, []float32{0}))
			return s
		}, nil, []string{`"a.weight"`, "in shards"}},
		"escaping shard path": {twoShards, func(wm map[string]string) { wm["c.weight"] = "../evil.safetensors" },
			[]string{`"../evil.safetensors"`, "not a file name inside"}},
		"bad shard": {twoShards, func(wm map[string]string) { wm["c.weight"] = IndexFileName },
			[]string{"shard", IndexFileName}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := shardedDir(t, c.shards(), c.edit)
			m, err := OpenModel(dir)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, IndexFileName) || strings.Contains(msg, "\n") {
				t.Errorf("error should be one line naming the index: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
	// Not an index at all.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map": [1]}`), 0o644)
	if _, err := OpenModel(dir); err == nil {
		t.Error("bad index accepted")
	}
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"metadata": {}}`), 0o644)
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), "weight_map") {
		t.Errorf("index without weight_map: %v", err)
	}
	if _, err := OpenModel(t.TempDir()); err == nil || !strings.Contains(err.Error(), SingleFileName) {
		t.Errorf("empty dir: %v", err)
	}
}
