package peft

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// Adapter is a method's tensors plus the task head, for one task.
type Adapter struct {
	Config *AdapterConfig
	Method Method      // the method's state; also the hooks to pass to the encoder
	AoT    *AoT        // Method when it is AoT P-Tuning, else nil
	Head   *model.Head // nil when the adapter has no head
	file   *safetensors.File
}

// Params lists the trainable tensors: method first, then head.
func (a *Adapter) Params() []*model.Param {
	ps := a.Method.Params()
	if a.Head != nil {
		ps = append(ps, a.Head.Params()...)
	}
	return ps
}

// New builds a freshly initialised adapter for cfg on enc.
func New(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (*Adapter, error) {
	cfg.SetBase(enc.Config)
	m, err := newMethod(enc, cfg, seed)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Config: cfg, Method: m}
	a.AoT, _ = m.(*AoT)
	if cfg.ProblemType != "" {
		if err := a.addHead(enc, seed); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// HeadAttacher is implemented by methods whose adapter directory follows
// another library's layout (LoRA: HF PEFT's modules_to_save): New hands
// them the task head, whose params they may rename (the names the tensors
// have in adapter_model.safetensors) and record in the config.
type HeadAttacher interface {
	AttachHead(h *model.Head, cfg *AdapterConfig)
}

// addHead builds the head of a.Config's task.
func (a *Adapter) addHead(enc *model.Encoder, seed uint64) error {
	cfg := a.Config
	h, err := model.NewHead(enc.Config, cfg.ProblemType, cfg.NumLabels, cfg.NumChoices)
	if err != nil {
		return err
	}
	if h.NeedsPooler() && enc.Pooler == nil {
		h.AddPooler()
	}
	initHead(h, seed)
	if ha, ok := a.Method.(HeadAttacher); ok {
		ha.AttachHead(h, cfg)
	}
	a.Head = h
	return nil
}

// headFromFile completes the config of a directory written by HF PEFT,
// which records no task: the head follows from the classifier tensors in
// f (found by their HF names as a suffix, whatever the method's prefix), as
// transformers does: num_labels = rows of the output layer, 1 meaning
// regression. Without classifier tensors the adapter has no head.
func (a *Adapter) headFromFile(enc *model.Encoder, f *safetensors.File, path string) error {
	cfg := a.Config
	find := func(name string) []int {
		for _, n := range f.Names() {
			if n == name || strings.HasSuffix(n, "."+name) {
				ti, _ := f.Info(n)
				return ti.Shape
			}
		}
		return nil
	}
	out := find("classifier.out_proj.weight") // RoBERTa's classification head
	if out == nil {
		out = find("classifier.weight")
		if out != nil && enc.Config.ModelType == "roberta" {
			// RoBERTa's only pooled head is RobertaForMultipleChoice
			if cfg.NumChoices < 2 {
				return fmt.Errorf("%s: a multiple-choice head (classifier.weight on a RoBERTa model) needs \"num_choices\" in %s", path, ConfigFile)
			}
			cfg.ProblemType, cfg.NumLabels = model.MultipleChoice, cfg.NumChoices
		}
	}
	if out == nil {
		return nil
	}
	if len(out) != 2 || out[1] != enc.Config.HiddenSize || out[0] < 1 {
		return fmt.Errorf("%s: classifier weight has shape %v, want [num_labels, %d]", path, out, enc.Config.HiddenSize)
	}
	if cfg.ProblemType == "" {
		cfg.NumLabels, cfg.ProblemType = out[0], model.SingleLabel
		if out[0] == 1 {
			cfg.ProblemType = model.Regression
		}
	}
	if cfg.ProblemType == model.SingleLabel && cfg.ID2Label == nil {
		cfg.ID2Label = map[string]string{}
		for i := 0; i < cfg.NumLabels; i++ {
			cfg.ID2Label[fmt.Sprint(i)] = fmt.Sprintf("LABEL_%d", i) // transformers' default names
		}
	}
	return a.addHead(enc, 0)
}

// Load reads an adapter directory for enc, checking that it was trained on
// the same backbone shape. A fused adapter's tables stay memory-mapped:
// Close the adapter when done with it.
func Load(enc *model.Encoder, dir string) (*Adapter, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckBase(enc.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	a, err := New(enc, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	if a.Head == nil && cfg.PeftOnly() {
		if err := a.headFromFile(enc, f, path); err != nil {
			f.Close()
			return nil, err
		}
	}
	var isTable func(string) bool
	if a.AoT != nil && cfg.Reparam == "fused" {
		m := a.AoT
		for l := range m.Layers {
			if m.Layers[l].Table, err = tableFromFile(f, path, l, m.V, m.C, cfg.Dtype); err != nil {
				f.Close()
				return nil, err
			}
		}
		isTable = func(n string) bool {
			return strings.HasPrefix(n, "aot.layer.") && (strings.HasSuffix(n, ".table") || strings.HasSuffix(n, ".scale"))
		}
	}
	ps := a.Params()
	imp, _ := a.Method.(Importer)
	if imp != nil {
		ps = imp.Import()
		if a.Head != nil {
			ps = append(ps, a.Head.Params()...)
		}
	}
	if err := loadParamsFrom(f, path, ps, isTable); err != nil {
		f.Close()
		return nil, err
	}
	if imp != nil {
		if err := imp.Imported(); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if isTable != nil {
		a.file = f // the tables are views into it
	} else {
		f.Close()
	}
	return a, nil
}

// Exporter is implemented by methods whose adapter file holds other
// tensors than they train (P-Tuning v2 with its prefix MLP stores the
// projected prefixes).
type Exporter interface {
	Export(cfg *AdapterConfig) (*AdapterConfig, []*model.Param)
}

// Importer is Exporter's inverse, for methods whose file tensors are not
// the ones they train: Load reads the file into the Params Import returns,
// then Imported sets the trained ones from them.
type Importer interface {
	Import() []*model.Param
	Imported() error
}

// Save writes the adapter directory: the method's tensors (as exported)
// and the head.
func (a *Adapter) Save(dir string) error {
	cfg, ps := a.Config, a.Method.Params()
	if e, ok := a.Method.(Exporter); ok {
		cfg, ps = e.Export(a.Config)
	}
	if a.Head != nil {
		ps = append(append([]*model.Param(nil), ps...), a.Head.Params()...)
	}
	return Save(dir, cfg, ps)
}

// DropGrads releases the gradient buffers of every tensor, for an adapter
// that only serves: they are as large as the tensors, so unfused factors
// (many tasks in one server) would take twice their size. The adapter can
// no longer be trained afterwards.
func (a *Adapter) DropGrads() {
	for _, p := range a.Params() {
		p.Grad = nil
	}
	if imp, ok := a.Method.(Importer); ok {
		for _, p := range imp.Import() {
			p.Grad = nil
		}
	}
}

// Close releases a fused adapter's mapped file.
func (a *Adapter) Close() error {
	if a.file == nil {
		return nil
	}
	err := a.file.Close()
	a.file = nil
	return err
}

// Fuse converts the adapter's AoT factors into tables of dtype, in memory.
func (a *Adapter) Fuse(dtype string) error {
	if a.AoT == nil {
		return fmt.Errorf("method %q has no tables to fuse (only aot)", a.Config.Method)
	}
	if err := a.AoT.Fuse(dtype); err != nil {
		return err
	}
	a.Config.Dtype = dtype
	return nil
}

// SaveFused writes a fused copy of the adapter to dir: tables in their
// dtype, the head in float32, reparam "fused" in the config.
func (a *Adapter) SaveFused(dir string) error {
	if a.AoT == nil || !a.AoT.Fused() {
		return fmt.Errorf("adapter is not fused")
	}
	cfg := *a.Config
	cfg.FusedFrom = cfg.Reparam
	if cfg.Reparam == "fused" {
		cfg.FusedFrom = a.Config.FusedFrom
	}
	cfg.Reparam = "fused"
	var tables []safetensors.Tensor
	for l := range a.AoT.Layers {
		tables = append(tables, a.AoT.Layers[l].Table.Tensors(l)...)
	}
	var head []*model.Param
	if a.Head != nil {
		head = a.Head.Params()
	}
	return Save(dir, &cfg, head, tables...)
}

// initHead draws the head's weights like HF's _init_weights: normal with
// std initializer_range (0.02), biases zero.
func initHead(h *model.Head, seed uint64) {
	r := newRand(seed ^ 0x4ead)
	for _, p := range h.Params() {
		if len(p.Shape) == 2 {
			for i := range p.Data {
				p.Data[i] = float32(r.NormFloat64() * 0.02)
			}
		}
	}
}
