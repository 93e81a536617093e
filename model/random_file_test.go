package model

import (
	"context"
	"errors"
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
