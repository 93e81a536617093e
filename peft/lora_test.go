package peft

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// allSites are the six projections, as PEFT target_modules.
var allSites = []string{"query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"}

// newLoRA builds a LoRA adapter with a head and non-zero B (PEFT's B = 0
// would hide the A gradient and every LoRA effect).
func newLoRA(t testing.TB, enc *model.Encoder, cfg *AdapterConfig, seed uint64) *Adapter {
	t.Helper()
	if cfg.Method == "" {
		cfg.Method = "lora"
	}
	a, err := New(enc, cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 77))
	for _, tg := range a.Method.(*LoRA).Targets {
		copy(tg.B.Data, randn(r, len(tg.B.Data), 0.3))
	}
	return a
}

func loraCfg(targets ...string) *AdapterConfig {
	return &AdapterConfig{Method: "lora", LoraConfig: LoraConfig{R: 4, LoraAlpha: 8, TargetModules: targets},
		Task: "custom", ProblemType: model.SingleLabel, NumLabels: 3}
}

// LoRA's gradients through the whole encoder agree with finite differences,
// with the model's dropout and LoRA's own input dropout on. On DeBERTa-v3
// (share_att_key) query_proj's and key_proj's LoRA also changes the
// position tables, and their gradients include that path.
func TestFDLoRAEncoder(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v1-tiny"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			sites := allSites
			switch enc.Config.ModelType {
			case "deberta-v2":
				sites = append([]string{"query_proj", "key_proj", "value_proj"}, allSites[3:]...)
			case "deberta":
				sites = append([]string{"in_proj"}, allSites[3:]...)
			}
			cfg := loraCfg(sites...)
			cfg.LoraDropout = 0.2
			a := newLoRA(t, enc, cfg, 3)
			m := a.Method.(*LoRA)
			perLayer := len(sites)
			if len(m.Targets) != perLayer*enc.Config.NumHiddenLayers {
				t.Fatalf("%d targets, want every projection", len(m.Targets))
			}
			loss, backward := encoderLoss(t, enc, aotBatch(enc.Config.VocabSize), m, 7, 8, 2)
			loss()
			backward()
			const h = fdH
			for _, p := range m.Params() {
				checkFD(t, p.Name, p.Data, slices.Clone(p.Grad), loss, nil, h, fdTol)
			}
			t0, t1 := m.Targets[0], m.Targets[perLayer] // layer 0's and layer 1's first
			mustFailFD(t, "layer 0 query A with layer 1's query gradient", t0.A.Data, t1.A.Grad, loss, nil, h, fdTol)
			// the dropout is in the gradient: the same gradient without it is wrong
			m2 := a.Method.(*LoRA)
			m2.Cfg.LoraDropout = 0
			for _, p := range m.Params() {
				p.ZeroGrad()
			}
			loss()
			backward()
			g := slices.Clone(t0.A.Grad)
			m2.Cfg.LoraDropout = 0.2
			mustFailFD(t, "A gradient without LoRA's dropout", t0.A.Data, g, loss, nil, h, fdTol)
		})
	}
}

