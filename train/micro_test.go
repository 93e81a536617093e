package train

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// A step run in pieces (Stepper.MicroBatch, gradient accumulation) is the
// whole batch's step: the same loss, logits and gradients up to the order
// of float sums, with dropout on (each piece draws its masks where its rows
// sit in the whole batch), for every method and head kind.
func TestMicroBatchEqualsWholeBatch(t *testing.T) {
	seqs := [][]int32{{0, 17, 42, 2}, {0, 5, 93, 60, 61, 2, 77, 8, 2}, {0, 33, 2}, {0, 8, 9, 10, 11, 2}, {0, 70, 2, 71, 72, 2}}
	types := [][]int32{{0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 1, 1, 1}, {0, 0, 0}, {0, 0, 0, 1, 1, 1}, {0, 0, 0, 1, 1, 1}}
	problems := []struct {
		name    string
		problem string
		batch   func(types [][]int32) *LabeledBatch
	}{
		{"classify", model.SingleLabel, func(types [][]int32) *LabeledBatch {
			return &LabeledBatch{Batch: model.NewBatch(seqs, types), Labels: []int{0, 1, 1, 0, 1}}
		}},
		{"regress", model.Regression, func(types [][]int32) *LabeledBatch {
			return &LabeledBatch{Batch: model.NewBatch(seqs, types), Targets: []float32{0.5, -1, 2, 0.25, 1}}
		}},
		{"choice", model.MultipleChoice, func(types [][]int32) *LabeledBatch { // 2 examples of 2 choices (and one left out)
			return &LabeledBatch{Batch: model.NewBatch(seqs[:4], types[:min(4, len(types))]), Labels: []int{1, 0}}
		}},
	}
	forEachMethod(t, []string{"roberta-tiny", "bert-tiny", "deberta-v3-tiny"}, equivalenceMethods, func(t *testing.T, enc *model.Encoder, mc peft.AdapterConfig) {
		types := types
		if enc.Config.TypeVocabSize < 2 {
			types = nil
		}
		for _, pb := range problems {
			if pb.problem != model.SingleLabel && (enc.Config.ModelType != "roberta" || mc.Method != "aot" && mc.Method != "prompt") {
				continue // the head kinds once, on the methods that change the batch or not
			}
			t.Run(pb.name, func(t *testing.T) {
				run := func(micro int) (float64, []float32, [][]float32) {
					cfg := mc
					cfg.ProblemType, cfg.NumLabels, cfg.Task = pb.problem, 2, "test"
					switch pb.problem {
					case model.Regression:
						cfg.NumLabels = 1
					case model.MultipleChoice:
						cfg.NumLabels, cfg.NumChoices = 1, 2
					}
					ad, err := peft.New(enc, &cfg, 1)
					if err != nil {
						t.Fatal(err)
					}
					defer ad.Close()
					wakeParams(ad.Params(), 0.01)
					st := &Stepper{Enc: enc, Method: ad.Method, Head: ad.Head, MicroBatch: micro}
					return runStep(t, st, pb.batch(types), model.TrainOptions{Dropout: 0.1, Seed: 1, Step: 3})
				}
				loss, logits, g := run(0)
				for _, micro := range []int{1, 2, 3} {
					l, lg, gm := run(micro)
					what := fmt.Sprintf("micro-batch %d", micro)
					if math.Abs(l-loss) > 1e-6*math.Abs(loss) {
						t.Fatalf("%s: loss %v, whole batch %v", what, l, loss)
					}
					if len(lg) != len(logits) {
						t.Fatalf("%s: %d logits, whole batch %d", what, len(lg), len(logits))
					}
					for i := range logits {
						if lg[i] != logits[i] {
							t.Fatalf("%s: logit %d is %v, whole batch %v", what, i, lg[i], logits[i])
						}
					}
					gradsClose(t, what, gm, g, 1e-5)
				}
			})
		}
	})
}

// A run resumes with another micro-batch (it bounds memory, not the
// training), but not with another batch size.
func TestResumeAllowsOtherMicroBatch(t *testing.T) {
	was := Options{Epochs: 1, BatchSize: 16, LR: 1e-3, MicroBatch: 4}
	l := &Loop{Opt: was}
	l.Opt.MicroBatch = 0
	if err := l.sameRun(&runState{Options: &was}); err != nil {
		t.Fatalf("micro-batch 4 → 0 refused: %v", err)
	}
	l.Opt.MicroBatch, l.Opt.BatchSize = 2, 8
	if err := l.sameRun(&runState{Options: &was}); err == nil || !strings.Contains(err.Error(), "--batch-size 16, now 8") {
		t.Fatalf("batch size 16 → 8: %v", err)
	}
}
