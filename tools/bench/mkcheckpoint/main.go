// Command mkcheckpoint writes a random checkpoint of a named real shape
// (model.Shapes) to a directory in Hugging Face layout: config.json and an
// model.safetensors (F32, or --dtype f16|bf16 as many Hub checkpoints are)
// with "roberta."/"bert."/"deberta." prefixed names, as the task models
// save them, and every config key of the shape (DeBERTa's included). Used
// by tools/bench/compare.sh for the resident-memory-after-load check, and
// tools/bench/quant_error.py.
//
//	go run ./tools/bench/mkcheckpoint --shape roberta-base --out DIR [--dtype f16]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

func main() {
	shape := flag.String("shape", "roberta-base", "named shape")
	out := flag.String("out", "", "output directory (created)")
	seed := flag.Uint64("seed", 1, "weight seed")
	dtype := flag.String("dtype", "f32", "stored dtype: f32, f16 or bf16")
	flag.Parse()
	if err := run(*shape, *out, *seed, *dtype); err != nil {
		fmt.Fprintln(os.Stderr, "mkcheckpoint:", err)
		os.Exit(1)
	}
}

func run(shape, out string, seed uint64, dtype string) error {
	if out == "" {
		return fmt.Errorf("--out is required")
	}
	tensor, torchDtype := safetensors.F32Tensor, "float32"
	switch dtype {
	case "f32":
	case "f16":
		tensor, torchDtype = safetensors.F16Tensor, "float16"
	case "bf16":
		tensor, torchDtype = safetensors.BF16Tensor, "bfloat16"
	default:
		return fmt.Errorf("--dtype %q: want f32, f16 or bf16", dtype)
	}
	cfg, err := model.ShapeConfig(shape)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	src := model.RandomSource(cfg, seed)
	prefix := cfg.BaseModelPrefix() + "."
	ts := make([]safetensors.Tensor, 0, len(src))
	for _, n := range src.Names() {
		t := src[n]
		ts = append(ts, tensor(prefix+n, t.Shape, t.Data))
	}
	if err := safetensors.Write(filepath.Join(out, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	arch := map[string]string{"bert": "BertModel", "roberta": "RobertaModel", "deberta": "DebertaModel", "deberta-v2": "DebertaV2Model"}[cfg.ModelType]
	// every key the shape sets, as HF writes them (the json tags of model.Config)
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	deberta := []string{"relative_attention", "max_relative_positions", "position_buckets", "pos_att_type",
		"share_att_key", "norm_rel_ebd", "position_biased_input", "conv_kernel_size", "conv_act", "conv_groups",
		"embedding_size", "attention_head_size", "pooler_hidden_size", "pooler_hidden_act", "pooler_dropout",
		"cls_dropout", "talking_head"}
	for k, v := range c {
		// unset keys, DeBERTa's on other models, and sizes whose 0 means
		// "the default" here but not to transformers
		zeroSize := v == 0.0 && (k == "embedding_size" || k == "attention_head_size" || k == "pooler_hidden_size")
		if v == nil || zeroSize || !cfg.IsDeberta() && slices.Contains(deberta, k) {
			delete(c, k)
		}
	}
	c["architectures"], c["torch_dtype"] = []string{arch}, torchDtype
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "config.json"), append(data, '\n'), 0o644)
}
