package model

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/kernels/vec"
)

// Linear mirrors torch.nn.Linear: y = x·Wᵀ + b.
type Linear struct {
	Weight  []float32 // [Out, In]
	Bias    []float32 // [Out], nil when the layer has none
	In, Out int

	packed *gemm.PackedB // Weight packed for the GEMM kernel (PackWeights), or nil
	// Weight packed as the backward's operand (dX = dY·W, PackBackwardWeights), or nil
	packedNN *gemm.PackedB

	// Gradients, when the weights are trained (full fine-tuning; nil when frozen).
	WGrad []float32 // [Out, In]
	BGrad []float32 // [Out]

	// calib, while not nil, gathers the largest |input| of each column the
	// layer sees (PackWeightsW8A8's calibration pass)
	calib []float32 // [In]
	// smooth: the smoothing factors of the W8A8 packing (PackWeightsW8A8), or nil
	smooth []float32 // [In]
}

// W8A8Smoothing returns the factors PackWeightsW8A8 smoothed the layer's
// input columns by (gemm.PackBA8Smooth), or nil: the weights its products
// stand for are gemm.RoundToA8Grid of the weight with them.
func (l *Linear) W8A8Smoothing() []float32 { return l.smooth }

// record keeps each input column's largest magnitude in l.calib.
func (l *Linear) record(inp []float32, N int) {
	for r := 0; r < N; r++ {
		for k, v := range inp[r*l.In : (r+1)*l.In] {
			l.calib[k] = max(l.calib[k], float32(math.Abs(float64(v))))
		}
	}
}

// Forward computes out[N,Out] = act(inp[N,In]·Wᵀ + b); act may be nil.
// With the weight packed (Encoder.PackWeights) for the kernel selected now,
// the packed copy is used (same result, bit for bit; after PackWeightsHalf,
// the result of the weight rounded to F16).
func (l *Linear) Forward(out, inp []float32, N int, act func([]float32)) {
	if l.calib != nil {
		l.record(inp, N)
	}
	if pw := l.packed; pw != nil && pw.Impl() == gemm.Impl() {
		gemm.LinearPacked(out[:N*l.Out], inp[:N*l.In], pw, l.Bias, N, act)
		return
	}
	gemm.Linear(out[:N*l.Out], inp[:N*l.In], l.Weight, l.Bias, N, l.In, l.Out, act)
}

// MulT computes out[N,Out] = beta·out + inp[N,In]·Wᵀ, without the bias,
// through the packed weight when there is one: the products of the weights
// the layer's Forward uses (F16-rounded after PackWeightsHalf).
func (l *Linear) MulT(out, inp []float32, N int, beta float32) {
	if l.calib != nil {
		l.record(inp, N)
	}
	if pw := l.packed; pw != nil && pw.Impl() == gemm.Impl() {
		gemm.MulPacked(out, l.Out, inp, l.In, pw, N, beta)
		return
	}
	gemm.Sgemm(false, true, N, l.Out, l.In, 1, inp, l.In, l.Weight, l.In, beta, out, l.Out)
}

// LayerNorm mirrors torch.nn.LayerNorm over the last dimension.
type LayerNorm struct {
	Weight []float32 // [C]
	Bias   []float32 // [C]
	Eps    float32

	WGrad, BGrad []float32 // [C] gradients when trained (full fine-tuning), else nil
}

// rowGrain is the number of rows below which row kernels stay on one thread.
const rowGrain = 16

// Forward normalises the N rows of inp[N,C] into out[N,C].
func (ln *LayerNorm) Forward(out, inp []float32, N, C int) {
	parallel.For(N, rowGrain, func(lo, hi int) {
		vec.LayerNorm(out[lo*C:hi*C], nil, nil, inp[lo*C:hi*C], ln.Weight, ln.Bias, hi-lo, C, ln.Eps)
	})
}

// activations maps HF's `hidden_act` names to in-place kernels. "gelu" is the
// exact erf form (transformers' GELUActivation); "gelu_new", "gelu_fast" and
// "gelu_pytorch_tanh" are the tanh approximation (the same function written
// three ways in transformers/activations.py).
var activations = map[string]func([]float32){
	"gelu":              vec.GELU,
	"gelu_python":       vec.GELU,
	"gelu_new":          vec.GELUTanh,
	"gelu_fast":         vec.GELUTanh,
	"gelu_pytorch_tanh": vec.GELUTanh,
	"relu":              vec.ReLU,
	"silu":              vec.SiLU,
	"swish":             vec.SiLU,
	"tanh":              vec.Tanh,
}

// activationBackwards holds each activation's backward kernel,
// dinp = act'(inp) ⊙ dout (dinp may alias dout).
var activationBackwards = map[string]func(dinp, inp, dout []float32){
	"gelu":              vec.GELUBackward,
	"gelu_python":       vec.GELUBackward,
	"gelu_new":          vec.GELUTanhBackward,
	"gelu_fast":         vec.GELUTanhBackward,
	"gelu_pytorch_tanh": vec.GELUTanhBackward,
	"relu":              vec.ReLUBackward,
	"silu":              vec.SiLUBackward,
	"swish":             vec.SiLUBackward,
	"tanh":              tanhBackwardFromInput,
}

// tanhBackwardFromInput is tanh's backward from the forward input (vec's
// TanhBackward takes the output, which the training pass does not keep).
func tanhBackwardFromInput(dinp, inp, dout []float32) {
	for i, x := range inp {
		t := float32(math.Tanh(float64(x)))
		dinp[i] = dout[i] * (1 - t*t)
	}
}

func activationByName(name string) (func([]float32), error) {
	if f, ok := activations[name]; ok {
		return f, nil
	}
	names := make([]string, 0, len(activations))
	for k := range activations {
		names = append(names, k)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("activation %q is not supported (supported: %s)", name, strings.Join(names, ", "))
}
