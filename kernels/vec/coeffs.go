package vec

import "math"

// Approximation coefficients shared by every implementation. They were fitted
// for this package (weighted least squares iterated towards minimax relative
// error, Lawson's method, on Chebyshev-distributed points, then rounded to
// float32 one coefficient at a time with the remaining ones refitted). The
// assembly kernels read them from vconsts (consts_amd64.go); keep both in sync
// (TestConstTable checks the table against these values).
const (
	// e^r ≈ 1 + r + r²·(e2 + r·(e3 + … + r·e6)) on |r| ≤ ln2/2;
	// max relative error 3.2e-9 in exact arithmetic.
	expC2 = 0.4999999403953552
	expC3 = 0.1666652262210846
	expC4 = 0.04166829213500023
	expC5 = 0.008368532173335552
	expC6 = 0.001381829846650362

	// e^r - 1 ≈ r + r²·(m2 + r·(m3 + … + r·m7)) on |r| ≤ ln2/2;
	// max relative error 4.4e-10 in exact arithmetic.
	em1C2 = 0.5
	em1C3 = 0.1666666567325592
	em1C4 = 0.04166649281978607
	em1C5 = 0.008333547040820122
	em1C6 = 0.0013932319125160575
	em1C7 = 0.00019760796567425132

	// Gaussian upper tail, for a ≥ 0:
	//   Φ(-a) = ½·erfc(a/√2) ≈ t·e^{-a²/2}·P(s),  t = 1/(1+q·a), s = q·a·t = 1-t,
	// P of degree 8 in s. s ∈ [0, 0.831) covers a ∈ [0, 14]; beyond that the
	// result is below the smallest float32 anyway. Max relative error of the
	// fit 3.6e-8 with these float32 coefficients.
	gaussQ  = 0.3499999940395355
	gaussP0 = 0.5
	gaussP1 = -0.6398329138755798
	gaussP2 = 0.26105988025665283
	gaussP3 = 0.10253079235553741
	gaussP4 = -0.06374276429414749
	gaussP5 = -0.017044797539711
	gaussP6 = -0.06282902508974075
	gaussP7 = 0.08840736746788025
	gaussP8 = -0.028926629573106766

	ln2Hi      = 0.6931471824645996     // float32(ln 2)
	ln2Lo      = -1.9046542121259336e-9 // ln 2 - ln2Hi
	log2E      = 1.4426950216293335     // float32(1/ln 2)
	invSqrt2Pi = 0.3989422917366028     // 1/√(2π)

	// Clamp bounds of the vector exp: below expLo the result is 0 after
	// rounding, above expHi it overflows to +Inf. Both keep n = round(x/ln2)
	// within [-150, 128], where the two-step scaling 2^⌊n/2⌋·2^⌈n/2⌉ is exact.
	expLo = -104.0
	expHi = 88.8

	// gelu_new / gelu_pytorch_tanh: 0.5x(1+tanh(√(2/π)(x+0.044715x³))) =
	// x·σ(x·(geluTanhB + geluTanhA·x²)).
	geluTanhB = 1.5957691216057308  // 2·√(2/π)
	geluTanhA = 0.07135481627260025 // 2·√(2/π)·0.044715
)

// vconstValues are the bit patterns of the assembly kernels' named
// constants (amd64's vconsts rows, arm64's neonConsts).
func vconstValues() map[string]uint32 {
	f := math.Float32bits
	return map[string]uint32{
		"ONE": f(1), "HALF": f(0.5), "NHALF": f(-0.5), "TWO": f(2), "NTWO": f(-2),
		"ABSMASK": 0x7fffffff, "SIGNMASK": 0x80000000, "I127": 127,
		"EXPHI": f(expHi), "EXPLO": f(expLo), "LOG2E": f(log2E),
		"NLN2HI": f(-ln2Hi), "NLN2LO": f(-ln2Lo),
		"E2": f(expC2), "E3": f(expC3), "E4": f(expC4), "E5": f(expC5), "E6": f(expC6),
		"M2": f(em1C2), "M3": f(em1C3), "M4": f(em1C4), "M5": f(em1C5), "M6": f(em1C6), "M7": f(em1C7),
		"GQ": f(gaussQ), "TWENTY": f(20),
		"P0": f(gaussP0), "P1": f(gaussP1), "P2": f(gaussP2), "P3": f(gaussP3), "P4": f(gaussP4),
		"P5": f(gaussP5), "P6": f(gaussP6), "P7": f(gaussP7), "P8": f(gaussP8),
		"INVSQRT2PI": f(invSqrt2Pi), "TANHMAX": f(9.5), "HUNDRED": f(100), "NHUNDRED": f(-100),
		"E88": f(88), "THREE": f(3),
	}
}
