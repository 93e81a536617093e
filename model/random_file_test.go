package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
)

// NewRandomMapped gives NewRandom's model (bit for bit), mapped from a
// scratch file that is gone once the model is built, for every model
// family; a RAM-backed directory is refused.
func TestNewRandomMapped(t *testing.T) {
	for _, name := range []string{"roberta-tiny", "bert-tiny", "deberta-v3-tiny", "deberta-v2-tiny-conv", "deberta-v1-tiny"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", name, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			mapped, err := NewRandomMapped(cfg, 5, tmp)
			if err != nil {
				t.Fatal(err)
			}
			defer mapped.Close()
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("scratch directory left behind: %s", left[0].Name())
			}
			heap, err := NewRandom(cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			mapped.PackWeights() // gives the mapped pages back; they read again on use
			b := NewBatch([][]int32{{1, 5, 9, 4, 2}, {1, 7, 2}}, nil)
			got, err := mapped.Forward(context.Background(), b, &Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := heap.Forward(context.Background(), b, &Workspace{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.LastHiddenState {
				if got.LastHiddenState[i] != want.LastHiddenState[i] {
					t.Fatalf("last_hidden_state[%d] = %g, heap model %g", i, got.LastHiddenState[i], want.LastHiddenState[i])
				}
			}
		})
	}
	if onTmpfs("/dev/shm") {
		cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", "roberta-tiny", "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewRandomMapped(cfg, 5, "/dev/shm"); !errors.Is(err, ErrNoMappedRandom) {
			t.Errorf("tmpfs: got %v, want ErrNoMappedRandom", err)
		}
	}
}

// PackBackwardWeights packs the mapped weights' NN form for the backward:
// every layer's input gradient, with dropout, is bit for bit the one of the
// per-call path, for each model family; heap weights are left alone.
func TestPackBackwardWeights(t *testing.T) {
	for _, name := range []string{"bert-tiny", "deberta-v3-tiny", "deberta-v2-tiny-conv"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", name, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			// weights of a page or more, so that the mapping can give them back
			cfg.HiddenSize, cfg.IntermediateSize = 128, 512
			if cfg.PoolerHiddenSize != 0 {
				cfg.PoolerHiddenSize = 128
			}
			if cfg.AttentionHeadSize != 0 {
				cfg.AttentionHeadSize = 128 / cfg.NumAttentionHeads
			}
			m, err := NewRandomMapped(cfg, 5, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			heap, err := NewRandom(cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			if n := heap.PackBackwardWeights(); n != 0 {
				t.Errorf("heap weights: packed %d bytes, want none (a third copy)", n)
			}
			m.PackWeights()
			if n := m.PackBackwardWeights(); n == 0 {
				t.Fatal("mapped weights: nothing packed")
			}
			r := rand.New(rand.NewPCG(3, 4))
			b := fdBatch(r, []int{5, 1, 9}, cfg.VocabSize, cfg.TypeVocabSize)
			opt := TrainOptions{Dropout: 0.1, Seed: 2, Step: 1}
			grads := func(enc *Encoder) [][]float32 {
				st := &TrainState{}
				out, err := enc.ForwardTrain(context.Background(), b, st, nil, opt)
				if err != nil {
					t.Fatal(err)
				}
				d := randn(rand.New(rand.NewPCG(5, 6)), len(out.LastHiddenState), 1)
				h := &layerGrads{}
				if err := enc.Backward(context.Background(), st, d, nil, h); err != nil {
					t.Fatal(err)
				}
				return h.d
			}
			got, want := grads(m), grads(heap)
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("%d layer gradients, want %d", len(got), len(want))
			}
			for l := range want {
				for i := range want[l] {
					if math.Float32bits(got[l][i]) != math.Float32bits(want[l][i]) {
						t.Fatalf("layer gradient %d [%d] = %g, per-call path %g", l, i, got[l][i], want[l][i])
					}
				}
			}
		})
	}
}
