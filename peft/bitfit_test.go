package peft

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
)

// bitfitMethod is BitFit in the equivalence matrix (matrix_test.go).
type bitfitMethod struct{}

func (bitfitMethod) Config() AdapterConfig { return AdapterConfig{Method: "bitfit"} }

// Randomize moves every bias away from the backbone's value.
func (bitfitMethod) Randomize(a *Adapter, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0xb1f))
	for _, p := range a.Method.Params() {
		for i, v := range randn(r, p.Numel(), 0.3) {
			p.Data[i] += v
		}
	}
	randomizeHead(a, seed)
}

// ZeroLast puts every bias back to the backbone's value.
func (bitfitMethod) ZeroLast(a *Adapter) {
	m := a.Method.(*BitFit)
	copy(m.Emb.Data, m.emb0)
	for l := range m.Sites {
		for s, p := range m.Sites[l] {
			if p != nil {
				copy(p.Data, m.frozen[l][s])
			}
		}
	}
	for l := range m.Pos {
		for i, p := range m.Pos[l] {
			if p != nil {
				copy(p.Data, m.pos0[l][i])
			}
		}
	}
	for _, pb := range []struct {
		p *model.Param
		b []float32
	}{{m.Rel, m.rel0}, {m.Conv, m.conv0}, {m.ConvNorm, m.convN0}} {
		if pb.p != nil {
			copy(pb.p.Data, pb.b)
		}
	}
}

func (bitfitMethod) Hook(a *Adapter) model.Hooks      { return a.Method }
func (bitfitMethod) Fuse(a *Adapter) error            { return nil }
func (bitfitMethod) Mixed(seq []*Adapter) model.Hooks { return linearMixed(seq) }
func randomizeHead(a *Adapter, seed uint64)           { randomizeParams(a.Head.Params(), seed, 0.1) }
func randomizeParams(ps []*model.Param, seed uint64, std float64) {
	r := rand.New(rand.NewPCG(seed, 0x4ead))
	for _, p := range ps {
		copy(p.Data, randn(r, p.Numel(), std))
	}
}

// linearMixed dispatches a mixed batch of LinearHook methods (BitFit,
// adapters) the way MixedPredictor does.
func linearMixed(seq []*Adapter) model.Hooks {
	m := &mixedLinear{}
	for _, a := range seq {
		var h model.LinearHook
		if a != nil {
			h = a.Method.(model.LinearHook)
		}
		m.Seq = append(m.Seq, h)
	}
	return m
}

func init() {
	matrixMethods = append(matrixMethods, struct {
		name string
		m    matrixMethod
	}{"bitfit", bitfitMethod{}})
}

// The trained biases are the backbone's, under the task model's names.
func TestBitFitParams(t *testing.T) {
	for _, c := range []struct{ model, prefix string }{{"roberta-tiny", "roberta."}, {"bert-tiny", "bert."}, {"roberta-tiny-prefixed", "roberta."}} {
		enc := loadModel(t, c.model)
		cfg := &AdapterConfig{Method: "bitfit"}
		a, err := New(enc, cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		ps := a.Method.Params()
		if want := 1 + 8*enc.Config.NumHiddenLayers; len(ps) != want {
			t.Fatalf("%s: %d biases, want %d", c.model, len(ps), want)
		}
		if ps[0].Name != c.prefix+"embeddings.LayerNorm.bias" || !identical(ps[0].Data, enc.Embeddings.LayerNorm.Bias) {
			t.Errorf("%s: first param %s", c.model, ps[0].Name)
		}
		L1 := &enc.Layers[1]
		for _, want := range []struct {
			name string
			data []float32
		}{
			{"encoder.layer.0.attention.self.query.bias", enc.Layers[0].Attention.Self.Query.Bias},
			{"encoder.layer.1.attention.output.LayerNorm.bias", L1.Attention.Output.LayerNorm.Bias},
			{"encoder.layer.1.intermediate.dense.bias", L1.Intermediate.Dense.Bias},
			{"encoder.layer.1.output.LayerNorm.bias", L1.Output.LayerNorm.Bias},
		} {
			found := false
			for _, p := range ps {
				if p.Name == c.prefix+want.name {
					found = true
					if !identical(p.Data, want.data) || p.Shape[0] != len(want.data) {
						t.Errorf("%s: %s does not start at the backbone's value", c.model, p.Name)
					}
				}
			}
			if !found {
				t.Errorf("%s: no param %s", c.model, c.prefix+want.name)
			}
		}
	}
}

// bitfitFDBatch has sequences of different lengths and token types.
func bitfitFDBatch(V, typeVocab int) *model.Batch {
	b := aotBatch(V)
	if typeVocab < 2 {
		return b
	}
	types := make([][]int32, b.B())
	for s := range types {
		lo, hi := b.Seq(s)
		types[s] = make([]int32, hi-lo)
		for i := (hi - lo) / 2; i < hi-lo; i++ {
			types[s][i] = 1
		}
	}
	var seqs [][]int32
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		seqs = append(seqs, b.IDs[lo:hi])
	}
	return model.NewBatch(seqs, types)
}

