package peft

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/model"
)

// LoRA (Hu et al., 2021) as HF PEFT implements it for a frozen linear
// projection y = W x + b:
//
//	y = W x + b + s · B A dropout(x),   s = lora_alpha / r   (use_rslora: lora_alpha / √r)
//
// A [r, in] starts as PEFT's reset_lora_parameters draws it (kaiming_uniform
// with a = √5, i.e. U(±1/√in)), B [out, r] at zero, so step 0 is the frozen
// backbone. The dropout acts on the LoRA branch's input only, in training
// only. The change is a LinearHook on the chosen projections; Merge folds it
// into a copy of the weights for single-task serving.
//
// The adapter directory is HF PEFT's own (task_type SEQ_CLS): the config has
// PEFT's keys beside aotp's, and the tensors carry the names
// get_peft_model_state_dict gives them on a transformers
// <Model>ForSequenceClassification / ForMultipleChoice:
//
//	base_model.model.<model_type>.encoder.layer.{l}.<module>.lora_A.weight   [r, in]
//	base_model.model.<model_type>.encoder.layer.{l}.<module>.lora_B.weight   [out, r]
//	base_model.model.classifier.<...>                     (modules_to_save "classifier")
//	base_model.model.<model_type>.pooler.dense.<...>      (modules_to_save "pooler", own pooler only)
//
// PEFT strips the adapter name ("lora_A.default.weight" → "lora_A.weight")
// and the ModulesToSaveWrapper's "modules_to_save.default." on save.
//
// DeBERTa. v2/v3 name the attention projections attention.self.query_proj,
// key_proj and value_proj (PEFT's default targets: query_proj, value_proj),
// which choose aotp's query/key/value sites. v1's single in_proj [3C, C]
// (PEFT's default target there) is one LoRA target with A [r, C] and
// B [3C, r] whose rows follow in_proj's head-interleaved layout: it acts at
// the query, key and value sites, each with its rows of B
// (model.InProjRow), one input dropout mask shared by the three as PEFT's
// single call of the module draws one.
// The task model's ContextPooler is "pooler" (not deberta.pooler). With
// share_att_key (every v3 checkpoint) PyTorch's query_proj/key_proj also
// project the relative embeddings, so PEFT's LoRA on them changes the
// c2p/p2c position terms too: LoRA is then also a model.PositionHook that
// adds s·B·A·dropout(rel) to the position tables (its own dropout mask,
// salt 1), and Merge gives the merged copy its own position cache.

// LoRA defaults (PEFT's LoraConfig defaults, except r and alpha: aotp's CLI).
const (
	DefaultLoraR     = 8
	DefaultLoraAlpha = 16
)

// LoraConfig holds HF PEFT's LoraConfig keys in adapter_config.json. Keys
// aotp cannot honour (DoRA, per-module rank or alpha patterns, lora_bias,
// fan_in_fan_out, bias other than "none", layer replication) are refused on
// load rather than ignored.
type LoraConfig struct {
	R                 int            `json:"r,omitempty"`
	LoraAlpha         float64        `json:"lora_alpha,omitempty"`
	LoraDropout       float64        `json:"lora_dropout,omitempty"`
	TargetModules     TargetModules  `json:"target_modules,omitempty"`
	ExcludeModules    TargetModules  `json:"exclude_modules,omitempty"`
	ModulesToSave     []string       `json:"modules_to_save,omitempty"`
	Bias              string         `json:"bias,omitempty"` // "none"
	FanInFanOut       *bool          `json:"fan_in_fan_out,omitempty"`
	UseRslora         *bool          `json:"use_rslora,omitempty"`
	UseDora           *bool          `json:"use_dora,omitempty"`
	LoraBias          *bool          `json:"lora_bias,omitempty"`
	InitLoraWeights   any            `json:"init_lora_weights,omitempty"`   // bool or a method name; init only
	LayersToTransform any            `json:"layers_to_transform,omitempty"` // int or [int]
	LayersPattern     any            `json:"layers_pattern,omitempty"`      // string or [string]
	RankPattern       map[string]any `json:"rank_pattern,omitempty"`
	AlphaPattern      map[string]any `json:"alpha_pattern,omitempty"`
	LayerReplication  any            `json:"layer_replication,omitempty"`
}

