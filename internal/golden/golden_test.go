package golden

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func wantShape(t *testing.T, m map[string]Tensor, name, dtype string, shape ...int) Tensor {
	t.Helper()
	x, ok := m[name]
	if !ok {
		t.Fatalf("missing tensor %q", name)
	}
	if x.Dtype != dtype || !reflect.DeepEqual(x.Shape, shape) {
		t.Fatalf("%s: got %s %v, want %s %v", name, x.Dtype, x.Shape, dtype, shape)
	}
	return x
}

// caseDirs returns testdata/<sub>/* dirs holding file; the named ones must exist.
func caseDirs(t *testing.T, sub, file string, required ...string) []string {
	t.Helper()
	all, _ := filepath.Glob(filepath.Join(Dir(t), sub, "*", file))
	var dirs []string
	have := map[string]bool{}
	for _, f := range all {
		dirs = append(dirs, filepath.Dir(f))
		have[filepath.Base(filepath.Dir(f))] = true
	}
	for _, r := range required {
		if !have[r] {
			t.Errorf("missing testdata/%s/%s/%s", sub, r, file)
		}
	}
	return dirs
}

type modelConfig struct {
	ModelType  string `json:"model_type"`
	Vocab      int    `json:"vocab_size"`
	Hidden     int    `json:"hidden_size"`
	Layers     int    `json:"num_hidden_layers"`
	Heads      int    `json:"num_attention_heads"`
	Inter      int    `json:"intermediate_size"`
	MaxPos     int    `json:"max_position_embeddings"`
	TypeVocab  int    `json:"type_vocab_size"`
	PadTokenID int    `json:"pad_token_id"`
}

func backboneShapes(c modelConfig) map[string][]int {
	C := c.Hidden
	s := map[string][]int{
		"embeddings.word_embeddings.weight":       {c.Vocab, C},
		"embeddings.position_embeddings.weight":   {c.MaxPos, C},
		"embeddings.token_type_embeddings.weight": {c.TypeVocab, C},
		"embeddings.LayerNorm.weight":             {C},
		"embeddings.LayerNorm.bias":               {C},
		"pooler.dense.weight":                     {C, C},
		"pooler.dense.bias":                       {C},
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		for _, n := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			s[p+n+".weight"] = []int{C, C}
			s[p+n+".bias"] = []int{C}
		}
		for _, n := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
			s[p+n+".weight"] = []int{C}
			s[p+n+".bias"] = []int{C}
		}
		s[p+"intermediate.dense.weight"] = []int{c.Inter, C}
		s[p+"intermediate.dense.bias"] = []int{c.Inter}
		s[p+"output.dense.weight"] = []int{C, c.Inter}
		s[p+"output.dense.bias"] = []int{C}
	}
	return s
}

func TestModels(t *testing.T) {
	dirs := caseDirs(t, "models", "golden.safetensors",
		"bert-tiny", "roberta-tiny", "roberta-tiny-prefixed", "bert-tiny-gelu-new", "bert-tiny-relu")
	for _, d := range dirs {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			var c modelConfig
			readJSON(t, filepath.Join(d, "config.json"), &c)
			if strings.HasPrefix(c.ModelType, "deberta") {
				t.Skip("DeBERTa checkpoints have other weight names; model/deberta tests check them")
			}
			w := Load(t, filepath.Join(d, "model.safetensors"))
			prefix := ""
			if _, ok := w[c.ModelType+".embeddings.word_embeddings.weight"]; ok {
				prefix = c.ModelType + "."
			}
			want := backboneShapes(c)
			for n, s := range want {
				wantShape(t, w, prefix+n, "F32", s...)
			}
			for n, x := range w {
				if _, ok := want[strings.TrimPrefix(n, prefix)]; ok && strings.HasPrefix(n, prefix) {
					continue
				}
				// only the documented extras may be present
				if !(strings.HasPrefix(n, "cls.") || strings.HasPrefix(n, "lm_head.") ||
					n == prefix+"embeddings.position_ids") {
					t.Errorf("unexpected tensor %s %v", n, x.Shape)
				}
			}

			g := Load(t, filepath.Join(d, "golden.safetensors"))
			ids := g["input_ids"]
			if len(ids.Shape) != 2 {
				t.Fatalf("input_ids shape %v", ids.Shape)
			}
			B, T, C := ids.Shape[0], ids.Shape[1], c.Hidden
			wantShape(t, g, "attention_mask", "I64", B, T)
			tt := wantShape(t, g, "token_type_ids", "I64", B, T)
			wantShape(t, g, "last_hidden_state", "F32", B, T, C)
			wantShape(t, g, "last_hidden_state_f64", "F64", B, T, C)
			wantShape(t, g, "pooler_output", "F32", B, C)
			for l := 0; l <= c.Layers; l++ {
				wantShape(t, g, fmt.Sprintf("hidden_states.%d", l), "F32", B, T, C)
			}
			if !reflect.DeepEqual(g[fmt.Sprintf("hidden_states.%d", c.Layers)].F32, g["last_hidden_state"].F32) {
				t.Error("hidden_states.L != last_hidden_state")
			}
			mask := g["attention_mask"].I64
			for i, id := range ids.I64 {
				if id < 0 || int(id) >= c.Vocab || tt.I64[i] < 0 || int(tt.I64[i]) >= c.TypeVocab {
					t.Fatalf("id/type out of range at %d", i)
				}
				if (mask[i] == 0) != (int(id) == c.PadTokenID) {
					t.Fatalf("mask/pad mismatch at %d", i)
				}
			}
		})
	}
}

