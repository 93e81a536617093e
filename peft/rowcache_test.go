package peft

import (
	"context"
	"testing"

	"github.com/aotp/aotp/model"
)

// Compact serving with a small row cache (so rows are evicted and
// recomputed across batches) gives exactly the rows computed afresh.
func TestRowCacheExact(t *testing.T) {
	for _, cas := range []string{"roberta-fc-gelu-cls", "roberta-kron-cls"} {
		t.Run(cas, func(t *testing.T) {
			enc, plain := loadInitAdapter(t, "roberta-tiny", cas)
			_, cached := loadInitAdapter(t, "roberta-tiny", cas)
			L, C, V := enc.Config.NumHiddenLayers, enc.Config.HiddenSize, enc.Config.VocabSize
			cached.AoT.Cache = NewRowCache(L, C, int64(L*C*4*7)) // 7 rows per layer
			for round := 0; round < 4; round++ {
				var seqs [][]int32
				for s, n := range []int{6, 11, 4} {
					seq := make([]int32, n)
					for i := range seq {
						seq[i] = int32((round*13 + s*7 + i*i) % V)
					}
					seqs = append(seqs, seq)
				}
				b := model.NewBatch(seqs, nil)
				want, err := enc.Forward(context.Background(), b, &model.Workspace{}, &Mixed{Seq: []*AoT{plain.AoT, plain.AoT, nil}})
				if err != nil {
					t.Fatal(err)
				}
				w := append([]float32(nil), want.LastHiddenState...)
				got, err := enc.Forward(context.Background(), model.NewBatch(seqs, nil), &model.Workspace{}, &Mixed{Seq: []*AoT{cached.AoT, cached.AoT, nil}})
				if err != nil {
					t.Fatal(err)
				}
				for i := range w {
					if got.LastHiddenState[i] != w[i] {
						t.Fatalf("round %d: element %d: cached %v, fresh %v", round, i, got.LastHiddenState[i], w[i])
					}
				}
			}
			if n := len(cached.AoT.Cache.layers[0].ids); n != 7 {
				t.Fatalf("cache holds %d rows per layer, want 7 (full)", n)
			}
		})
	}
}
