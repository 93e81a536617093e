// Package demo is aotp's main job on an embedded default: the whole life of
// AoT P-Tuning with nothing to download. It writes a small BERT-shaped
// backbone (random weights, real HF file formats) and a WordPiece vocabulary
// to a folder, generates two small text-classification tasks, trains an
// AoT adapter for each on the frozen backbone, evaluates them, fuses their
// tables, and serves both tasks in one mixed batch.
//
// A random backbone has learned nothing, so what the adapters learn here
// comes from the per-token rows alone (plus the head): enough to show the
// method end to end, not a substitute for a real checkpoint.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// Backbone is the embedded default's shape: BERT with 4 layers of width 64.
var Backbone = model.Config{
	ModelType: "bert", HiddenSize: 64, NumHiddenLayers: 4, NumAttentionHeads: 4, IntermediateSize: 256,
	HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 64,
	TypeVocabSize: 2, InitializerRange: 0.02, LayerNormEps: 1e-12, PadTokenID: 0, PositionEmbeddingType: "absolute",
}

// Task is one built-in task: examples generated from templates.
type Task struct {
	Name   string
	Labels []string
	Train  []Example
	Dev    []Example
}

// Example is a text with its label id.
type Example struct {
	Text  string `json:"text"`
	Label int    `json:"label"`
}

var (
	positive = []string{"great", "wonderful", "excellent", "delightful", "superb", "charming", "moving", "brilliant", "fun", "beautiful"}
	negative = []string{"awful", "boring", "terrible", "dull", "tedious", "clumsy", "bland", "painful", "weak", "messy"}
	subjects = []string{"the movie", "this film", "the story", "the acting", "the ending", "the script", "the soundtrack", "the cast"}
	fillers  = []string{"was", "felt", "seemed", "turned out", "is", "looked"}
	topics   = map[string][]string{
		"sports":  {"match", "goal", "team", "coach", "league", "score", "player", "season"},
		"food":    {"recipe", "soup", "bread", "kitchen", "dinner", "spice", "dessert", "chef"},
		"science": {"experiment", "theory", "atoms", "telescope", "data", "laboratory", "physics", "cells"},
	}
	topicFrames = []string{"we talked about the %s and the %s", "a new %s changed the %s", "everyone loved the %s near the %s", "the %s was about the %s"}
)

// Tasks generates the two built-in tasks deterministically.
func Tasks(seed uint64) []Task {
	r := rand.New(rand.NewPCG(seed, 1))
	sentiment := Task{Name: "sentiment", Labels: []string{"negative", "positive"}}
	genSent := func() Example {
		y := r.IntN(2)
		words := negative
		if y == 1 {
			words = positive
		}
		s := fmt.Sprintf("%s %s %s", subjects[r.IntN(len(subjects))], fillers[r.IntN(len(fillers))], words[r.IntN(len(words))])
		if r.IntN(2) == 0 {
			s += " and " + words[r.IntN(len(words))]
		}
		return Example{Text: s, Label: y}
	}
	topic := Task{Name: "topic", Labels: []string{"food", "science", "sports"}}
	genTopic := func() Example {
		y := r.IntN(3)
		ws := topics[topic.Labels[y]]
		return Example{Text: fmt.Sprintf(topicFrames[r.IntN(len(topicFrames))], ws[r.IntN(len(ws))], ws[r.IntN(len(ws))]), Label: y}
	}
	for i := 0; i < 320; i++ {
		sentiment.Train = append(sentiment.Train, genSent())
		topic.Train = append(topic.Train, genTopic())
	}
	for i := 0; i < 80; i++ {
		sentiment.Dev = append(sentiment.Dev, genSent())
		topic.Dev = append(topic.Dev, genTopic())
	}
	return []Task{sentiment, topic}
}

// vocabulary lists BERT's special tokens then every word the tasks use.
func vocabulary() []string {
	seen := map[string]bool{}
	var words []string
	add := func(s string) {
		for _, w := range strings.Fields(s) {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	for _, l := range [][]string{positive, negative, subjects, fillers, topicFrames, {"and", "a", "the", "we", "it", "not", "very"}} {
		for _, s := range l {
			add(strings.ReplaceAll(s, "%s", ""))
		}
	}
	for _, ws := range topics {
		for _, w := range ws {
			add(w)
		}
	}
	sort.Strings(words)
	return append([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."}, words...)
}

// WriteBackbone writes the embedded backbone to dir in HF layout
// (config.json, model.safetensors, vocab.txt, tokenizer_config.json).
func WriteBackbone(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vocab := vocabulary()
	cfg := Backbone
	cfg.VocabSize = len(vocab)
	src := model.RandomSource(&cfg, seed)
	// wider random weights than BERT's init so a random network still mixes tokens
	names := src.Names()
	ts := make([]safetensors.Tensor, 0, len(names))
	for _, n := range names {
		t := src[n]
		if strings.HasSuffix(n, ".weight") && !strings.Contains(n, "LayerNorm") {
			for i := range t.Data {
				t.Data[i] *= 4
			}
		}
		ts = append(ts, safetensors.F32Tensor(n, t.Shape, t.Data))
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	c := map[string]any{
		"architectures": []string{"BertModel"}, "model_type": cfg.ModelType, "vocab_size": cfg.VocabSize,
		"hidden_size": cfg.HiddenSize, "num_hidden_layers": cfg.NumHiddenLayers, "num_attention_heads": cfg.NumAttentionHeads,
		"intermediate_size": cfg.IntermediateSize, "hidden_act": cfg.HiddenAct, "hidden_dropout_prob": cfg.HiddenDropoutProb,
		"attention_probs_dropout_prob": cfg.AttentionProbsDropoutProb, "max_position_embeddings": cfg.MaxPositionEmbeddings,
		"type_vocab_size": cfg.TypeVocabSize, "initializer_range": cfg.InitializerRange, "layer_norm_eps": cfg.LayerNormEps,
		"pad_token_id": cfg.PadTokenID, "position_embedding_type": cfg.PositionEmbeddingType,
	}
	data, _ := json.MarshalIndent(c, "", "  ")
	if err := fsutil.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n')); err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, "vocab.txt"), []byte(strings.Join(vocab, "\n")+"\n")); err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": true, "tokenizer_class": "BertTokenizer"}`+"\n"))
}

// WriteTask writes a task as custom-task JSONL files (train.jsonl, dev.jsonl).
func WriteTask(dir string, t Task) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for split, ex := range map[string][]Example{"train": t.Train, "dev": t.Dev} {
		var b strings.Builder
		for _, e := range ex {
			line, _ := json.Marshal(map[string]string{"text": e.Text, "label": t.Labels[e.Label]})
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := fsutil.WriteFile(filepath.Join(dir, split+".jsonl"), []byte(b.String())); err != nil {
			return err
		}
	}
	return nil
}
