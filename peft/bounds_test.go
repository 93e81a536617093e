package peft

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/model"
)

// Sizes in a config are bounded before anything is allocated: a config
// from elsewhere (an adapter directory, --init, the server's PUT) asking for
// 2⁴⁰ of something gets an error naming the key, not a fatal out-of-memory.
func TestNewRefusesOversizedConfigs(t *testing.T) {
	enc := loadModel(t, "roberta-tiny") // C = 32, V = 100
	pos := enc.Config.MaxSequenceLength()
	const huge = 1 << 40
	cases := []struct {
		cfg  AdapterConfig
		want string
	}{
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "fc", Rank: huge}}, "aot: rank must be in [1, 128]"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "fc", Rank: 129}}, "aot: rank"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "fc", Rank: -1}}, "aot: rank"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: huge}}, "aot: kron rank must be in [1, 22]"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: 23}}, "kron rank"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: 2, KronA: 1 << 30, KronB: 1}}, "kron_a·kron_b"},
		{AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: 2, KronA: 1, KronB: huge}}, "kron_a·kron_b"},
		{AdapterConfig{Method: "lora", LoraConfig: LoraConfig{R: huge}}, "lora: r must be in [1, 128]"},
		{AdapterConfig{Method: "adapter", Bottleneck: huge}, "adapter: bottleneck must be in [1, 128]"},
		{AdapterConfig{Method: "ptv2", PrefixLen: huge}, fmt.Sprintf("ptv2: prefix_len must be in [1, %d]", pos)},
		{AdapterConfig{Method: "ptv2", PrefixLen: 4, PrefixHidden: huge}, "ptv2: prefix_hidden"},
		{AdapterConfig{Method: "prompt", PromptLen: huge}, fmt.Sprintf("prompt: prompt_len must be in [1, %d]", pos)},
		{AdapterConfig{Method: "bitfit", ProblemType: model.SingleLabel, NumLabels: huge}, "classification needs 2 to 65536 labels"},
		{AdapterConfig{Method: "bitfit", ProblemType: model.MultipleChoice, NumLabels: 1, NumChoices: huge}, "multiple choice needs 2 to 1024 choices"},
	}
	for _, c := range cases {
		cfg := c.cfg
		cfg.Task = "bounds"
		_, err := New(enc, &cfg, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: error %v, want %q", c.cfg.Method, c.cfg, err, c.want)
		}
	}
	// the widest allowed still builds
	for _, cfg := range []AdapterConfig{
		{Method: "aot", AoTConfig: AoTConfig{Reparam: "fc", Rank: 128}},
		{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: 22}},
		{Method: "aot", AoTConfig: AoTConfig{Reparam: "kron", Rank: 2, KronA: 256, KronB: 1}},
		{Method: "ptv2", PrefixLen: pos},
		{Method: "prompt", PromptLen: pos},
		{Method: "lora", LoraConfig: LoraConfig{R: 128}},
	} {
		if _, err := New(enc, &cfg, 1); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}

	// and from a file: the error names the directory
	dir := t.TempDir()
	a, err := New(enc, &AdapterConfig{Method: "aot", AoTConfig: AoTConfig{Reparam: "fc", Rank: 4},
		Task: "bounds", ProblemType: model.SingleLabel, NumLabels: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, a.Config, a.Params()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), `"rank": 4`, `"rank": 1099511627776`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(enc, dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "aot: rank") {
		t.Fatalf("Load: %v", err)
	}
}