func logitsOf(t testing.TB, enc *model.Encoder, a *Adapter, b *model.Batch) []float32 {
	t.Helper()
	out, err := enc.Forward(context.Background(), b, &model.Workspace{}, a.Method)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Head.Forward(out, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(l)
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// A saved LoRA adapter is a PEFT directory (PEFT's keys and tensor names)
// and loads back to the same logits; batching does not change a
// sequence's result; inference applies no dropout even right after a
// training pass with dropout.
func TestLoRASaveLoadBatched(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			cfg := loraCfg("query", "value", "output.dense")
			cfg.LoraDropout = 0.1
			a := newLoRA(t, enc, cfg, 9)
			b := testBatch(enc.Config.VocabSize)
			want := logitsOf(t, enc, a, b)
			dir := t.TempDir()
			if err := Save(dir, a.Config, a.Params()); err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]any{"peft_type": "LORA", "task_type": "SEQ_CLS", "r": 4.0, "lora_alpha": 8.0,
				"lora_dropout": 0.1, "bias": "none", "fan_in_fan_out": false, "use_rslora": false, "inference_mode": true,
				"method": "lora", "model_type": enc.Config.ModelType} {
				if raw[k] != v {
					t.Errorf("adapter_config.json %q = %v, want %v", k, raw[k], v)
				}
			}
			if got := raw["modules_to_save"]; len(got.([]any)) != 1 || got.([]any)[0] != "classifier" {
				t.Errorf("modules_to_save = %v", got)
			}
			f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			names := f.Names()
			f.Close()
			mt := enc.Config.ModelType
			for _, n := range []string{
				"base_model.model." + mt + ".encoder.layer.0.attention.self.query.lora_A.weight",
				"base_model.model." + mt + ".encoder.layer.1.attention.self.value.lora_B.weight",
				// "output.dense" is a suffix of both: PEFT takes both
				"base_model.model." + mt + ".encoder.layer.1.attention.output.dense.lora_A.weight",
				"base_model.model." + mt + ".encoder.layer.1.output.dense.lora_B.weight",
			} {
				if !slices.Contains(names, n) {
					t.Errorf("tensor %q missing from %v", n, names)
				}
			}
			for _, p := range a.Head.Params() {
				if !strings.HasPrefix(p.Name, "base_model.model.classifier.") || !slices.Contains(names, p.Name) {
					t.Errorf("head tensor %q: not saved as PEFT's modules_to_save \"classifier\"", p.Name)
				}
			}
			if len(names) != 2*4*enc.Config.NumHiddenLayers+len(a.Head.Params()) {
				t.Errorf("%d tensors: %v", len(names), names)
			}
			back, err := Load(enc, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := logitsOf(t, enc, back, b); maxAbsDiff(got, want) != 0 {
				t.Fatalf("reloaded logits differ by %g", maxAbsDiff(got, want))
			}
			// a training pass with both dropouts, then inference again
			st := &model.TrainState{}
			if _, err := enc.ForwardTrain(context.Background(), b, st, a.Method, model.TrainOptions{Dropout: 0.1, Seed: 1, Step: 1}); err != nil {
				t.Fatal(err)
			}
			if got := logitsOf(t, enc, a, b); maxAbsDiff(got, want) != 0 {
				t.Fatalf("inference after a training pass differs by %g (dropout left on?)", maxAbsDiff(got, want))
			}
			// each sequence alone
			K := a.Head.NumLabels
			for s := 0; s < b.B(); s++ {
				lo, hi := b.Seq(s)
				one := logitsOf(t, enc, a, model.NewBatch([][]int32{b.IDs[lo:hi]}, nil))
				if d := maxAbsDiff(one, want[s*K:(s+1)*K]); d > 1e-5 {
					t.Fatalf("sequence %d alone differs from batched by %g", s, d)
				}
			}
		})
	}
}

// A mixed batch of a LoRA task, an AoT task and a plain sequence gives each
// sequence exactly what running it alone gives.
func TestLoRAMixedServing(t *testing.T) {
	enc, aot := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
	lora := newLoRA(t, enc, loraCfg(allSites...), 4)
	b := testBatch(enc.Config.VocabSize)
	adapters := []*Adapter{lora, aot, nil, lora}
	var seqs []TaskSeq
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		seqs = append(seqs, TaskSeq{Adapter: adapters[s], IDs: b.IDs[lo:hi]})
	}
	p := &MixedPredictor{Enc: enc}
	got, hidden, err := p.Predict(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	C := enc.Config.HiddenSize
	for s, sq := range seqs {
		one := model.NewBatch([][]int32{sq.IDs}, nil)
		var hooks model.Hooks
		if sq.Adapter != nil {
			hooks = sq.Adapter.Method
		}
		out, err := enc.Forward(context.Background(), one, &model.Workspace{}, hooks)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := b.Seq(s)
		if d := maxAbsDiff(hidden[lo*C:hi*C], out.LastHiddenState); d != 0 {
			t.Fatalf("sequence %d: hidden states differ from alone by %g", s, d)
		}
		if sq.Adapter == nil {
			continue
		}
		want, _ := sq.Adapter.Head.Forward(out, one, nil)
		if d := maxAbsDiff(got[s], want); d != 0 {
			t.Fatalf("sequence %d: logits differ from alone by %g", s, d)
		}
	}
}

