package train

import (
	"math"
	"strings"
	"testing"
)

// Options no run could use are refused, naming the option: a batch size of
// 0 divided by zero before (StepsPerEpoch), a dropout of 1.5 or a negative
// learning rate trained.
func TestOptionsValidate(t *testing.T) {
	ok := Options{Epochs: 1, BatchSize: 8, LR: 1e-3, Schedule: "linear", Dropout: 0.1, WarmupRatio: 0.06, MaxGradNorm: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  func(o *Options)
		want string
	}{
		{func(o *Options) { o.BatchSize = 0 }, "batch-size 0 must be at least 1"},
		{func(o *Options) { o.Epochs = 0 }, "epochs 0 must be at least 1"}, // no step to train
		{func(o *Options) { o.MaxSteps = -1 }, "max-steps -1"},
		{func(o *Options) { o.EvalEvery = -5 }, "eval-every -5"},
		{func(o *Options) { o.MicroBatch = -1 }, "micro-batch -1"},
		{func(o *Options) { o.LR = -1 }, "lr -1 is outside [0, +Inf)"},
		{func(o *Options) { o.LR = math.NaN() }, "lr NaN"},
		{func(o *Options) { o.WeightDecay = -0.1 }, "weight-decay -0.1"},
		{func(o *Options) { o.WarmupRatio = 1.5 }, "warmup-ratio 1.5 is outside [0, 1]"},
		{func(o *Options) { o.Dropout = 1 }, "dropout 1 is outside [0, 1)"},
		{func(o *Options) { o.MaxGradNorm = math.Inf(1) }, "max-grad-norm +Inf"},
	} {
		o := ok
		c.set(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", o, err, c.want)
		}
	}
}