// encoderFD checks every param of a (LinearHook method) through ForwardTrain
// and Backward with dropout on, the loss reading last_hidden_state and
// pooler_output. skip names params whose true gradient is 0; kinks as in
// fdErr (nil: none).
// poolerLoss is the pooler output's part of the FD tests' loss (DeBERTa
// has no pooler).
func poolerLoss(wp, pooled []float32) float64 {
	if pooled == nil {
		return 0
	}
	return dot64(wp, pooled)
}

func encoderFD(t *testing.T, enc *model.Encoder, m Method, skip func(string) bool, kinks func(loss func() float64) func() []float32) {
	t.Helper()
	loss, backward := encoderLoss(t, enc, bitfitFDBatch(enc.Config.VocabSize, enc.Config.TypeVocabSize), m, 5, 6, 1)
	loss()
	for _, p := range m.Params() {
		p.ZeroGrad()
	}
	backward()
	var k func() []float32
	if kinks != nil {
		k = kinks(loss)
	}
	ps := m.Params()
	for _, p := range ps {
		g := clone(p.Grad)
		if skip != nil && skip(p.Name) {
			// the true gradient is 0: what is there is float roundoff
			var gmax float64
			for _, v := range g {
				gmax = math.Max(gmax, math.Abs(float64(v)))
			}
			if gmax > 1e-4 {
				t.Errorf("%s: gradient should be ~0, max |g| = %.3g", p.Name, gmax)
			}
			continue
		}
		checkFD(t, p.Name, p.Data, g, loss, k, fdH, fdTol)
	}
	// negative control: a parameter with the gradient of another of its shape
	for i := len(ps) - 1; i > 0; i-- {
		for j := i - 1; j >= 0; j-- {
			if ps[j].Numel() == ps[i].Numel() && (skip == nil || !skip(ps[j].Name) && !skip(ps[i].Name)) {
				mustFailFD(t, fmt.Sprintf("%s with %s's gradient", ps[i].Name, ps[j].Name), ps[i].Data, ps[j].Grad, loss, k, fdH, fdTol)
				return
			}
		}
	}
}

// A key bias shifts every attention score of a query row by the same
// amount: softmax ignores it, so its gradient is exactly 0 in exact
// arithmetic (PyTorch's is roundoff noise too).
// (Not so in DeBERTa: the key bias enters p2c as b·PQ_r(i,j), which varies
// along a row, so its gradient is checked. But the bias of DeBERTa's own c2p
// key projection, pos_key_proj, enters only c2p as q_i·b: zero again.)
func isKeyBias(name string) bool {
	return strings.HasSuffix(name, "attention.self.key.bias") || strings.HasSuffix(name, "attention.self.pos_key_proj.bias")
}

// Every bias's gradient (each linear site, each LayerNorm, the embeddings'
// LayerNorm through the embeddings' dropout) agrees with finite differences
// through the whole encoder; on DeBERTa-v3 the query bias's includes the
// p2c position terms (share_att_key).
func TestFDBitFitEncoder(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny", "deberta-v3-tiny", "deberta-v1-tiny", "deberta-v2-tiny-noshare", "deberta-v2-tiny-conv"} {
		t.Run(name, func(t *testing.T) {
			enc := loadModel(t, name)
			m, err := NewBitFit(enc)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(7, 8))
			for _, p := range m.Params() {
				for i, v := range randn(r, p.Numel(), 0.3) {
					p.Data[i] += v
				}
			}
			encoderFD(t, enc, m, isKeyBias, nil)
		})
	}
}

// LinearBackward and EmbeddingsBackward only read the gradient.
func TestBitFitBackwardLeavesGradient(t *testing.T) {
	enc := loadModel(t, "bert-tiny")
	m, err := NewBitFit(enc)
	if err != nil {
		t.Fatal(err)
	}
	C := enc.Config.HiddenSize
	b := model.NewBatch([][]int32{{2, 5, 7}}, nil)
	d := randn(rand.New(rand.NewPCG(1, 2)), 3*C, 1)
	d0 := clone(d)
	if err := m.LinearBackward(0, model.SiteAttnLayerNorm, d, nil, nil, b); err != nil {
		t.Fatal(err)
	}
	if err := m.EmbeddingsBackward(d, b); err != nil {
		t.Fatal(err)
	}
	if !identical(d, d0) {
		t.Fatal("the backward changed dOut")
	}
	p := m.Sites[0][model.SiteAttnLayerNorm]
	for i := 0; i < C; i++ {
		if want := d[i] + d[C+i] + d[2*C+i]; math.Abs(float64(p.Grad[i]-want)) > 1e-6 {
			t.Fatalf("grad[%d] = %g, want Σ rows = %g", i, p.Grad[i], want)
		}
	}
}