// TargetModules is PEFT's target_modules (and exclude_modules): a list of
// names, where a module is chosen when its full path equals a name or ends
// with "." + name (so "query" chooses every "...attention.self.query", and
// "output.dense" chooses both "attention.output.dense" and the FFN's
// "output.dense"); or one JSON string, a regular expression that must match
// the whole path (Python's re.fullmatch). The string form is held as the
// list's only element with the prefix "re:".
type TargetModules []string

const regexPrefix = "re:"

// UnmarshalJSON accepts a list of names or a single regular expression.
func (t *TargetModules) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*t = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*t = TargetModules{regexPrefix + s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("target_modules must be a list of names or a regular expression: %w", err)
	}
	*t = l
	return nil
}

// MarshalJSON writes the regular-expression form back as a string.
func (t TargetModules) MarshalJSON() ([]byte, error) {
	if re, ok := t.regex(); ok {
		return json.Marshal(re)
	}
	return json.Marshal([]string(t))
}

func (t TargetModules) regex() (string, bool) {
	if len(t) == 1 && strings.HasPrefix(t[0], regexPrefix) {
		return t[0][len(regexPrefix):], true
	}
	return "", false
}

// matcher returns PEFT's check_target_module_exists for the names.
func (t TargetModules) matcher() (func(path string) bool, error) {
	if pat, ok := t.regex(); ok {
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil {
			return nil, fmt.Errorf("target_modules regular expression %q: %v (Go's RE2 syntax: no look-around or back-references)", pat, err)
		}
		return re.MatchString, nil
	}
	names := slices.Clone([]string(t))
	return func(path string) bool {
		for _, n := range names {
			if path == n || strings.HasSuffix(path, "."+n) {
				return true
			}
		}
		return false
	}, nil
}

// LoRA is the method's state for one task.
type LoRA struct {
	Cfg     LoraConfig
	Scale   float32       // alpha / r (rsLoRA: alpha / √r)
	Targets []*LoraTarget // in layer, then forward order
	prefix  string        // the task model's base-model prefix: "roberta." / "bert." / "deberta."
	// sharedPos[l][site]: DeBERTa v2/v3 with share_att_key, whose query_proj
	// and key_proj also project the relative embeddings (see DeBERTa above)
	sharedPos positionSites
	bySite    [][model.NumSites]*LoraTarget

	// training: the options of the current ForwardTrain (nil: inference)
	// and its batch (the first one the hooks see after BeginPass)
	trainOpt   *model.TrainOptions
	trainBatch *model.Batch
	scratch    sync.Pool // *[]float32, inference and backward scratch
}

// LoraTarget is one adapted projection.
type LoraTarget struct {
	Layer   int
	Site    model.Site
	Path    string // HF module path in the task model, e.g. roberta.encoder.layer.0.attention.self.query
	In, Out int
	A, B    *model.Param // lora_A.weight [r, In], lora_B.weight [Out, r]

	// the last training forward pass, for the backward pass: of the
	// tokens' rows and of DeBERTa's relative embeddings (share_att_key)
	tok, pos loraPass
	// fused: DeBERTa v1's in_proj, Out = 3C, at the query, key and value
	// sites (Site is SiteQuery); rows[part] are the rows of B [3C, r] of
	// the query (0), key (1) and value (2) outputs, in their order
	fused bool
	rows  [3][]int
}

// fusedInProj makes the rows of a fused in_proj target with head size hd.
func (t *LoraTarget) fusedInProj(hd int) {
	t.fused = true
	C := t.Out / 3
	for part := range t.rows {
		t.rows[part] = make([]int, C)
		for j := range t.rows[part] {
			t.rows[part][j] = model.InProjRow(part, j, hd)
		}
	}
}

// loraPass keeps what a training forward pass of one target over N rows
// leaves for its backward.
type loraPass struct {
	z    []float32 // [N, r] A·dropout(x)
	xd   []float32 // [N, In] dropout(x), when the dropout is on
	drop model.Dropout
}

func init() {
	Register("lora", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		return NewLoRA(enc, cfg, seed)
	})
	RegisterPeftType("LORA", "lora")
}