type adapterConfig struct {
	Method      string            `json:"method"`
	Reparam     string            `json:"reparam"`
	Rank        int               `json:"rank"`
	Activation  string            `json:"activation"`
	KronA       int               `json:"kron_a"`
	KronB       int               `json:"kron_b"`
	Task        string            `json:"task"`
	ProblemType string            `json:"problem_type"`
	NumLabels   int               `json:"num_labels"`
	NumChoices  int               `json:"num_choices"`
	ID2Label    map[string]string `json:"id2label"`
	ModelType   string            `json:"model_type"`
	Hidden      int               `json:"hidden_size"`
	Layers      int               `json:"num_hidden_layers"`
	Vocab       int               `json:"vocab_size"`
}

type hparams struct {
	BaseModel      string    `json:"base_model"`
	LR             float64   `json:"lr"`
	Betas          []float64 `json:"betas"`
	Eps            float64   `json:"eps"`
	WeightDecay    float64   `json:"weight_decay"`
	MaxGradNorm    *float64  `json:"max_grad_norm"`
	BatchSize      int       `json:"batch_size"`
	SeqLen         int       `json:"seq_len"`
	Steps          int       `json:"steps"`
	RoundoffDriven []string  `json:"roundoff_driven"`
}

func TestAoT(t *testing.T) {
	dirs := caseDirs(t, "aot", "golden.safetensors",
		"roberta-fc-gelu-cls", "roberta-kron-cls", "bert-fc-tanh-regression", "bert-kron-cls-wd",
		"bert-fc-relu-cls-clip", "roberta-fc-relu-multichoice", "roberta-fc-zero-init")
	for _, d := range dirs {
		t.Run(filepath.Base(d), func(t *testing.T) {
			var c adapterConfig
			var h hparams
			readJSON(t, filepath.Join(d, "init", "adapter_config.json"), &c)
			readJSON(t, filepath.Join(d, "hparams.json"), &h)
			if c.Method != "aot" || (c.Reparam != "fc" && c.Reparam != "kron") {
				t.Fatalf("bad config %+v", c)
			}
			if c.Reparam == "kron" && c.KronA*c.KronB < c.Vocab {
				t.Fatalf("kron_a*kron_b < vocab")
			}
			var mc modelConfig
			readJSON(t, filepath.Join(Dir(t), "models", h.BaseModel, "config.json"), &mc)
			if mc.ModelType != c.ModelType || mc.Vocab != c.Vocab || mc.Hidden != c.Hidden || mc.Layers != c.Layers {
				t.Fatalf("adapter config %+v does not match base %s", c, h.BaseModel)
			}
			init := Load(t, filepath.Join(d, "init", "adapter_model.safetensors"))
			g := Load(t, filepath.Join(d, "golden.safetensors"))
			d_, r := c.Hidden, c.Rank
			want := map[string][]int{}
			for l := 0; l < c.Layers; l++ {
				p := fmt.Sprintf("aot.layer.%d.", l)
				if c.Reparam == "fc" {
					want[p+"fc1.weight"] = []int{r, d_}
					want[p+"fc1.bias"] = []int{r}
					want[p+"fc2.weight"] = []int{d_, r}
					want[p+"fc2.bias"] = []int{d_}
				} else {
					want[p+"left"] = []int{c.KronA, r}
					want[p+"mid"] = []int{c.KronB, r}
					want[p+"right"] = []int{r * r, d_}
				}
				if rows, ok := g[fmt.Sprintf("rows.%d", l)]; ok && !reflect.DeepEqual(rows.Shape, []int{c.Vocab, d_}) {
					t.Errorf("rows.%d shape %v", l, rows.Shape)
				}
			}
			nOut := c.NumLabels
			if c.ProblemType == "multiple_choice" {
				nOut = 1
			}
			if c.ModelType == "roberta" && c.ProblemType != "multiple_choice" {
				want["classifier.dense.weight"] = []int{d_, d_}
				want["classifier.dense.bias"] = []int{d_}
				want["classifier.out_proj.weight"] = []int{nOut, d_}
				want["classifier.out_proj.bias"] = []int{nOut}
			} else {
				want["classifier.weight"] = []int{nOut, d_}
				want["classifier.bias"] = []int{nOut}
			}
			if len(init) != len(want) {
				t.Errorf("init has %d tensors, want %d: %v", len(init), len(want), Names(init))
			}
			for n, s := range want {
				wantShape(t, init, n, "F32", s...)
				wantShape(t, g, "grad."+n, "F32", s...)
				wantShape(t, g, "final."+n, "F32", s...)
			}
			wantShape(t, g, "loss", "F32", h.Steps)
			wantShape(t, g, "grad_norm", "F32", h.Steps)
			B, T := h.BatchSize, h.SeqLen
			in := []int{B, T}
			logits := []int{B, c.NumLabels}
			if c.ProblemType == "multiple_choice" {
				in = []int{B, c.NumChoices, T}
				logits = []int{B, c.NumChoices}
			}
			wantShape(t, g, "logits.0", "F32", logits...)
			for s := 0; s < h.Steps; s++ {
				for _, k := range []string{"input_ids", "attention_mask", "token_type_ids"} {
					wantShape(t, g, fmt.Sprintf("batch.%d.%s", s, k), "I64", in...)
				}
				if c.ProblemType == "regression" {
					wantShape(t, g, fmt.Sprintf("batch.%d.labels", s), "F32", B)
				} else {
					wantShape(t, g, fmt.Sprintf("batch.%d.labels", s), "I64", B)
				}
				for _, id := range g[fmt.Sprintf("batch.%d.input_ids", s)].I64 {
					if id < 0 || int(id) >= c.Vocab {
						t.Fatalf("token id %d out of range", id)
					}
				}
			}
			if bb, ok := g["logits.backbone"]; ok && !reflect.DeepEqual(bb.F32, g["logits.0"].F32) {
				t.Error("zero-init: logits.0 != logits.backbone")
			}
		})
	}
}