// Merged weights give the hooked model's logits (1e-5), Unmerge restores
// the weights, the original encoder is untouched, and a fresh adapter
// (PEFT's init: B = 0) is exactly the frozen backbone.
func TestLoRAMergeAndZeroInit(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			fresh, err := New(enc, loraCfg(allSites...), 2)
			if err != nil {
				t.Fatal(err)
			}
			b := testBatch(enc.Config.VocabSize)
			plain, err := enc.Forward(context.Background(), b, &model.Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantBackbone, _ := fresh.Head.Forward(plain, b, nil)
			wantBackbone = slices.Clone(wantBackbone)
			if d := maxAbsDiff(logitsOf(t, enc, fresh, b), wantBackbone); d != 0 {
				t.Fatalf("B = 0 differs from the frozen backbone by %g", d)
			}
			a := newLoRA(t, enc, loraCfg(allSites...), 5)
			m := a.Method.(*LoRA)
			orig := slices.Clone(enc.Layers[1].Output.Dense.Weight)
			hooked := logitsOf(t, enc, a, b)
			merged, err := m.Merge(enc)
			if err != nil {
				t.Fatal(err)
			}
			out, err := merged.Forward(context.Background(), b, &model.Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := a.Head.Forward(out, b, nil)
			if d := maxAbsDiff(got, hooked); d > 1e-5 {
				t.Fatalf("merged logits differ from hooked by %g", d)
			}
			if d := maxAbsDiff(hooked, wantBackbone); d < 1e-3 {
				t.Fatalf("LoRA changed the logits by only %g: the merge check is vacuous", d)
			}
			if d := maxAbsDiff(enc.Layers[1].Output.Dense.Weight, orig); d != 0 {
				t.Fatalf("Merge changed the original weights by %g", d)
			}
			un, err := m.Unmerge(merged)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(un.Layers[1].Output.Dense.Weight, orig); d > 1e-6 {
				t.Fatalf("Unmerge left the weights %g away from the original", d)
			}
			out, _ = un.Forward(context.Background(), b, &model.Workspace{}, a.Method)
			got, _ = a.Head.Forward(out, b, nil)
			if d := maxAbsDiff(got, hooked); d > 1e-5 {
				t.Fatalf("unmerged + hooks differ from hooked by %g", d)
			}
		})
	}
}

// PEFT's target_modules rule: exact path or "." suffix, or a regex over the
// whole path; layers_to_transform; modules aotp cannot adapt are refused.
func TestLoRATargets(t *testing.T) {
	bert, roberta := loadModel(t, "bert-tiny"), loadModel(t, "roberta-tiny")
	paths := func(enc *model.Encoder, c *AdapterConfig) []string {
		t.Helper()
		a, err := New(enc, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		var p []string
		for _, tg := range a.Method.(*LoRA).Targets {
			p = append(p, tg.Path)
		}
		return p
	}
	if got := paths(bert, loraCfg("output.dense")); !slices.Equal(got, []string{
		"bert.encoder.layer.0.attention.output.dense", "bert.encoder.layer.0.output.dense",
		"bert.encoder.layer.1.attention.output.dense", "bert.encoder.layer.1.output.dense"}) {
		t.Errorf("output.dense chose %v", got)
	}
	if got := paths(roberta, loraCfg("roberta.encoder.layer.1.attention.self.key")); !slices.Equal(got, []string{"roberta.encoder.layer.1.attention.self.key"}) {
		t.Errorf("a full path chose %v", got)
	}
	c := loraCfg()
	c.TargetModules = TargetModules{regexPrefix + `.*\.layer\.0\.attention\.self\.(query|value)`}
	if got := paths(roberta, c); !slices.Equal(got, []string{"roberta.encoder.layer.0.attention.self.query", "roberta.encoder.layer.0.attention.self.value"}) {
		t.Errorf("regex chose %v", got)
	}
	c = loraCfg("query", "value")
	c.LayersToTransform = []any{1.0}
	if got := paths(bert, c); !slices.Equal(got, []string{"bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.attention.self.value"}) {
		t.Errorf("layers_to_transform [1] chose %v", got)
	}
	c = loraCfg()
	if got := paths(bert, c); len(got) != 4 || !strings.HasSuffix(got[0], "query") || !strings.HasSuffix(got[1], "value") {
		t.Errorf("default targets %v, want query and value", got)
	}
	for _, bad := range []struct {
		enc  *model.Encoder
		cfg  *AdapterConfig
		want string
	}{
		{bert, loraCfg("dense"), "bert.pooler.dense"},
		{roberta, loraCfg("dense"), "classifier.dense"},
		{bert, loraCfg("word_embeddings"), "word_embeddings"},
		{bert, loraCfg("q_proj"), "match no module"},
		{bert, &AdapterConfig{Method: "lora", LoraConfig: LoraConfig{Bias: "all"}}, "bias"},
		{bert, &AdapterConfig{Method: "lora", LoraConfig: LoraConfig{RankPattern: map[string]any{"query": 2.0}}}, "rank_pattern"},
	} {
		if _, err := New(bad.enc, bad.cfg, 1); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: error %v, want one naming %q", bad.cfg.TargetModules, err, bad.want)
		}
	}
	// the regex form round-trips through JSON as a string
	data, _ := json.Marshal(TargetModules{regexPrefix + "a.*"})
	var back TargetModules
	if string(data) != `"a.*"` || json.Unmarshal(data, &back) != nil || back[0] != regexPrefix+"a.*" {
		t.Errorf("regex target_modules JSON %s -> %v", data, back)
	}
}

