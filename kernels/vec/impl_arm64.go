//go:build arm64 && !purego

package vec

import "math"

// On arm64 the default is "neon": generic with GELU and its gradient, the
// activation of BERT/RoBERTa/DeBERTa's FFN (one value per intermediate unit
// and token), and softmax's exp (one per attention score) in NEON
// (neon_arm64.s), bit for bit amd64's AVX2 GELU and exponentials.
// AOTP_VEC=generic (or SetImpl) gives the float64 generic kernels back.
// Every vec, gemm, model, peft and train test passes with either under
// qemu-aarch64 (tools/arm64-test.sh; with AOTP_VEC=generic for the other).
// It was an opt-in until the finite-difference checks fitted a line
// through eight steps (internal/fdcheck): with two, float32 GELU and exp
// moved checks of near-zero gradients past their bound on arm64, where
// LayerNorm and Go code round differently from amd64. Its speed is
// unmeasured (no arm64 hardware at hand).

//go:noescape
func geluNEON(dst, src []float32)

//go:noescape
func geluBwdNEON(dinp, inp, dout []float32)

//go:noescape
func expSubSumNEON(x []float32, m float32) float64

// neonConstNames are the NEON kernels' constants in the order they use
// them (GAUSS, then EXP within it from EXP_CONSTS, then GELU backward's);
// neonConsts their values, an array the assembly addresses directly.
var neonConstNames = [...]string{
	"TWENTY", "GQ", "ONE", "P8", "P7", "P6", "P5", "P4", "P3", "P2", "P1", "P0", "NHALF",
	"EXPHI", "EXPLO", "LOG2E", "NLN2HI", "NLN2LO", "E6", "E5", "E4", "E3", "E2", "ONE", "ONE", "I127",
	"SIGNMASK", "HALF", "INVSQRT2PI",
}

var neonConsts = func() (t [len(neonConstNames)]uint32) {
	vals := vconstValues()
	for i, n := range neonConstNames {
		v, ok := vals[n]
		if !ok {
			panic("vec: no value for constant " + n)
		}
		t[i] = v
	}
	return t
}()

var neonKernels = func() *kernels {
	ks := *genericKernels
	ks.name = "neon"
	ks.gelu = geluNEON4
	ks.geluBwd = geluBwdNEON4
	ks.expSubSum = expSubSumNEON4
	return &ks
}()

func available() []*kernels { return []*kernels{neonKernels, genericKernels} }

// geluNEON4 and geluBwdNEON4 run the NEON kernels on whole groups of 4 and
// the last 1–3 values through a padded group.
func geluNEON4(dst, src []float32) {
	n := len(src)
	m := n &^ 3
	if m > 0 {
		geluNEON(dst[:m], src[:m])
	}
	if m < n {
		var b [4]float32
		copy(b[:], src[m:])
		geluNEON(b[:], b[:])
		copy(dst[m:n], b[:])
	}
}

func geluBwdNEON4(dinp, inp, dout []float32) {
	n := len(inp)
	m := n &^ 3
	if m > 0 {
		geluBwdNEON(dinp[:m], inp[:m], dout[:m])
	}
	if m < n {
		var x, d [4]float32
		copy(x[:], inp[m:])
		copy(d[:], dout[m:])
		geluBwdNEON(d[:], x[:], d[:])
		copy(dinp[m:n], d[:])
	}
}

// expSubSumNEON4 pads the last 1–3 values with -Inf (e^-Inf = 0 adds
// nothing to the sum), and rounds the float64 sum once.
func expSubSumNEON4(x []float32, mx float32) float32 {
	n := len(x)
	m := n &^ 3
	var r float64
	if m > 0 {
		r = expSubSumNEON(x[:m], mx)
	}
	if m < n {
		ninf := float32(math.Inf(-1))
		b := [4]float32{ninf, ninf, ninf, ninf}
		copy(b[:], x[m:])
		r += expSubSumNEON(b[:], mx)
		copy(x[m:n], b[:])
	}
	return float32(r)
}
