package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

type hparams struct {
	BaseModel   string   `json:"base_model"`
	LR          float64  `json:"lr"`
	WeightDecay float64  `json:"weight_decay"`
	MaxGradNorm *float64 `json:"max_grad_norm"`
	Steps       int      `json:"steps"`
	NumChoices  *int     `json:"num_choices"`
	// tensors whose true gradient is 0, so Adam amplifies float noise: not comparable
	RoundoffDriven []string `json:"roundoff_driven"`
}

// goldenBatch packs golden batch s ([B,T] or [B,nc,T], right-padded) and its labels.
func goldenBatch(g map[string]golden.Tensor, s int, regression bool) *LabeledBatch {
	p := fmt.Sprintf("batch.%d.", s)
	seqs, tts, _ := golden.Packed(g[p+"input_ids"], g[p+"attention_mask"], g[p+"token_type_ids"])
	lb := &LabeledBatch{Batch: model.NewBatch(seqs, tts)}
	labels := g[p+"labels"]
	if regression {
		lb.Targets = labels.F32
	} else {
		for _, y := range labels.I64 {
			lb.Labels = append(lb.Labels, int(y))
		}
	}
	return lb
}

// relClose: |got-want| <= tol·max(|want|_∞ over the tensor, 1e-3) per element
// (relative to the tensor's scale, since single gradient entries may be ~0).
func relClose(t *testing.T, what string, got []float32, want []float32, tol float64) {
	t.Helper()
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("%s: %d values, golden has %d (missing or renamed tensor?)", what, len(got), len(want))
	}
	scale := 1e-3
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i])-float64(want[i])) / scale
		worst = math.Max(worst, d)
		if d > tol {
			t.Fatalf("%s[%d]: got %.8g want %.8g (rel to scale %.3g: %.3g)", what, i, got[i], want[i], scale, d)
		}
	}
}

func TestPyTorchParity(t *testing.T) {
	// every method's cases: testdata/<method>/<case>/{init,golden.safetensors,hparams.json}
	hps, err := filepath.Glob(filepath.Join(golden.Dir(t), "*", "*", "hparams.json"))
	if err != nil || len(hps) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, hpPath := range hps {
		dir := filepath.Dir(hpPath)
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			var hp hparams
			raw, err := os.ReadFile(filepath.Join(dir, "hparams.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &hp); err != nil {
				t.Fatal(err)
			}
			enc, err := model.Load(filepath.Join(golden.Dir(t), "models", hp.BaseModel))
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			ad, err := peft.Load(enc, filepath.Join(dir, "init"))
			if err != nil {
				t.Fatal(err)
			}
			defer ad.Close()
			ac := ad.Config
			if hp.NumChoices != nil && ad.Head.NumChoices != *hp.NumChoices {
				t.Fatalf("adapter has %d choices, hparams %d", ad.Head.NumChoices, *hp.NumChoices)
			}
			st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head}
			params := st.Params()
			g := golden.Load(t, filepath.Join(dir, "golden.safetensors"))
			// AoT: the tables at init equal the reference's rows
			for l := 0; ad.AoT != nil && l < enc.Config.NumHiddenLayers; l++ {
				want, ok := g[fmt.Sprintf("rows.%d", l)]
				if !ok {
					continue
				}
				V := want.Shape[0]
				ids := make([]int32, V)
				for i := range ids {
					ids[i] = int32(i)
				}
				got := make([]float32, V*enc.Config.HiddenSize)
				ad.AoT.Rows(l, ids, got)
				relClose(t, fmt.Sprintf("rows.%d", l), got, want.F32, 1e-5)
			}
			opt := NewAdamW(params, hp.WeightDecay)
			losses := g["loss"].F32
			for s := 0; s < hp.Steps; s++ {
				for _, p := range params {
					p.ZeroGrad()
				}
				lb := goldenBatch(g, s, ac.ProblemType == model.Regression)
				loss, logits, err := st.LossAndGrad(context.Background(), lb, model.TrainOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if s == 0 {
					relClose(t, "logits.0", logits, g["logits.0"].F32, 1e-5)
					for _, p := range params {
						if slices.Contains(hp.RoundoffDriven, "grad."+p.Name) {
							continue // a true zero: both sides hold roundoff
						}
						relClose(t, "grad."+p.Name, p.Grad, g["grad."+p.Name].F32, 1e-4)
					}
				}
				if d := math.Abs(loss - float64(losses[s])); d > 1e-4 {
					t.Fatalf("step %d: loss %.7f, PyTorch %.7f (diff %.2g)", s+1, loss, losses[s], d)
				}
				if hp.MaxGradNorm != nil {
					ClipGradNorm(params, *hp.MaxGradNorm)
				}
				opt.Update(params, hp.LR)
			}
			for _, p := range params {
				if slices.Contains(hp.RoundoffDriven, "final."+p.Name) {
					continue
				}
				relClose(t, "final."+p.Name, p.Data, g["final."+p.Name].F32, 1e-4)
			}
		})
	}
}
