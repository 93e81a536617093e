// Command mkcheckpoint writes a random checkpoint of a named real shape
// (model.Shapes) to a directory in Hugging Face layout: config.json and an
// model.safetensors (F32, or --dtype f16|bf16 as many Hub checkpoints are)
// with "roberta."/"bert." prefixed names. Used by tools/bench/compare.sh
// for the resident-memory-after-load check.
//
//	go run ./tools/bench/mkcheckpoint --shape roberta-base --out DIR [--dtype f16]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

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
	prefix := cfg.ModelType + "."
	ts := make([]safetensors.Tensor, 0, len(src))
	for _, n := range src.Names() {
		t := src[n]
		ts = append(ts, tensor(prefix+n, t.Shape, t.Data))
	}
	if err := safetensors.Write(filepath.Join(out, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	arch := "BertModel"
	if cfg.ModelType == "roberta" {
		arch = "RobertaModel"
	}
	c := map[string]any{
		"architectures": []string{arch}, "model_type": cfg.ModelType, "vocab_size": cfg.VocabSize,
		"hidden_size": cfg.HiddenSize, "num_hidden_layers": cfg.NumHiddenLayers, "num_attention_heads": cfg.NumAttentionHeads,
		"intermediate_size": cfg.IntermediateSize, "hidden_act": cfg.HiddenAct, "hidden_dropout_prob": cfg.HiddenDropoutProb,
		"attention_probs_dropout_prob": cfg.AttentionProbsDropoutProb, "max_position_embeddings": cfg.MaxPositionEmbeddings,
		"type_vocab_size": cfg.TypeVocabSize, "initializer_range": cfg.InitializerRange, "layer_norm_eps": cfg.LayerNormEps,
		"pad_token_id": cfg.PadTokenID, "torch_dtype": torchDtype,
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "config.json"), append(data, '\n'), 0o644)
}
