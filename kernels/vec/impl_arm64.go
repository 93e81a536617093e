//go:build arm64 && !purego

package vec

// On arm64 GELU and its gradient, the activation of BERT/RoBERTa/DeBERTa's
// FFN (one value per intermediate unit and token), run in NEON
// (neon_arm64.s); the other primitives are the generic ones. Tested under
// qemu-aarch64 (tools/arm64-test.sh); its speed is unmeasured (no arm64
// hardware at hand).

//go:noescape
func geluNEON(dst, src []float32)

//go:noescape
func geluBwdNEON(dinp, inp, dout []float32)

// neonConstNames are the NEON kernels' constants in the order they use
// them (GAUSS, then EXP within it, then the backward's); neonConsts their
// values, an array the assembly addresses directly.
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