// A directory exactly as HF PEFT writes it (PEFT's keys only, no aotp keys)
// loads with the head inferred from its tensors and gives the PyTorch
// reference's logits (tools/reference/lora_golden.py).
func TestLoRAPeftDirectory(t *testing.T) {
	dir := filepath.Join(golden.Dir(t), "lora", "peft-dir-roberta")
	enc := loadModel(t, "roberta-tiny")
	a, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Config
	if !c.PeftOnly() || c.Method != "lora" || c.ProblemType != model.SingleLabel || c.NumLabels != 3 || c.ID2Label["2"] != "LABEL_2" {
		t.Fatalf("config from a PEFT directory: %+v", c)
	}
	g := golden.Load(t, filepath.Join(dir, "golden.safetensors"))
	ids, mask := g["batch.0.input_ids"], g["batch.0.attention_mask"]
	T := ids.Shape[len(ids.Shape)-1]
	var seqs [][]int32
	for s := 0; s < len(ids.I64)/T; s++ {
		var sq []int32
		for i := 0; i < T; i++ {
			if mask.I64[s*T+i] != 0 {
				sq = append(sq, int32(ids.I64[s*T+i]))
			}
		}
		seqs = append(seqs, sq)
	}
	got := logitsOf(t, enc, a, model.NewBatch(seqs, nil))
	if d := maxAbsDiff(got, g["logits.0"].F32); d > 1e-5 {
		t.Fatalf("logits differ from PyTorch by %g", d)
	}
	// saving it writes aotp's keys too; it loads as an aotp directory then
	out := t.TempDir()
	if err := Save(out, a.Config, a.Params()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(enc, out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config.PeftOnly() || maxAbsDiff(logitsOf(t, enc, back, model.NewBatch(seqs, nil)), got) != 0 {
		t.Fatal("re-saved PEFT directory does not load to the same adapter")
	}
}

// TestLoRAExportForPython writes an aotp LoRA directory and the logits of a
// few inputs for the reference's reverse check (not run by default):
//
//	AOTP_LORA_EXPORT=/tmp/lora-export go test ./peft -run TestLoRAExportForPython
//	/usr/bin/python3 tools/reference/lora_golden.py --check-dir /tmp/lora-export/<model> --model <model>
//
// (the DeBERTa directories are for tools/device/hf_check.py, which loads
// them with the real transformers + PEFT.)
func TestLoRAExportForPython(t *testing.T) {
	root := os.Getenv("AOTP_LORA_EXPORT")
	if root == "" {
		t.Skip("set AOTP_LORA_EXPORT to a directory")
	}
	for _, name := range []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v1-tiny"} {
		enc := loadModel(t, name)
		cfg := loraCfg("query", "key", "intermediate.dense", "output.dense")
		switch enc.Config.ModelType {
		case "deberta-v2":
			cfg = loraCfg("query_proj", "key_proj", "intermediate.dense", "output.dense")
		case "deberta":
			cfg = loraCfg("in_proj", "intermediate.dense", "output.dense")
		}
		cfg.LayersToTransform = []any{0.0, 1.0}
		r := rand.New(rand.NewPCG(1, 2))
		a := newLoRA(t, enc, cfg, 11)
		for _, p := range a.Head.Params() {
			copy(p.Data, randn(r, len(p.Data), 0.2))
		}
		dir := filepath.Join(root, name)
		if err := Save(dir, a.Config, a.Params()); err != nil {
			t.Fatal(err)
		}
		type ex struct {
			IDs    []int32   `json:"input_ids"`
			Types  []int32   `json:"token_type_ids"`
			Logits []float32 `json:"logits"`
		}
		var exs []ex
		b := testBatch(enc.Config.VocabSize)
		for s := 0; s < b.B(); s++ {
			lo, hi := b.Seq(s)
			one := model.NewBatch([][]int32{b.IDs[lo:hi]}, nil)
			exs = append(exs, ex{IDs: b.IDs[lo:hi], Types: make([]int32, hi-lo), Logits: logitsOf(t, enc, a, one)})
		}
		data, _ := json.Marshal(map[string]any{"examples": exs})
		if err := os.WriteFile(filepath.Join(dir, "check_batch.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loraMethod is LoRA on all six projections in the equivalence matrix
// (matrix_test.go). LoRA has no fused inference form on a shared backbone
// (Merge makes a new encoder: TestLoRAMergeAndZeroInit), so Fuse is a no-op.
type loraMethod struct{}

func (loraMethod) Config() AdapterConfig {
	return AdapterConfig{Method: "lora", LoraConfig: LoraConfig{R: 4, LoraAlpha: 8, TargetModules: TargetModules{
		regexPrefix + `.*\.layer\.\d+\.(attention\.self\.((query|key|value)(_proj)?|in_proj)|attention\.output\.dense|intermediate\.dense|output\.dense)`}}}
}

// Randomize draws A and B (PEFT's B = 0 would hide every LoRA path) and the head.
func (loraMethod) Randomize(a *Adapter, seed uint64) {
	randomizeParams(a.Method.Params(), seed^0x10a, 0.3)
	randomizeHead(a, seed)
}

func (loraMethod) ZeroLast(a *Adapter) {
	for _, tg := range a.Method.(*LoRA).Targets {
		clear(tg.B.Data)
	}
}

func (loraMethod) Hook(a *Adapter) model.Hooks      { return a.Method }
func (loraMethod) Fuse(a *Adapter) error            { return nil }
func (loraMethod) Mixed(seq []*Adapter) model.Hooks { return linearMixed(seq) }

func init() {
	matrixMethods = append(matrixMethods, struct {
		name string
		m    matrixMethod
	}{"lora", loraMethod{}})
}

// DeBERTa v2/v3 names its attention projections query_proj, key_proj and
// value_proj: PEFT's usual targets choose aotp's query/key/value sites, the
// tensors carry HF's module paths (the ContextPooler is the task model's
// own "pooler"), and a trained adapter loads back to the same logits. v1's
// fused in_proj is refused.
func TestLoRADeberta(t *testing.T) {
	enc := loadModel(t, "deberta-v3-tiny")
	cfg := loraCfg("query_proj", "value_proj")
	a, err := New(enc, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := a.Method.(*LoRA)
	var sites []model.Site
	for _, tg := range m.Targets {
		sites = append(sites, tg.Site)
	}
	if want := []model.Site{model.SiteQuery, model.SiteValue, model.SiteQuery, model.SiteValue}; !slices.Equal(sites, want) {
		t.Fatalf("query_proj, value_proj chose sites %v, want %v", sites, want)
	}
	// a few training steps from PEFT's init (B = 0)
	b := testBatch(enc.Config.VocabSize)
	r := rand.New(rand.NewPCG(5, 6))
	w := randn(r, b.N()*enc.Config.HiddenSize, 1)
	st := &model.TrainState{}
	for step := range 3 {
		if _, err := enc.ForwardTrain(context.Background(), b, st, m, model.TrainOptions{Dropout: 0.1, Seed: 2, Step: uint64(step)}); err != nil {
			t.Fatal(err)
		}
		if err := enc.Backward(context.Background(), st, slices.Clone(w), nil, m); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params() {
			for i, g := range p.Grad {
				p.Data[i] -= 0.05 * g
			}
			p.ZeroGrad()
		}
	}
	for _, tg := range m.Targets {
		if maxAbsDiff(tg.B.Data, make([]float32, len(tg.B.Data))) == 0 {
			t.Fatalf("%s: lora_B still zero after training", tg.Path)
		}
	}
	randomizeHead(a, 5)
	want := logitsOf(t, enc, a, b)
	dir := t.TempDir()
	if err := Save(dir, a.Config, a.Params()); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	f.Close()
	var wantNames []string
	for l := range enc.Config.NumHiddenLayers {
		for _, mod := range []string{"query_proj", "value_proj"} {
			for _, ab := range []string{"lora_A", "lora_B"} {
				wantNames = append(wantNames, fmt.Sprintf("base_model.model.deberta.encoder.layer.%d.attention.self.%s.%s.weight", l, mod, ab))
			}
		}
	}
	wantNames = append(wantNames, "base_model.model.pooler.dense.weight", "base_model.model.pooler.dense.bias",
		"base_model.model.classifier.weight", "base_model.model.classifier.bias")
	slices.Sort(wantNames)
	slices.Sort(names)
	if !slices.Equal(names, wantNames) {
		t.Errorf("saved tensors\n%v\nwant\n%v", names, wantNames)
	}
	if ms := a.Config.ModulesToSave; !slices.Equal(ms, []string{"classifier", "pooler"}) {
		t.Errorf("modules_to_save %v", ms)
	}
	back, err := Load(enc, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := logitsOf(t, enc, back, b); maxAbsDiff(got, want) != 0 {
		t.Fatalf("reloaded logits differ by %g", maxAbsDiff(got, want))
	}

	// share_att_key: query_proj and key_proj also project the relative
	// embeddings; the merged copy (its own position cache) equals the hooks
	// (position hooks included), and the backbone's cache stays frozen
	plain := func() []float32 {
		out, err := enc.Forward(context.Background(), b, &model.Workspace{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out.LastHiddenState)
	}
	before := plain()
	qk := newLoRA(t, enc, loraCfg("query_proj", "key_proj", "value_proj"), 6)
	for _, tg := range qk.Method.(*LoRA).Targets {
		uniform(newRand(uint64(tg.Layer)+7), tg.B.Data, 0.3)
	}
	merged, err := qk.Method.(*LoRA).Merge(enc)
	if err != nil {
		t.Fatal(err)
	}
	hooked := logitsOf(t, enc, qk, b)
	out, err := merged.Forward(context.Background(), b, &model.Workspace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := qk.Head.Forward(out, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(ml, hooked); d > 1e-5 {
		t.Errorf("merged query/key/value_proj differ from hooked by %g", d)
	}
	if d := maxAbsDiff(plain(), before); d != 0 {
		t.Errorf("the backbone changed by %g after a merged copy ran", d)
	}

	// PEFT's default for deberta-v2 is query_proj and value_proj
	def, err := New(enc, loraCfg(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if tg := def.Method.(*LoRA).Targets; len(tg) != 4 || !strings.HasSuffix(tg[0].Path, "query_proj") || !strings.HasSuffix(tg[1].Path, "value_proj") {
		t.Errorf("default targets %v", tg)
	}
	// BERT's names choose nothing on DeBERTa, as in PEFT
	if _, err := New(enc, loraCfg("query", "value"), 1); err == nil || !strings.Contains(err.Error(), "query_proj") {
		t.Errorf("BERT's names on DeBERTa: error %v, want one naming query_proj", err)
	}
	if _, err := New(enc, loraCfg("dense"), 1); err == nil || !strings.Contains(err.Error(), "pooler.dense") {
		t.Errorf("\"dense\" on DeBERTa: error %v, want one naming the pooler", err)
	}
	// v1: in_proj (query, key and value in one module, PEFT's default there)
	// is one target of PEFT's shapes; merging it equals the hooks
	v1 := loadModel(t, "deberta-v1-tiny")
	for _, c := range []*AdapterConfig{loraCfg("in_proj"), loraCfg()} {
		a, err := New(v1, c, 1)
		if err != nil {
			t.Fatalf("v1 %v: %v", c.TargetModules, err)
		}
		tg := a.Method.(*LoRA).Targets
		C := v1.Config.HiddenSize
		if len(tg) != 2 || tg[0].Path != "deberta.encoder.layer.0.attention.self.in_proj" || len(tg[0].B.Data) != 3*C*4 || len(tg[0].A.Data) != 4*C {
			t.Fatalf("v1 %v chose %+v", c.TargetModules, tg[0])
		}
	}
	ip := newLoRA(t, v1, loraCfg("in_proj", "value_proj"), 8)
	hooked1 := logitsOf(t, v1, ip, b)
	merged1, err := ip.Method.(*LoRA).Merge(v1)
	if err != nil {
		t.Fatal(err)
	}
	out1, err := merged1.Forward(context.Background(), b, &model.Workspace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ml1, err := ip.Head.Forward(out1, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(ml1, hooked1); d > 1e-5 {
		t.Errorf("merged v1 in_proj differs from hooked by %g", d)
	}
	a1, err := New(v1, loraCfg("attention.output.dense"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if tg := a1.Method.(*LoRA).Targets; len(tg) != 2 || tg[0].Path != "deberta.encoder.layer.0.attention.output.dense" {
		t.Errorf("v1 attention.output.dense chose %v", tg)
	}
}
