package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
)

// DeBERTa goldens: tools/reference/deberta_golden.py (DEBERTA.md).
var debertaGoldenModels = []string{"deberta-v3-tiny", "deberta-v2-tiny-conv", "deberta-v2-tiny-noshare", "deberta-v1-tiny"}

// loadGoldenModel loads the tiny golden checkpoint name (closed when the
// test ends) and its golden tensors.
func loadGoldenModel(t *testing.T, name string) (*Encoder, map[string]golden.Tensor) {
	t.Helper()
	dir := filepath.Join(golden.Dir(t), "models", name)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, golden.Load(t, filepath.Join(dir, "golden.safetensors"))
}

// debertaHead builds the classification head with the golden's weights.
func debertaHead(t *testing.T, m *Encoder, g map[string]golden.Tensor) *Head {
	t.Helper()
	K := g["head.classifier.bias"].Shape[0]
	h, err := NewHead(m.Config, SingleLabel, K, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != "deberta" {
		t.Fatalf("head kind %q, want deberta", h.Kind)
	}
	for _, p := range h.Params() {
		src, ok := g["head."+p.Name]
		if !ok {
			t.Fatalf("golden has no head.%s", p.Name)
		}
		copy(p.Data, src.F32)
	}
	return h
}

func TestDebertaGoldenForward(t *testing.T) {
	for _, name := range debertaGoldenModels {
		t.Run(name, func(t *testing.T) {
			m, g := loadGoldenModel(t, name)
			out, b := checkGoldenHidden(t, m, g)
			C := m.Config.HiddenSize
			// ContextPooler + classifier, as DebertaForSequenceClassification
			h := debertaHead(t, m, g)
			logits, err := h.Forward(out, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]int, b.B())
			for s := range first {
				first[s] = s
			}
			closeTo(t, "pooler_output", h.x, g["pooler_output"].F32, first, C, 1e-5, 1e-6)
			closeTo(t, "logits", logits, g["logits"].F32, first, h.NumLabels, 1e-5, 1e-6)
		})
	}
}

// A batch gives each sequence exactly (bit for bit) what running it alone
// gives: relative positions come from each sequence's own length.
func TestDebertaBatchedEqualsSingle(t *testing.T) {
	for _, name := range debertaGoldenModels {
		t.Run(name, func(t *testing.T) {
			m, g := loadGoldenModel(t, name)
			b, _ := goldenBatch(t, g)
			checkBatchedEqualsSingle(t, m, b)
		})
	}
}

