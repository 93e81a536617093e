package model

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/safetensors"
)

// copyModel copies a golden checkpoint into a temp dir, letting the caller
// change its config and tensors.
func copyModel(t *testing.T, name string, editConfig func(map[string]any), editTensors func(map[string]safetensors.Tensor)) string {
	t.Helper()
	src := filepath.Join(golden.Dir(t), "models", name)
	dst := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.Unmarshal(raw, &cfg)
	if editConfig != nil {
		editConfig(cfg)
	}
	raw, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dst, "config.json"), raw, 0o644)
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts := map[string]safetensors.Tensor{}
	for _, n := range f.Names() {
		b, info, _ := f.Raw(n)
		ts[n] = safetensors.Tensor{Name: n, Dtype: info.Dtype, Shape: info.Shape, Data: append([]byte(nil), b...)}
	}
	if editTensors != nil {
		editTensors(ts)
	}
	var list []safetensors.Tensor
	for _, t := range ts {
		list = append(list, t)
	}
	if err := safetensors.Write(filepath.Join(dst, "model.safetensors"), list, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestLoadErrorsNameTheProblem(t *testing.T) {
	cases := []struct {
		name    string
		cfg     func(map[string]any)
		tensors func(map[string]safetensors.Tensor)
		want    string
	}{
		{"unknown model_type", func(c map[string]any) { c["model_type"] = "gpt2" }, nil, `model_type "gpt2" is not supported`},
		{"missing model_type", func(c map[string]any) { delete(c, "model_type") }, nil, `"model_type" is missing`},
		{"wrong type", func(c map[string]any) { c["hidden_size"] = "big" }, nil, `key "hidden_size"`},
		{"bad heads", func(c map[string]any) { c["num_attention_heads"] = 5 }, nil, `not a multiple of "num_attention_heads"`},
		{"bad act", func(c map[string]any) { c["hidden_act"] = "mish" }, nil, `"hidden_act"`},
		{"relative positions", func(c map[string]any) { c["position_embedding_type"] = "relative_key" }, nil, `position_embedding_type`},
		{"missing tensor", nil, func(ts map[string]safetensors.Tensor) { delete(ts, "bert.encoder.layer.1.output.dense.bias") }, `tensor "bert.encoder.layer.1.output.dense.bias" is missing`},
		{"wrong shape", func(c map[string]any) { c["intermediate_size"] = 48 }, nil, `tensor "bert.encoder.layer.0.intermediate.dense.weight" has shape [64 32], the config implies [48 32]`},
		{"unexpected tensor", nil, func(ts map[string]safetensors.Tensor) {
			ts["bert.encoder.layer.0.extra.weight"] = safetensors.F32Tensor("bert.encoder.layer.0.extra.weight", []int{2}, []float32{1, 2})
		}, `unexpected tensor "bert.encoder.layer.0.extra.weight"`},
		{"too many layers", func(c map[string]any) { c["num_hidden_layers"] = 1 << 40 }, nil, `"num_hidden_layers" (1099511627776) is more than 1024`},
		{"wrong dtype", nil, func(ts map[string]safetensors.Tensor) {
			ts["bert.pooler.dense.bias"] = safetensors.I64Tensor("bert.pooler.dense.bias", []int{32}, make([]int64, 32))
		}, `bert.pooler.dense.bias`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyModel(t, "bert-tiny", c.cfg, c.tensors)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
		})
	}
}

// Extreme values of every size key, in every tiny checkpoint: Load and a
// forward pass give a result or an error, never a panic or an allocation
// the file does not back. (Found this way: num_hidden_layers 2⁴⁰ panicked
// in make, and DeBERTa v2's log buckets with max_relative_positions ≤
// position_buckets/2 + 1 indexed the table at -1.)
func TestExtremeConfigValues(t *testing.T) {
	keys := []string{"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
		"vocab_size", "type_vocab_size", "max_relative_positions", "position_buckets", "conv_kernel_size", "embedding_size", "pad_token_id"}
	models := []string{"bert-tiny", "roberta-tiny", "deberta-v1-tiny", "deberta-v2-tiny-conv", "deberta-v2-tiny-noshare", "deberta-v3-tiny"}
	b := NewBatch([][]int32{{1, 5, 7, 9, 11, 13, 2}, {1, 4, 2}}, nil)
	for _, name := range models {
		for _, k := range keys {
			for _, v := range []int{1 << 40, 1 << 20, 3, 1, 0, -1} {
				dir := copyModel(t, name, func(c map[string]any) { c[k] = v }, nil)
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s with %s = %d: panic %v", name, k, v, r)
						}
					}()
					m, err := Load(dir)
					if err != nil {
						return
					}
					defer m.Close()
					m.Forward(context.Background(), b, &Workspace{}, nil)
				}()
			}
		}
	}
	dir := copyModel(t, "deberta-v3-tiny", func(c map[string]any) { c["max_relative_positions"] = 3 }, nil)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"max_relative_positions" (3`) {
		t.Fatalf("deberta-v3 with max_relative_positions 3: %v", err)
	}
}

func TestShardedCheckpointLoads(t *testing.T) {
	single := filepath.Join(golden.Dir(t), "models", "roberta-tiny")
	f, err := safetensors.Open(filepath.Join(single, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	raw, _ := os.ReadFile(filepath.Join(single, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	shards := [2][]safetensors.Tensor{}
	weightMap := map[string]string{}
	for i, n := range f.Names() {
		b, info, _ := f.Raw(n)
		shards[i%2] = append(shards[i%2], safetensors.Tensor{Name: n, Dtype: info.Dtype, Shape: info.Shape, Data: b})
		weightMap[n] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i%2]
	}
	for i, s := range shards {
		name := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i]
		if err := safetensors.Write(filepath.Join(dir, name), s, nil); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "models", name, "config.json"))
		if err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"model_type": "bert", "hidden_size": 0}`))
	f.Add([]byte(`{"model_type": "roberta", "max_position_embeddings": 1}`))
	f.Add([]byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("config.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.HiddenSize <= 0 || cfg.HiddenSize%cfg.NumAttentionHeads != 0 || cfg.MaxSequenceLength() <= 0 {
			t.Fatalf("accepted an unusable config: %+v", cfg)
		}
	})
}
