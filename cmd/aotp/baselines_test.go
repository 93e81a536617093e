package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/safetensors"
)

// The baseline methods train end to end on the demo backbone through the
// CLI; the adapter directory they write evaluates and predicts.
func TestTrainBaselines(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, `{"text": "the acting was brilliant and fun"}`, `{"text": "this film felt tedious", "text_pair": "the story was bland"}`)
	for _, c := range []struct {
		name   string
		flags  []string
		tensor string // one tensor the adapter file must hold
		config func(*peft.AdapterConfig) bool
	}{
		{"bitfit", []string{"--method", "bitfit"}, "bert.encoder.layer.0.attention.output.LayerNorm.bias", // the demo backbone is a BERT
			func(c *peft.AdapterConfig) bool { return c.Method == "bitfit" }},
		{"adapter-houlsby", []string{"--method", "adapter", "--bottleneck", "8", "--activation", "gelu"}, "adapter.layer.1.attention.up.weight",
			func(c *peft.AdapterConfig) bool {
				return c.Method == "adapter" && c.Placement == "houlsby" && c.Bottleneck == 8 && c.Activation == "gelu"
			}},
		{"adapter-pfeiffer", []string{"--method", "adapter", "--placement", "pfeiffer", "--bottleneck", "4"}, "adapter.layer.0.output.down.weight",
			func(c *peft.AdapterConfig) bool {
				return c.Method == "adapter" && c.Placement == "pfeiffer" && c.Bottleneck == 4 && c.Activation == "relu"
			}},
		{"ptv2", []string{"--method", "ptv2", "--prefix-len", "4"}, "ptv2.layer.3.value",
			func(c *peft.AdapterConfig) bool { return c.Method == "ptv2" && c.PrefixLen == 4 }},
		{"ptv2-mlp", []string{"--method", "ptv2", "--prefix-len", "4", "--prefix-hidden", "8"}, "ptv2.layer.3.value",
			func(c *peft.AdapterConfig) bool { return c.Method == "ptv2" && c.PrefixLen == 4 && c.PrefixHidden == 0 }},
		{"prompt", []string{"--method", "prompt", "--prompt-len", "3"}, "prompt.embeddings",
			func(c *peft.AdapterConfig) bool { return c.Method == "prompt" && c.PromptLen == 3 }},
		{"full", []string{"--method", "full", "--lr", "1e-4"}, "bert.encoder.layer.2.output.dense.weight",
			func(c *peft.AdapterConfig) bool { return c.Method == "full" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			args := append([]string{"train", "--model", backbone, "--task", "custom",
				"--train", filepath.Join(data, "train.jsonl"), "--dev", filepath.Join(data, "dev.jsonl"),
				"--out", out, "--epochs", "2", "--batch-size", "8", "--lr", "1e-2", "--dropout", "0.1",
				"--eval-every", "10", "--log-every", "5", "--max-seq-len", "32"}, c.flags...)
			if _, err := run(t, args...); err != nil {
				t.Fatal(err)
			}
			cfg, err := peft.ReadConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if !c.config(cfg) {
				t.Errorf("adapter_config.json: %+v", cfg)
			}
			f, err := safetensors.Open(filepath.Join(out, peft.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			names := f.Names()
			f.Close()
			found := false
			for _, n := range names {
				found = found || n == c.tensor
				if c.name == "adapter-pfeiffer" && strings.Contains(n, "attention") {
					t.Errorf("pfeiffer adapter holds %s", n)
				}
			}
			if !found {
				t.Errorf("%s not in the adapter file (%d tensors)", c.tensor, len(names))
			}
			res, err := run(t, "eval", "--model", backbone, "--adapter", out, "--task", "custom", "--data", filepath.Join(data, "dev.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var metrics map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(res)), &metrics); err != nil || len(metrics) == 0 {
				t.Fatalf("eval printed %q: %v", res, err)
			}
			pred := filepath.Join(dir, c.name+".pred.jsonl")
			if _, err := run(t, "predict", "--model", backbone, "--adapter", out, "--input", in, "--output", pred); err != nil {
				t.Fatal(err)
			}
			lines := readJSONLines(t, pred)
			if len(lines) != 2 || lines[0]["label"] == nil || lines[0]["logits"] == nil {
				t.Fatalf("predict wrote %v", lines)
			}
			raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
			if err != nil || !strings.Contains(string(raw), `"dev"`) {
				t.Fatalf("metrics.jsonl: %v %q", err, raw)
			}
		})
	}
}
