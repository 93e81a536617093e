package peft

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
)

// loadInitAdapter returns a golden AoT case's starting adapter (non-zero
// factors everywhere) on its backbone.
func loadInitAdapter(t *testing.T, base, cas string) (*model.Encoder, *Adapter) {
	t.Helper()
	enc, err := model.Load(filepath.Join(golden.Dir(t), "models", base))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	ad, err := Load(enc, filepath.Join(golden.Dir(t), "aot", cas, "init"))
	if err != nil {
		t.Fatal(err)
	}
	return enc, ad
}

func testBatch(V int) *model.Batch {
	var seqs [][]int32
	for s, n := range []int{5, 9, 3, 12} {
		seq := make([]int32, n)
		for i := range seq {
			seq[i] = int32((s*37 + i*11 + 3) % V)
		}
		seqs = append(seqs, seq)
	}
	return model.NewBatch(seqs, nil)
}

// Fused tables: f32 equals the unfused rows to 1e-6 relative; the lower
// precisions stay within their rounding bounds, element by element:
// f16 2⁻¹¹ and bf16 2⁻⁸ relative (round to nearest), int8 half a step of
// the row's scale (max|row|/127).
func TestFuseDtypes(t *testing.T) {
	for _, c := range []struct{ base, cas string }{{"roberta-tiny", "roberta-fc-gelu-cls"}, {"roberta-tiny", "roberta-kron-cls"}} {
		enc, ad := loadInitAdapter(t, c.base, c.cas)
		V, C := enc.Config.VocabSize, enc.Config.HiddenSize
		ids := make([]int32, V)
		for i := range ids {
			ids[i] = int32(i)
		}
		ref := make([][]float32, enc.Config.NumHiddenLayers)
		for l := range ref {
			ref[l] = make([]float32, V*C)
			ad.AoT.Rows(l, ids, ref[l])
		}
		b := testBatch(V)
		unfused, err := enc.Forward(context.Background(), b, &model.Workspace{}, ad.AoT)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]float32(nil), unfused.LastHiddenState...)
		for _, dtype := range []string{"f32", "f16", "bf16", "int8"} {
			t.Run(c.cas+"/"+dtype, func(t *testing.T) {
				enc2, ad2 := loadInitAdapter(t, c.base, c.cas)
				if err := ad2.Fuse(dtype); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, C)
				for l := range ref {
					for x := 0; x < V; x++ {
						row := ref[l][x*C : (x+1)*C]
						var rowMax float64
						for _, v := range row {
							rowMax = math.Max(rowMax, math.Abs(float64(v)))
						}
						ad2.AoT.Layers[l].Table.Row(got, x)
						for i, w := range row {
							var tol float64
							switch dtype {
							case "f32":
								tol = 1e-6 * math.Abs(float64(w))
							case "f16":
								tol = math.Abs(float64(w))*math.Pow(2, -11) + 6e-8 // + f16 subnormal step
							case "bf16":
								tol = math.Abs(float64(w)) * math.Pow(2, -8)
							case "int8":
								tol = rowMax/127/2*1.0001 + 1e-12
							}
							if d := math.Abs(float64(got[i] - w)); d > tol {
								t.Fatalf("layer %d row %d col %d: %v vs %v (diff %.3g > %.3g)", l, x, i, got[i], w, d, tol)
							}
						}
					}
				}
				if dtype != "f32" {
					return
				}
				out, err := enc2.Forward(context.Background(), b, &model.Workspace{}, ad2.AoT)
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range want {
					if d := math.Abs(float64(out.LastHiddenState[i] - w)); d > 1e-6*math.Max(1, math.Abs(float64(w))) {
						t.Fatalf("fused f32 forward differs at %d: %v vs %v", i, out.LastHiddenState[i], w)
					}
				}
			})
		}
	}
}

// save fused → load (memory-mapped tables) ≡ the in-memory fused adapter.
func TestFusedSaveLoad(t *testing.T) {
	for _, dtype := range []string{"f32", "f16", "bf16", "int8"} {
		t.Run(dtype, func(t *testing.T) {
			enc, ad := loadInitAdapter(t, "roberta-tiny", "roberta-fc-gelu-cls")
			if err := ad.Fuse(dtype); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := ad.SaveFused(dir); err != nil {
				t.Fatal(err)
			}
			back, err := Load(enc, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if back.Config.Reparam != "fused" || back.Config.Dtype != dtype || back.Config.FusedFrom != "fc" {
				t.Fatalf("config after load: %+v", back.Config.AoTConfig)
			}
			b := testBatch(enc.Config.VocabSize)
			o1, err := enc.Forward(context.Background(), b, &model.Workspace{}, ad.AoT)
			if err != nil {
				t.Fatal(err)
			}
			l1, _ := ad.Head.Forward(o1, b, nil)
			l1 = append([]float32(nil), l1...)
			o2, err := enc.Forward(context.Background(), b, &model.Workspace{}, back.AoT)
			if err != nil {
				t.Fatal(err)
			}
			l2, _ := back.Head.Forward(o2, b, nil)
			for i := range l1 {
				if l1[i] != l2[i] {
					t.Fatalf("logit %d: %v before save, %v after load", i, l1[i], l2[i])
				}
			}
		})
	}
}