// NewLoRA builds LoRA for enc from cfg's LoRA keys, filling in PEFT's
// defaults and keys in cfg, with PEFT's init (seeded).
func NewLoRA(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (*LoRA, error) {
	c := &cfg.LoraConfig
	if cfg.PeftType == "" {
		cfg.PeftType = "LORA"
	}
	if cfg.PeftType != "LORA" {
		return nil, fmt.Errorf("lora: peft_type %q, want \"LORA\"", cfg.PeftType)
	}
	if c.R == 0 {
		c.R = DefaultLoraR
	}
	if c.LoraAlpha == 0 {
		c.LoraAlpha = DefaultLoraAlpha
	}
	if c.Bias == "" {
		c.Bias = "none"
	}
	if len(c.TargetModules) == 0 {
		// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
		switch enc.Config.ModelType {
		case "deberta-v2":
			c.TargetModules = TargetModules{"query_proj", "value_proj"}
		case "deberta":
			c.TargetModules = TargetModules{"in_proj"}
		default:
			c.TargetModules = TargetModules{"query", "value"}
		}
	}
	f := false
	if c.FanInFanOut == nil {
		c.FanInFanOut = &f
	}
	if c.UseRslora == nil {
		c.UseRslora = &f
	}
	if c.UseDora == nil {
		c.UseDora = &f
	}
	if c.InitLoraWeights == nil {
		c.InitLoraWeights = true
	}
	t := true
	cfg.InferenceMode = &t // as PEFT's save_pretrained writes it
	if err := c.check(); err != nil {
		return nil, err
	}
	mc := enc.Config
	if err := checkWidth("lora: r", c.R, mc.HiddenSize); err != nil {
		return nil, err
	}
	m := &LoRA{Cfg: *c, prefix: mc.BaseModelPrefix() + "."}
	m.sharedPos = sharedPositions(enc)
	m.Scale = float32(c.LoraAlpha / float64(c.R))
	if *c.UseRslora {
		m.Scale = float32(c.LoraAlpha / math.Sqrt(float64(c.R)))
	}
	layers, err := c.layers(mc.NumHiddenLayers)
	if err != nil {
		return nil, err
	}
	robertaCls := mc.ModelType == "roberta" && cfg.ProblemType != model.MultipleChoice
	if err := m.selectTargets(enc, layers, robertaCls); err != nil {
		return nil, err
	}
	rng := newRand(seed ^ 0x10a)
	for _, t := range m.Targets {
		uniform(rng, t.A.Data, 1/math.Sqrt(float64(t.In)))
	}
	return m, nil
}

// check refuses PEFT options that would change the result but that aotp
// does not implement.
func (c *LoraConfig) check() error {
	switch {
	case c.R < 1:
		return fmt.Errorf("lora: r must be positive, got %d", c.R)
	case c.LoraDropout < 0 || c.LoraDropout >= 1:
		return fmt.Errorf("lora: lora_dropout must be in [0, 1), got %g", c.LoraDropout)
	case c.Bias != "none":
		return fmt.Errorf("lora: bias %q is not supported (only \"none\")", c.Bias)
	case *c.FanInFanOut:
		return fmt.Errorf("lora: fan_in_fan_out is for Conv1D layers (GPT-2); BERT/RoBERTa use nn.Linear")
	case *c.UseDora:
		return fmt.Errorf("lora: use_dora (DoRA) is not supported")
	case c.LoraBias != nil && *c.LoraBias:
		return fmt.Errorf("lora: lora_bias is not supported")
	case len(c.RankPattern) > 0 || len(c.AlphaPattern) > 0:
		return fmt.Errorf("lora: rank_pattern / alpha_pattern are not supported (one r and lora_alpha for all modules)")
	case c.LayerReplication != nil:
		return fmt.Errorf("lora: layer_replication is not supported")
	}
	return nil
}

// layers is layers_to_transform as a set (nil: all), which PEFT applies to
// list-form target_modules only.
func (c *LoraConfig) layers(L int) (map[int]bool, error) {
	if c.LayersToTransform == nil {
		return nil, nil
	}
	if _, isRe := c.TargetModules.regex(); isRe {
		return nil, nil
	}
	switch p := c.LayersPattern.(type) {
	case nil:
	case string:
		if p != "" && p != "layer" {
			return nil, fmt.Errorf("lora: layers_pattern %q does not name BERT's encoder.layer", p)
		}
	case []any:
		if len(p) > 0 && !slices.Contains(p, any("layer")) {
			return nil, fmt.Errorf("lora: layers_pattern %v does not name BERT's encoder.layer", p)
		}
	default:
		return nil, fmt.Errorf("lora: layers_pattern %v is not a string or a list", p)
	}
	var idx []any
	switch v := c.LayersToTransform.(type) {
	case float64:
		idx = []any{v}
	case []any:
		if len(v) == 0 {
			return nil, nil
		}
		idx = v
	default:
		return nil, fmt.Errorf("lora: layers_to_transform %v is not an integer or a list", v)
	}
	set := map[int]bool{}
	for _, x := range idx {
		f, ok := x.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || int(f) >= L {
			return nil, fmt.Errorf("lora: layers_to_transform entry %v is not a layer index in [0, %d)", x, L)
		}
		set[int(f)] = true
	}
	return set, nil
}

// selectTargets matches target_modules against the module paths of the
// transformers task model, as PEFT's check_target_module_exists does, and
// creates the factors of every chosen projection.
// robertaCls: the task model is RobertaForSequenceClassification (head
// classifier.dense and classifier.out_proj, no pooler); the others have a
// pooler and a Linear "classifier".
func (m *LoRA) selectTargets(enc *model.Encoder, layers map[int]bool, robertaCls bool) error {
	mc := enc.Config
	match, err := m.Cfg.TargetModules.matcher()
	if err != nil {
		return err
	}
	exclude := func(string) bool { return false }
	if len(m.Cfg.ExcludeModules) > 0 {
		if exclude, err = m.Cfg.ExcludeModules.matcher(); err != nil {
			return fmt.Errorf("exclude_modules: %w", err)
		}
	}
	chosen := func(path string) bool { return !exclude(path) && match(path) }
	// modules of the task model that are not encoder projections: PEFT
	// would wrap them too, aotp cannot, so naming one is an error
	p, mt := m.prefix, mc.ModelType
	others := []string{p + "embeddings.word_embeddings", p + "embeddings.position_embeddings",
		p + "embeddings.token_type_embeddings", "classifier"}
	switch {
	case robertaCls:
		others = append(others, "classifier.dense", "classifier.out_proj")
	case mc.IsDeberta():
		// DebertaV2ForSequenceClassification's ContextPooler is the task
		// model's own "pooler"; the encoder adds relative embeddings, the
		// convolution and (v1, v2 without share_att_key) position projections
		others = append(others, "pooler.dense", p+"embeddings.embed_proj", p+"encoder.rel_embeddings", p+"encoder.conv.conv")
		for l := 0; l < mc.NumHiddenLayers; l++ {
			for _, n := range []string{"pos_proj", "pos_q_proj", "pos_key_proj", "pos_query_proj"} {
				others = append(others, fmt.Sprintf("%sencoder.layer.%d.attention.self.%s", p, l, n))
			}
		}
	default:
		others = append(others, p+"pooler.dense")
	}
	for _, o := range others {
		if chosen(o) {
			return fmt.Errorf("lora: target_modules %v also choose %s; aotp adapts the encoder layers' projections only (%s)",
				[]string(m.Cfg.TargetModules), o, strings.Join(projectionNames(mt), ", "))
		}
	}
	m.bySite = make([][model.NumSites]*LoraTarget, mc.NumHiddenLayers)
	for l := 0; l < mc.NumHiddenLayers; l++ {
		if layers != nil && !layers[l] {
			continue
		}
		for s := model.Site(0); s < model.NumSites; s++ {
			if s.IsLayerNorm() {
				continue
			}
			path := fmt.Sprintf("%sencoder.layer.%d.%s", p, l, loraModule(mt, s))
			if !chosen(path) {
				continue
			}
			if mt == "deberta" && loraModule(mt, s) == debertaV1InProj {
				if s != model.SiteQuery {
					continue // one target for the three sites, made at the query's
				}
				C := mc.HiddenSize
				name := "base_model.model." + path
				t := &LoraTarget{Layer: l, Site: s, Path: path, In: C, Out: 3 * C,
					A: model.NewParam(name+".lora_A.weight", m.Cfg.R, C),
					B: model.NewParam(name+".lora_B.weight", 3*C, m.Cfg.R)}
				t.fusedInProj(C / mc.NumAttentionHeads)
				m.Targets = append(m.Targets, t)
				m.bySite[l][model.SiteQuery], m.bySite[l][model.SiteKey], m.bySite[l][model.SiteValue] = t, t, t
				continue
			}
			lin := linearAt(&enc.Layers[l], s)
			name := "base_model.model." + path
			t := &LoraTarget{Layer: l, Site: s, Path: path, In: lin.In, Out: lin.Out,
				A: model.NewParam(name+".lora_A.weight", m.Cfg.R, lin.In),
				B: model.NewParam(name+".lora_B.weight", lin.Out, m.Cfg.R)}
			m.Targets = append(m.Targets, t)
			m.bySite[l][s] = t
		}
	}
	if len(m.Targets) == 0 {
		return fmt.Errorf("lora: target_modules %v match no module of the model (e.g. %sencoder.layer.0.%s; use %s)",
			[]string(m.Cfg.TargetModules), p, projectionNames(mt)[0], strings.Join(projectionNames(mt), ", "))
	}
	return nil
}

// debertaV1InProj is DeBERTa v1's one module for query, key and value.
const debertaV1InProj = "attention.self.in_proj"

// loraModule is the HF module path of a projection site inside
// encoder.layer.{l} of a model type: aotp's sites carry BERT's names, which
// RoBERTa shares; DeBERTa v2/v3 name the attention projections query_proj,
// key_proj and value_proj, and v1 has one in_proj for all three.
func loraModule(modelType string, s model.Site) string {
	switch s {
	case model.SiteQuery, model.SiteKey, model.SiteValue:
		switch modelType {
		case "deberta-v2":
			return s.String() + "_proj"
		case "deberta":
			return debertaV1InProj
		}
	}
	return s.String()
}

// projectionNames are the module paths LoRA can adapt in a model type.
func projectionNames(modelType string) []string {
	var n []string
	for s := model.Site(0); s < model.NumSites; s++ {
		if name := loraModule(modelType, s); !s.IsLayerNorm() && !slices.Contains(n, name) {
			n = append(n, name)
		}
	}
	return n
}

// linearAt is the projection of a layer at a site.
func linearAt(L *model.BertLayer, s model.Site) *model.Linear {
	switch s {
	case model.SiteQuery:
		return &L.Attention.Self.Query
	case model.SiteKey:
		return &L.Attention.Self.Key
	case model.SiteValue:
		return &L.Attention.Self.Value
	case model.SiteAttnOut:
		return &L.Attention.Output.Dense
	case model.SiteIntermediate:
		return &L.Intermediate.Dense
	case model.SiteOutput:
		return &L.Output.Dense
	}
	panic("lora: no projection at " + s.String())
}

// Params lists lora_A and lora_B of every target, under PEFT's names.
func (m *LoRA) Params() []*model.Param {
	ps := make([]*model.Param, 0, 2*len(m.Targets))
	for _, t := range m.Targets {
		ps = append(ps, t.A, t.B)
	}
	return ps
}

// AttachHead gives the head PEFT's names (modules_to_save) and records it
// in the config (HeadAttacher).
func (m *LoRA) AttachHead(h *model.Head, cfg *AdapterConfig) {
	save := []string{"classifier"}
	for _, p := range h.Params() {
		if strings.HasPrefix(p.Name, "pooler.") {
			// aotp's own pooler is the task model's <model_type>.pooler;
			// DeBERTa's ContextPooler is the task model's own "pooler"
			if m.prefix != "deberta." {
				p.Name = "base_model.model." + m.prefix + p.Name
			} else {
				p.Name = "base_model.model." + p.Name
			}
			if !slices.Contains(save, "pooler") {
				save = append(save, "pooler")
			}
			continue
		}
		p.Name = "base_model.model." + p.Name
	}
	cfg.ModulesToSave = save
	m.Cfg.ModulesToSave = save
	cfg.TaskType = "SEQ_CLS"
}

// BeginPass notes whether the next pass trains (model.PassHook). It writes
// nothing when an inference pass follows another, so concurrent inference
// passes stay read-only.
func (m *LoRA) BeginPass(opt *model.TrainOptions) {
	if opt == nil {
		if m.trainOpt != nil || m.trainBatch != nil {
			m.trainOpt, m.trainBatch = nil, nil
		}
		return
	}
	o := *opt
	m.trainOpt, m.trainBatch = &o, nil
}

// training reports whether b belongs to the current training pass (the
// pass's batch or one the encoder derived from it); the sub-batches of
// mixed serving never do.
func (m *LoRA) training(b *model.Batch) bool {
	if m.trainOpt == nil {
		return false
	}
	r := b.Root()
	if m.trainBatch == nil {
		m.trainBatch = r
	}
	return m.trainBatch == r
}

func (m *LoRA) getScratch(n int) *[]float32 {
	p, _ := m.scratch.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	*p = grow(*p, n)
	return p
}

// AfterLinear adds s·B·A·dropout(x) to a chosen projection's output
// (model.LinearHook). Row-wise: any sub-batch gives its rows' result.
func (m *LoRA) AfterLinear(l int, site model.Site, out, inp []float32, b *model.Batch) error {
	t := m.target(l, site)
	if t == nil {
		return nil
	}
	if t.fused {
		return m.forwardPart(t, int(site-model.SiteQuery), out, inp, b)
	}
	return m.forward(t, &t.tok, 0, out, inp, b.N(), b)
}

// LinearBackward accumulates dA, dB and adds the LoRA branch's input
// gradient into dInp (model.LinearBackwardHook); it needs the training
// pass's ForwardTrain.
func (m *LoRA) LinearBackward(l int, site model.Site, dOut, inp, dInp []float32, b *model.Batch) error {
	t := m.target(l, site)
	if t == nil {
		return nil
	}
	if t.fused {
		return m.backwardPart(t, int(site-model.SiteQuery), dOut, inp, dInp, b)
	}
	return m.backward(t, &t.tok, dOut, inp, dInp, b.N(), b)
}

// PositionGroup: with share_att_key, an adapted query_proj or key_proj
// also projects DeBERTa's relative embeddings (model.PositionHook).
func (m *LoRA) PositionGroup(l int, site model.Site, s int, b *model.Batch) int {
	if m.target(l, site) == nil {
		return -1
	}
	return m.sharedPos.group(l, site)
}

// AfterPositions adds s·B·A·dropout(rel) to the position table out [R, C]
// (model.PositionHook).
func (m *LoRA) AfterPositions(l int, site model.Site, g int, out, rel []float32, b *model.Batch) error {
	t := m.target(l, site)
	if t == nil {
		return nil
	}
	return m.forward(t, &t.pos, 1, out, rel, len(rel)/t.In, b)
}

// PositionsBackward accumulates dA, dB from the position table's gradient
// (model.PositionBackwardHook).
func (m *LoRA) PositionsBackward(l int, site model.Site, g int, dOut, rel []float32, b *model.Batch) error {
	t := m.target(l, site)
	if t == nil {
		return nil
	}
	return m.backward(t, &t.pos, dOut, rel, nil, len(rel)/t.In, b)
}

func (m *LoRA) target(l int, site model.Site) *LoraTarget {
	if l < 0 || l >= len(m.bySite) || site < 0 || site >= model.NumSites {
		return nil
	}
	return m.bySite[l][site]
}

// forward adds s·(dropout(x)·Aᵀ)·Bᵀ to out [N, Out] from x [N, In], keeping
// z (and the dropped x) in ps when training; salt tells the dropout masks
// of the tokens (0) and of the relative embeddings (1) apart.
func (m *LoRA) forward(t *LoraTarget, ps *loraPass, salt int, out, x []float32, N int, b *model.Batch) error {
	return m.forwardWith(t, ps, salt, out, x, N, b, t.B.Data, t.Out, false)
}

// forwardPart adds a fused in_proj target's share to one of its three
// outputs out [N, C]: s·z·B_partᵀ. In training z (and the dropout mask) are
// made at the query site and reused at the key and value sites, which see
// the same input.
func (m *LoRA) forwardPart(t *LoraTarget, part int, out, x []float32, b *model.Batch) error {
	bp := m.getScratch(t.In * m.Cfg.R)
	defer m.scratch.Put(bp)
	gatherRowsF(*bp, t.B.Data, t.rows[part], m.Cfg.R)
	return m.forwardWith(t, &t.tok, 0, out, x, b.N(), b, *bp, t.In, part > 0)
}

// forwardWith is forward with the up factor Bw [outW, r]; reuse takes z from
// the training pass's ps instead of computing it (fused in_proj's key and
// value sites).
func (m *LoRA) forwardWith(t *LoraTarget, ps *loraPass, salt int, out, x []float32, N int, b *model.Batch, Bw []float32, outW int, reuse bool) error {
	r := m.Cfg.R
	if N == 0 {
		return nil
	}
	if len(x) != N*t.In || len(out) != N*outW {
		return fmt.Errorf("lora %s: got [%d]→[%d] values for %d rows of [%d]→[%d]", t.Path, len(x), len(out), N, t.In, outW)
	}
	var z []float32
	switch {
	case m.training(b) && reuse:
		if len(ps.z) != N*r {
			return fmt.Errorf("lora %s: key/value site before the query site", t.Path)
		}
		z = ps.z
	case m.training(b):
		ps.drop = model.NewMethodDropout(m.trainOpt, m.Cfg.LoraDropout, t.Layer, t.Site, salt)
		if ps.drop.Active() {
			ps.xd = grow(ps.xd, N*t.In)
			copy(ps.xd, x)
			ps.drop.ApplyFor(ps.xd, b)
			x = ps.xd
		}
		ps.z = grow(ps.z, N*r)
		z = ps.z
		gemm.Sgemm(false, true, N, r, t.In, 1, x, t.In, t.A.Data, t.In, 0, z, r) // z = x·Aᵀ [N, r]
	default:
		sp := m.getScratch(N * r)
		defer m.scratch.Put(sp)
		z = *sp
		gemm.Sgemm(false, true, N, r, t.In, 1, x, t.In, t.A.Data, t.In, 0, z, r)
	}
	gemm.Sgemm(false, true, N, outW, r, m.Scale, z, r, Bw, r, 1, out, outW) // out += s · z·Bᵀ
	return nil
}

// backward is forward's backward pass from dOut [N, Out]: dB += s·dOutᵀ·z,
// dA += dzᵀ·dropout(x) with dz = s·dOut·B, and, when dInp is not nil,
// dInp += dropoutᵀ(dz·A).
func (m *LoRA) backward(t *LoraTarget, ps *loraPass, dOut, x, dInp []float32, N int, b *model.Batch) error {
	return m.backwardWith(t, ps, dOut, x, dInp, N, b, t.B.Data, t.B.Grad, t.Out)
}

// backwardPart is forwardPart's backward: its rows of dB, and its share of
// dA and of the input gradient (the three parts' shares add up).
func (m *LoRA) backwardPart(t *LoraTarget, part int, dOut, x, dInp []float32, b *model.Batch) error {
	r, C, rows := m.Cfg.R, t.In, t.rows[part]
	bp, db := m.getScratch(C*r), m.getScratch(C*r)
	defer m.scratch.Put(bp)
	defer m.scratch.Put(db)
	gatherRowsF(*bp, t.B.Data, rows, r)
	clear(*db)
	if err := m.backwardWith(t, &t.tok, dOut, x, dInp, b.N(), b, *bp, *db, C); err != nil {
		return err
	}
	for j, row := range rows { // B_part's gradient into B's rows
		g := t.B.Grad[row*r : (row+1)*r]
		for k, v := range (*db)[j*r : (j+1)*r] {
			g[k] += v
		}
	}
	return nil
}

// backwardWith is backward with the up factor Bw [outW, r] and its gradient
// dB (accumulated).
func (m *LoRA) backwardWith(t *LoraTarget, ps *loraPass, dOut, x, dInp []float32, N int, b *model.Batch, Bw, dB []float32, outW int) error {
	r := m.Cfg.R
	if N == 0 {
		return nil
	}
	if m.trainBatch != b.Root() || len(ps.z) != N*r {
		return fmt.Errorf("lora %s: backward without its training forward pass", t.Path)
	}
	if ps.drop.Active() {
		x = ps.xd
	}
	gemm.Sgemm(true, false, outW, r, N, m.Scale, dOut, outW, ps.z, r, 1, dB, r)
	sp := m.getScratch(N * r)
	defer m.scratch.Put(sp)
	dz := *sp
	gemm.Sgemm(false, false, N, r, outW, m.Scale, dOut, outW, Bw, r, 0, dz, r)
	gemm.Sgemm(true, false, r, t.In, N, 1, dz, r, x, t.In, 1, t.A.Grad, t.In)
	if dInp == nil {
		return nil
	}
	if !ps.drop.Active() {
		gemm.Sgemm(false, false, N, t.In, r, 1, dz, r, t.A.Data, t.In, 1, dInp, t.In)
		return nil
	}
	dp := m.getScratch(N * t.In)
	defer m.scratch.Put(dp)
	dx := *dp
	gemm.Sgemm(false, false, N, t.In, r, 1, dz, r, t.A.Data, t.In, 0, dx, t.In)
	ps.drop.ApplyFor(dx, b)
	for i, v := range dx {
		dInp[i] += v
	}
	return nil
}

// gatherRowsF writes dst[j] = src[rows[j]] for rows of w floats.
func gatherRowsF(dst, src []float32, rows []int, w int) {
	for j, row := range rows {
		copy(dst[j*w:(j+1)*w], src[row*w:(row+1)*w])
	}
}

// Merge returns a copy of enc whose adapted projections have the merged
// weights W' = W + s·B·A, for single-task serving without the hooks (the
// result equals enc with LoRA's hooks up to float rounding). enc is left
// unchanged: its weights are read-only views of the checkpoint, so the
// merged weights are new slices, set in a copy of the Encoder struct and of
// its layer slice; everything else (embeddings, LayerNorms, other
// projections, the pooler) is shared with enc. The copy's changed Linears
// carry no packed weights (call PackWeights on the copy to pack them).
// Close enc, not the copy (which shares enc's mapped file), and only when
// done with both. Do not pass the LoRA as hooks to the merged copy.
func (m *LoRA) Merge(enc *model.Encoder) (*model.Encoder, error) {
	return m.mergeScaled(enc, m.Scale)
}

// Unmerge is Merge's inverse, PEFT's unmerge: a copy of merged with
// W = W' − s·B·A on the adapted projections (equal to the original
// weights up to float rounding).
func (m *LoRA) Unmerge(merged *model.Encoder) (*model.Encoder, error) {
	return m.mergeScaled(merged, -m.Scale)
}

func (m *LoRA) mergeScaled(enc *model.Encoder, s float32) (*model.Encoder, error) {
	if len(enc.Layers) != len(m.bySite) {
		return nil, fmt.Errorf("lora: model has %d layers, the adapter %d", len(enc.Layers), len(m.bySite))
	}
	c := enc.ShallowCopy() // with share_att_key, its own position projections of the merged q/k
	r := m.Cfg.R
	for _, t := range m.Targets {
		if t.fused {
			// W_part' = W_part + s·B_part·A for the query, key and value
			for part, site := range []model.Site{model.SiteQuery, model.SiteKey, model.SiteValue} {
				lin := linearAt(&c.Layers[t.Layer], site)
				bp := make([]float32, lin.Out*r)
				gatherRowsF(bp, t.B.Data, t.rows[part], r)
				w := slices.Clone(lin.Weight)
				gemm.Sgemm(false, false, lin.Out, lin.In, r, s, bp, r, t.A.Data, lin.In, 1, w, lin.In)
				*lin = model.Linear{Weight: w, Bias: lin.Bias, In: lin.In, Out: lin.Out}
			}
			continue
		}
		lin := linearAt(&c.Layers[t.Layer], t.Site)
		if lin.In != t.In || lin.Out != t.Out {
			return nil, fmt.Errorf("lora %s: model projection is [%d, %d], the adapter's [%d, %d]", t.Path, lin.Out, lin.In, t.Out, t.In)
		}
		w := slices.Clone(lin.Weight)
		gemm.Sgemm(false, false, t.Out, t.In, r, s, t.B.Data, r, t.A.Data, t.In, 1, w, t.In)
		*lin = model.Linear{Weight: w, Bias: lin.Bias, In: lin.In, Out: lin.Out}
	}
	return c, nil
}
