package peft

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
)

// PyTorch parity of LoRA and BitFit on DeBERTa's query/key/value
// projections (tools/reference/deberta_methods_golden.py): with
// share_att_key (deberta-v3-tiny) the same modules project the relative
// embeddings, and the methods change those position terms too; without it
// (deberta-v2-tiny-noshare) they do not; on v1 LoRA adapts the fused
// in_proj [3C, C]. BitFit also trains embeddings.LayerNorm.bias, the
// relative embeddings' encoder.LayerNorm.bias (v3-tiny, v2-tiny-conv: every
// position table moves) and v2's encoder.conv biases (v2-tiny-conv). L = Σ lw ⊙ last_hidden_state;
// the hidden states within 1e-5 and the methods' gradients within 1e-4 of
// each tensor's largest entry.
func TestDebertaMethodsGolden(t *testing.T) {
	for _, name := range []string{"deberta-v3-tiny", "deberta-v2-tiny-noshare", "deberta-v1-tiny", "deberta-v2-tiny-conv"} {
		dir := filepath.Join(golden.Dir(t), "models", name)
		g := golden.Load(t, filepath.Join(dir, "golden.safetensors"))
		gm := golden.Load(t, filepath.Join(dir, "methods.safetensors"))
		enc := loadModel(t, name)
		seqs, tts, rows := golden.Packed(g["input_ids"], g["attention_mask"], g["token_type_ids"])
		b := model.NewBatch(seqs, tts)
		C := enc.Config.HiddenSize
		lw := pickRows(g["loss_weight"].F32, rows, C)
		methods := []string{"lora", "bitfit"}
		if enc.Config.ModelType == "deberta" {
			methods = methods[:1] // v1's q_bias/v_bias are not module biases (FD-checked only)
		}
		for _, method := range methods {
			t.Run(name+"/"+method, func(t *testing.T) {
				var m Method
				params := map[string]*model.Param{} // golden name → parameter
				extra := 0                          // parameters outside the layers
				switch method {
				case "lora":
					targets := TargetModules{"query_proj", "key_proj", "value_proj"}
					if enc.Config.ModelType == "deberta" {
						targets = TargetModules{"in_proj"}
					}
					lm, err := NewLoRA(enc, &AdapterConfig{LoraConfig: LoraConfig{R: 4, LoraAlpha: 8, TargetModules: targets}}, 1)
					if err != nil {
						t.Fatal(err)
					}
					for _, tg := range lm.Targets {
						mod := tg.Path[len("deberta."):]
						params[mod+".lora_A"], params[mod+".lora_B"] = tg.A, tg.B
					}
					m = lm
				case "bitfit":
					bm, err := NewBitFit(enc)
					if err != nil {
						t.Fatal(err)
					}
					for l := range enc.Layers {
						for _, s := range []model.Site{model.SiteQuery, model.SiteKey, model.SiteValue} {
							p := bm.Sites[l][s]
							params[p.Name[len("deberta."):]] = p
						}
						if l < len(bm.Pos) { // pos_query_proj, pos_key_proj (no share_att_key)
							for _, p := range bm.Pos[l] {
								params[p.Name[len("deberta."):]] = p
							}
						}
					}
					// the checkpoint's own bias tensors outside the layers
					for _, p := range []*model.Param{bm.Emb, bm.Rel, bm.Conv, bm.ConvNorm} {
						if p != nil {
							params[p.Name[len("deberta."):]] = p
							extra++
						}
					}
					m = bm
				}
				perLayer := 3 * map[string]int{"lora": 2, "bitfit": 1}[method]
				switch {
				case enc.Config.ModelType == "deberta":
					perLayer = 2 // in_proj's A and B
				case method == "bitfit" && !enc.Config.ShareAttKey:
					perLayer = 5 // and the own position projections' biases
				}
				if len(params) != perLayer*enc.Config.NumHiddenLayers+extra {
					t.Fatalf("%d parameters matched", len(params))
				}
				for n, p := range params {
					src, ok := gm[method+"."+n]
					if !ok {
						t.Fatalf("golden has no %s.%s", method, n)
					}
					copy(p.Data, src.F32)
				}
				st := &model.TrainState{}
				out, err := enc.ForwardTrain(context.Background(), b, st, m, model.TrainOptions{})
				if err != nil {
					t.Fatal(err)
				}
				// float32 vs float32, and vs the float64 run: PyTorch's own float32
				// error there is 3e-6 on values up to 3 (LoRA's B is large here)
				f64 := gm[method+".last_hidden_state_f64"].F64
				want64 := make([]float32, len(f64))
				for i, v := range f64 {
					want64[i] = float32(v)
				}
				for _, ref := range [][]float32{gm[method+".last_hidden_state"].F32, want64} {
					gradClose(t, "last_hidden_state", out.LastHiddenState, pickRows(ref, rows, C), 1e-5)
				}
				if loss, want := dot64(lw, out.LastHiddenState), float64(gm[method+".loss"].F32[0]); math.Abs(loss-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Errorf("loss %.6g, PyTorch %.6g", loss, want)
				}
				if err := enc.Backward(context.Background(), st, clone(lw), nil, m); err != nil {
					t.Fatal(err)
				}
				for n, p := range params {
					if strings.HasSuffix(n, "pos_key_proj.bias") {
						continue // c2p only, q·b: the same for a row, its true gradient is 0 (roundoff on both sides)
					}
					gradClose(t, n, p.Grad, gm["grad."+method+"."+n].F32, 1e-4)
				}
			})
		}
	}
}

// pickRows gathers rows of C values of a padded [B·T, C] tensor.
func pickRows(x []float32, rows []int, C int) []float32 {
	out := make([]float32, 0, len(rows)*C)
	for _, r := range rows {
		out = append(out, x[r*C:(r+1)*C]...)
	}
	return out
}

// gradClose: |got − want| ≤ tol·max|want| element-wise (relative to the
// tensor's scale: single entries may be ~0).
func gradClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	scale := 1e-3
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > tol*scale {
		t.Errorf("%s: gradient differs from PyTorch by %.3g (scale %.3g)", what, worst, scale)
		return
	}
	t.Logf("%s: max diff %s", what, fmt.Sprintf("%.3g of %.3g", worst, scale))
}
