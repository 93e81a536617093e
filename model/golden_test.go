package model

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
)

var goldenModels = []string{"bert-tiny", "bert-tiny-gelu-new", "bert-tiny-relu", "roberta-tiny", "roberta-tiny-prefixed"}

// goldenBatch turns the golden padded [B,T] inputs into a packed batch of the
// unmasked tokens, and returns each sequence's row indices into [B*T].
func goldenBatch(t *testing.T, g map[string]golden.Tensor) (*Batch, []int) {
	t.Helper()
	seqs, tts, rows := golden.Packed(g["input_ids"], g["attention_mask"], g["token_type_ids"])
	return NewBatch(seqs, tts), rows
}

// closeTo checks got against want (rows of C picked by rows) element-wise:
// |got-want| <= rtol·|want| + atol.
func closeTo(t *testing.T, what string, got []float32, want []float32, rows []int, C int, rtol, atol float64) {
	t.Helper()
	worst, worstRel := 0.0, 0.0
	for r, src := range rows {
		for c := 0; c < C; c++ {
			g, w := float64(got[r*C+c]), float64(want[src*C+c])
			d := math.Abs(g - w)
			if d > worst {
				worst = d
			}
			if rel := d / (math.Abs(w) + 1e-3); rel > worstRel {
				worstRel = rel
			}
			if !(d <= rtol*math.Abs(w)+atol) {
				t.Fatalf("%s: row %d col %d: got %.9g want %.9g (diff %.3g)", what, r, c, g, w, d)
			}
		}
	}
	t.Logf("%s: max abs diff %.3g, max rel diff %.3g", what, worst, worstRel)
}

// checkGoldenHidden runs the golden batch and compares every layer's input,
// the last hidden state and (our float32 error against exact arithmetic)
// the float64 run's last hidden state, within |d| ≤ 1e-5·|ref| + 1e-6.
func checkGoldenHidden(t *testing.T, m *Encoder, g map[string]golden.Tensor) (Output, *Batch) {
	t.Helper()
	b, rows := goldenBatch(t, g)
	C := m.Config.HiddenSize
	hook := &recordHook{}
	out, err := m.Forward(context.Background(), b, &Workspace{}, hook)
	if err != nil {
		t.Fatal(err)
	}
	for l, H := range hook.layers {
		closeTo(t, fmt.Sprintf("hidden_states.%d", l), H, g[fmt.Sprintf("hidden_states.%d", l)].F32, rows, C, 1e-5, 1e-6)
	}
	closeTo(t, "last_hidden_state", out.LastHiddenState, g["last_hidden_state"].F32, rows, C, 1e-5, 1e-6)
	f64 := g["last_hidden_state_f64"].F64
	want := make([]float32, len(f64))
	for i, v := range f64 {
		want[i] = float32(v)
	}
	closeTo(t, "last_hidden_state vs f64", out.LastHiddenState, want, rows, C, 1e-5, 1e-6)
	return out, b
}

type recordHook struct {
	layers [][]float32
}

func (h *recordHook) BeforeLayer(l int, H []float32, b *Batch) error {
	h.layers = append(h.layers, append([]float32(nil), H...))
	return nil
}

func TestGoldenForward(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(golden.Dir(t), "models", name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			g := golden.Load(t, filepath.Join(dir, "golden.safetensors"))
			out, b := checkGoldenHidden(t, m, g)
			C := m.Config.HiddenSize
			if m.Pooler == nil {
				t.Fatal("pooler not loaded")
			}
			first := make([]int, b.B())
			for s := range first {
				first[s] = s
			}
			closeTo(t, "pooler_output", out.PoolerOutput, g["pooler_output"].F32, first, C, 1e-5, 1e-6)
		})
	}
}

// checkBatchedEqualsSingle runs b and each of its sequences alone: the last
// hidden states must agree bit for bit.
func checkBatchedEqualsSingle(t *testing.T, m *Encoder, b *Batch) {
	t.Helper()
	C := m.Config.HiddenSize
	out, err := m.Forward(context.Background(), b, &Workspace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	batched := append([]float32(nil), out.LastHiddenState...)
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		single := NewBatch([][]int32{b.IDs[lo:hi]}, [][]int32{b.TypeIDs[lo:hi]})
		o, err := m.Forward(context.Background(), single, &Workspace{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range o.LastHiddenState {
			if o.LastHiddenState[i] != batched[lo*C+i] {
				t.Fatalf("sequence %d element %d: alone %v, batched %v", s, i, o.LastHiddenState[i], batched[lo*C+i])
			}
		}
	}
}

// A batch gives each sequence exactly (bit for bit) what running it alone gives.
func TestBatchedEqualsSingle(t *testing.T) {
	for _, name := range []string{"bert-tiny", "roberta-tiny"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(golden.Dir(t), "models", name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			b, _ := goldenBatch(t, golden.Load(t, filepath.Join(dir, "golden.safetensors")))
			checkBatchedEqualsSingle(t, m, b)
		})
	}
}