// Load errors name the tensor or the key.
func TestDebertaLoadErrors(t *testing.T) {
	for _, name := range debertaGoldenModels {
		cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", name))
		if err != nil {
			t.Fatal(err)
		}
		src := RandomSource(cfg, 1)
		if _, err := FromSource(cfg, src); err != nil {
			t.Fatalf("%s: random weights: %v", name, err)
		}
		for _, missing := range []string{"encoder.rel_embeddings.weight", "encoder.layer.1.output.LayerNorm.bias"} {
			s2 := MapSource{}
			for k, v := range src {
				if k != missing {
					s2[k] = v
				}
			}
			_, err := FromSource(cfg, s2)
			if err == nil || !strings.Contains(err.Error(), missing) {
				t.Fatalf("%s without %s: err %v", name, missing, err)
			}
		}
		s2 := MapSource{"deberta.encoder.bogus.weight": {Shape: []int{1}, Data: []float32{0}}}
		for k, v := range src {
			s2["deberta."+k] = v
		}
		if _, err := FromSource(cfg, s2); err == nil || !strings.Contains(err.Error(), "deberta.encoder.bogus.weight") {
			t.Fatalf("%s unexpected tensor: err %v", name, err)
		}
	}
	for _, c := range []struct{ json, key string }{
		{`{"model_type":"deberta-v2","pos_att_type":["c2p","p2p"]}`, "pos_att_type"},
		{`{"model_type":"deberta-v2","pos_att_type":3}`, "pos_att_type"},
		{`{"model_type":"deberta","talking_head":true}`, "talking_head"},
		{`{"model_type":"deberta-v2","conv_kernel_size":2}`, "conv_kernel_size"},
		{`{"model_type":"deberta-v2","pooler_hidden_act":"nope"}`, "pooler_hidden_act"},
	} {
		if _, err := ParseConfig("config.json", []byte(c.json)); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: err %v, want one naming %q", c.json, err, c.key)
		}
	}
	cfg, err := ParseConfig("config.json", []byte(`{"model_type":"deberta-v2","pos_att_type":"P2C | c2p","type_vocab_size":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.PosAttType.Has("p2c") || !cfg.PosAttType.Has("c2p") || len(cfg.PosAttType) != 2 {
		t.Fatalf("pos_att_type %q", cfg.PosAttType)
	}
}

type gradRecorder struct{ d map[int][]float32 }

func (g *gradRecorder) AfterLayerBackward(l int, dX []float32, b *Batch) error {
	g.d[l] = append([]float32(nil), dX...)
	return nil
}

// packRows picks the golden's padded [B,T,C] rows of the batch's tokens.
func packRows(src []float32, rows []int, C int) []float32 {
	out := make([]float32, len(rows)*C)
	for r, i := range rows {
		copy(out[r*C:(r+1)*C], src[i*C:(i+1)*C])
	}
	return out
}

// Backward parity: L = Σ loss_weight ⊙ last_hidden_state; the gradient of
// L w.r.t. the input of each layer (grad.hidden_states.{l}, the input after
// AoT's bias: the BackwardHook's dX) matches PyTorch autograd.
func TestDebertaGoldenBackward(t *testing.T) {
	for _, name := range debertaGoldenModels {
		t.Run(name, func(t *testing.T) {
			m, g := loadGoldenModel(t, name)
			b, rows := goldenBatch(t, g)
			C := m.Config.HiddenSize
			st := &TrainState{}
			out, err := m.ForwardTrain(context.Background(), b, st, nil, TrainOptions{})
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "train last_hidden_state", out.LastHiddenState, g["last_hidden_state"].F32, rows, C, 1e-5, 1e-6)
			rec := &gradRecorder{d: map[int][]float32{}}
			if err := m.Backward(context.Background(), st, packRows(g["loss_weight"].F32, rows, C), nil, rec); err != nil {
				t.Fatal(err)
			}
			for l := range m.Layers {
				want := g[fmt.Sprintf("grad.hidden_states.%d", l)].F32
				// gradients are sums of many terms: relative tolerance 1e-4
				closeTo(t, fmt.Sprintf("grad.hidden_states.%d", l), rec.d[l], want, rows, C, 1e-4, 1e-5)
			}
		})
	}
}

// addRelative in blocks of relBlock rows equals the c2p/p2c terms written
// out per element, on sequences of several blocks (the goldens' are
// shorter than one), for each DeBERTa test model (log buckets or exact
// distances) and each choice of terms.
func TestAddRelativeBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	for _, name := range []string{"deberta-v3-tiny", "deberta-v1-tiny"} {
		m, _ := loadGoldenModel(t, name)
		d := m.Deberta
		C := m.Config.HiddenSize
		hd := C / m.Config.NumAttentionHeads
		R := len(d.RelEmbeddings) / C
		for _, T := range []int{1, 31, 33, 64} {
			maxT := T + 3
			relIdx := d.relIndex(nil, maxT)
			q, k := randn(r, T*C, 1), randn(r, T*C, 1)
			posK, posQ := randn(r, R*C, 1), randn(r, R*C, 1)
			for _, terms := range [][2]bool{{true, true}, {true, false}, {false, true}} {
				c2p, p2c := d.c2p, d.p2c
				d.c2p, d.p2c = terms[0], terms[1]
				S := randn(r, T*T, 1)
				want := append([]float32(nil), S...)
				for i := 0; i < T; i++ {
					for j := 0; j < T; j++ {
						rr := int(relIdx[maxT-1+i-j])
						var a, b float32
						for c := 0; c < hd; c++ {
							a += q[i*C+hd+c] * posK[rr*C+hd+c]
							b += k[j*C+hd+c] * posQ[rr*C+hd+c]
						}
						var x float32
						if d.c2p {
							x += d.scale * a
						}
						if d.p2c {
							x += d.scale * b
						}
						want[i*T+j] += x
					}
				}
				d.addRelative(S, T, q[hd:], k[hd:], C, posK, posQ, hd, hd, T, relIdx, maxT, make([]float32, 2*T*(2*T-1))) // head 1
				d.c2p, d.p2c = c2p, p2c
				for i := range S {
					if diff := math.Abs(float64(S[i] - want[i])); diff > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%s T=%d terms %v: element %d = %v, want %v", name, T, terms, i, S[i], want[i])
					}
				}
			}
		}
	}
}

// The exact region's runs (relLinearRuns) give the per-element gather's
// sums bit for bit: buckets wide enough that whole blocks are linear
// (v3's 256 at T = 128, here 64 at T up to 100), narrow ones, and none
// (a plain clamp at ±8), each choice of terms.
func TestAddRelativeLinearRuns(t *testing.T) {
	defer func(v bool) { relLinearRuns = v }(relLinearRuns)
	r := rand.New(rand.NewPCG(8, 3))
	for _, name := range []string{"deberta-v3-tiny", "deberta-v1-tiny"} {
		m, _ := loadGoldenModel(t, name)
		C := m.Config.HiddenSize
		hd := C / m.Config.NumAttentionHeads
		for _, shape := range [][2]int{{64, 128}, {8, 16}, {0, 0}} { // buckets, max_relative_positions
			md := m.Deberta
			d := &DebertaEncoder{scale: md.scale, buckets: shape[0], maxRel: shape[1], span: max(shape[0], shape[1], 8)}
			R := 2 * d.span
			for _, T := range []int{5, 33, 64, 100} {
				relIdx := d.relIndex(nil, T)
				q, k := randn(r, T*C, 1), randn(r, T*C, 1)
				posK, posQ := randn(r, R*C, 1), randn(r, R*C, 1)
				for _, terms := range [][2]bool{{true, true}, {true, false}, {false, true}} {
					d.c2p, d.p2c = terms[0], terms[1]
					S0 := randn(r, T*T, 1)
					var got [2][]float32
					for v, runs := range []bool{false, true} {
						relLinearRuns = runs
						got[v] = append([]float32(nil), S0...)
						d.addRelative(got[v], T, q, k, C, posK, posQ, 0, hd, T, relIdx, T, make([]float32, 2*T*(2*T-1)))
					}
					for i := range got[0] {
						if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
							t.Fatalf("%s buckets %v T=%d terms %v: element %d = %v with runs, %v per element", name, shape, T, terms, i, got[1][i], got[0][i])
						}
					}
				}
			}
		}
	}
}

// The backward's scatter as runs (relLinearRuns) gives the per-element
// scatter's gradients bit for bit: every layer's input gradient, with
// dropout, on a v3-style model whose buckets make whole blocks linear.
func TestAddRelativeLinearRunsBackward(t *testing.T) {
	defer func(v bool) { relLinearRuns = v }(relLinearRuns)
	cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", "deberta-v3-tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PositionBuckets, cfg.MaxRelativePositions, cfg.MaxPositionEmbeddings = 64, 128, 128
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 7))
	b := fdBatch(r, []int{70, 9, 40}, cfg.VocabSize, cfg.TypeVocabSize)
	var grads [2][][]float32
	for v, runs := range []bool{false, true} {
		relLinearRuns = runs
		st := &TrainState{}
		out, err := m.ForwardTrain(context.Background(), b, st, nil, TrainOptions{Dropout: 0.1, Seed: 1, Step: 1})
		if err != nil {
			t.Fatal(err)
		}
		h := &layerGrads{}
		if err := m.Backward(context.Background(), st, randn(rand.New(rand.NewPCG(1, 1)), len(out.LastHiddenState), 1), nil, h); err != nil {
			t.Fatal(err)
		}
		grads[v] = h.d
	}
	for l := range grads[0] {
		for i := range grads[0][l] {
			if math.Float32bits(grads[0][l][i]) != math.Float32bits(grads[1][l][i]) {
				t.Fatalf("layer gradient %d [%d] = %g with runs, %g per element", l, i, grads[1][l][i], grads[0][l][i])
			}
		}
	}
}
