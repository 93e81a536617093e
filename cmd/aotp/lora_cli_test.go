package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/safetensors"
)

// LoRA trains end to end on the demo backbone through the CLI (with its own
// input dropout); the directory it writes is HF PEFT's format, evaluates,
// predicts, serves as --init, and fuse refuses it.
func TestTrainLoRA(t *testing.T) {
	dir, backbone, data := demoFixture(t)
	out := filepath.Join(dir, "lora")
	args := []string{"train", "--model", backbone, "--method", "lora", "--task", "custom",
		"--train", filepath.Join(data, "train.jsonl"), "--dev", filepath.Join(data, "dev.jsonl"),
		"--out", out, "--rank", "4", "--lora-alpha", "8", "--lora-dropout", "0.1", "--target-modules", "query,value,output.dense",
		"--epochs", "2", "--batch-size", "8", "--lr", "1e-2", "--dropout", "0.1",
		"--eval-every", "10", "--log-every", "5", "--max-seq-len", "32"}
	if _, err := run(t, args...); err != nil {
		t.Fatal(err)
	}
	cfg, err := peft.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != "lora" || cfg.PeftType != "LORA" || cfg.TaskType != "SEQ_CLS" || cfg.R != 4 || cfg.LoraAlpha != 8 ||
		cfg.LoraDropout != 0.1 || !slices.Equal(cfg.ModulesToSave, []string{"classifier"}) {
		t.Errorf("adapter_config.json: %+v", cfg)
	}
	f, err := safetensors.Open(filepath.Join(out, peft.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	f.Close()
	// the demo backbone is a BERT; "output.dense" takes both dense outputs
	for _, n := range []string{"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight",
		"base_model.model.bert.encoder.layer.0.attention.output.dense.lora_B.weight",
		"base_model.model.bert.encoder.layer.0.output.dense.lora_A.weight", "base_model.model.classifier.weight"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s not in the adapter file: %v", n, names)
		}
	}
	res, err := run(t, "eval", "--model", backbone, "--adapter", out, "--task", "custom", "--data", filepath.Join(data, "dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var metrics map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(res)), &metrics); err != nil || len(metrics) == 0 {
		t.Fatalf("eval printed %q: %v", res, err)
	}
	in, pred := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "pred.jsonl")
	writeLines(t, in, `{"text": "the acting was brilliant and fun"}`, `{"text": "this film felt tedious", "text_pair": "the story was bland"}`)
	if _, err := run(t, "predict", "--model", backbone, "--adapter", out, "--input", in, "--output", pred); err != nil {
		t.Fatal(err)
	}
	if lines := readJSONLines(t, pred); len(lines) != 2 || lines[0]["label"] == nil || lines[0]["logits"] == nil {
		t.Fatalf("predict wrote %v", lines)
	}
	if _, err := run(t, "fuse", "--model", backbone, "--adapter", out, "--out", filepath.Join(dir, "fused")); err == nil || !strings.Contains(err.Error(), "lora") {
		t.Fatalf("fuse of a LoRA adapter: %v, want a refusal naming the method", err)
	}
	// --init from the trained directory (tensors found by their PEFT names)
	args = append(slices.Clone(args), "--init", out, "--max-steps", "1")
	args[slices.Index(args, "--out")+1] = filepath.Join(dir, "again")
	if _, err := run(t, args...); err != nil {
		t.Fatal(err)
	}
}
