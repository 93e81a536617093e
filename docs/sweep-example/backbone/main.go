// Command backbone writes the sweep example's backbone: a small RoBERTa
// (random weights, HF layout) with the real roberta-base tokenizer files
// copied from --tokenizer. Nothing here is pre-trained.
//
//	go run ./docs/sweep-example/backbone --tokenizer ../shared/data/tokenizers/roberta-base --out /tmp/tiny-roberta
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

func main() {
	tok := flag.String("tokenizer", "", "folder with roberta-base's vocab.json and merges.txt")
	out := flag.String("out", "", "output model folder")
	hidden := flag.Int("hidden", 64, "hidden size")
	layers := flag.Int("layers", 2, "encoder layers")
	seed := flag.Uint64("seed", 11, "weight seed")
	flag.Parse()
	if err := write(*tok, *out, *hidden, *layers, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "backbone:", err)
		os.Exit(1)
	}
}

func write(tok, out string, hidden, layers int, seed uint64) error {
	if tok == "" || out == "" {
		return fmt.Errorf("--tokenizer and --out are required")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"vocab.json", "merges.txt"} {
		b, err := os.ReadFile(filepath.Join(tok, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return err
		}
	}
	cfg := map[string]any{"model_type": "roberta", "vocab_size": 50265, "hidden_size": hidden, "num_hidden_layers": layers,
		"num_attention_heads": 4, "intermediate_size": 4 * hidden, "max_position_embeddings": 514, "type_vocab_size": 1,
		"layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu",
		"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
	raw, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "config.json"), raw, 0o644); err != nil {
		return err
	}
	mc, err := model.ParseConfig("config.json", raw)
	if err != nil {
		return err
	}
	src := model.RandomSource(mc, seed)
	var ts []safetensors.Tensor
	for _, n := range src.Names() {
		if strings.HasPrefix(n, "pooler.") {
			continue // as RobertaForMaskedLM checkpoints: the head brings its own dense layer
		}
		ts = append(ts, safetensors.F32Tensor("roberta."+n, src[n].Shape, src[n].Data))
	}
	return safetensors.Write(filepath.Join(out, "model.safetensors"), ts, map[string]string{"format": "pt"})
}