// BitFit's DeBERTa-only biases (the relative embeddings' LayerNorm, v2's
// convolution block) act as the backbone with those biases replaced would:
// in a training pass with dropout (the shift goes through the relative
// embeddings' dropout mask, the conv bias through the conv's) and in
// inference.
func TestBitFitDebertaBiasesEqualReplaced(t *testing.T) {
	for _, name := range []string{"deberta-v3-tiny", "deberta-v2-tiny-conv"} {
		t.Run(name, func(t *testing.T) {
			enc, ref := loadModel(t, name), loadModel(t, name)
			m, err := NewBitFit(enc)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, 12))
			d := ref.Deberta
			replaced := 0
			for _, pb := range []struct {
				p   *model.Param
				dst *[]float32
			}{{m.Rel, &d.LayerNorm.Bias}, {m.Conv, convField(d, false)}, {m.ConvNorm, convField(d, true)}} {
				if pb.p == nil {
					continue
				}
				for i, v := range randn(r, pb.p.Numel(), 0.5) {
					pb.p.Data[i] += v
				}
				*pb.dst = clone(pb.p.Data) // the checkpoint's tensor may be read-only
				replaced++
			}
			if want := map[string]int{"deberta-v3-tiny": 1, "deberta-v2-tiny-conv": 3}[name]; replaced != want {
				t.Fatalf("%d DeBERTa-only biases, want %d", replaced, want)
			}
			b := bitfitFDBatch(enc.Config.VocabSize, enc.Config.TypeVocabSize)
			opt := model.TrainOptions{Dropout: 0.1, Seed: 3, Step: 2}
			got, err := enc.ForwardTrain(context.Background(), b, &model.TrainState{}, m, opt)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.ForwardTrain(context.Background(), b, &model.TrainState{}, nil, opt)
			if err != nil {
				t.Fatal(err)
			}
			gradClose(t, "training (dropout) last_hidden_state", got.LastHiddenState, want.LastHiddenState, 1e-5)
			got, err = enc.Forward(context.Background(), b, &model.Workspace{}, m)
			if err != nil {
				t.Fatal(err)
			}
			want, err = ref.Forward(context.Background(), b, &model.Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			gradClose(t, "inference last_hidden_state", got.LastHiddenState, want.LastHiddenState, 1e-5)
		})
	}
}

// convField is where ref's conv.bias (norm false) or conv.LayerNorm.bias
// lives; a dummy for models without the convolution.
func convField(d *model.DebertaEncoder, norm bool) *[]float32 {
	if d.Conv == nil {
		return new([]float32)
	}
	if norm {
		return &d.Conv.LayerNorm.Bias
	}
	return &d.Conv.Bias
}

// A DeBERTa BitFit adapter saved before BitFit trained the biases outside
// the layers (no encoder.LayerNorm.bias, no encoder.conv biases) still
// loads, with the backbone's values there, as it was trained; a missing
// layer bias is still an error.
func TestBitFitLoadsAdaptersWithoutDebertaExtras(t *testing.T) {
	enc := loadModel(t, "deberta-v2-tiny-conv")
	a, err := New(enc, &AdapterConfig{Method: "bitfit", Task: "t", ProblemType: model.SingleLabel, NumLabels: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	bitfitMethod{}.Randomize(a, 3)
	m := a.Method.(*BitFit)
	extras := map[string]bool{m.Rel.Name: true, m.Conv.Name: true, m.ConvNorm.Name: true}
	write := func(dir string, skip func(string) bool) {
		var ts []safetensors.Tensor
		for _, p := range a.Params() {
			if !skip(p.Name) {
				ts = append(ts, safetensors.F32Tensor(p.Name, p.Shape, p.Data))
			}
		}
		if err := Save(dir, a.Config, a.Params()); err != nil {
			t.Fatal(err)
		}
		if err := safetensors.Write(filepath.Join(dir, WeightsFile), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	old := t.TempDir()
	write(old, func(n string) bool { return extras[n] })
	back, err := Load(enc, old)
	if err != nil {
		t.Fatalf("an adapter without the DeBERTa extras: %v", err)
	}
	defer back.Close()
	bm := back.Method.(*BitFit)
	for _, pb := range []struct {
		p *model.Param
		b []float32
	}{{bm.Rel, enc.Deberta.LayerNorm.Bias}, {bm.Conv, enc.Deberta.Conv.Bias}, {bm.ConvNorm, enc.Deberta.Conv.LayerNorm.Bias}} {
		if !identical(pb.p.Data, pb.b) {
			t.Errorf("%s: not the backbone's value after loading a file without it", pb.p.Name)
		}
	}
	if !identical(bm.Sites[1][model.SiteValue].Data, m.Sites[1][model.SiteValue].Data) {
		t.Error("the layer biases in the file were not loaded")
	}
	broken := t.TempDir()
	missing := m.Sites[0][model.SiteQuery].Name
	write(broken, func(n string) bool { return n == missing })
	if _, err := Load(enc, broken); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a file without %s: got %v, want an error naming it", missing, err)
	}
}
