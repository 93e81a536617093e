//go:build amd64 && !purego

package vec

import "math"

// vconsts holds the constants of the assembly kernels, each replicated 16
// times (one 64-byte row per constant) so that both the AVX2 (first 32 bytes)
// and the AVX-512 kernels can use a row as a full-width memory operand.
// consts_amd64.h names each row's offset; the order here must match it
// (TestConstTable checks).
var vconsts = buildConsts()

// vconstNames lists the rows of vconsts in order (offset = 64·index).
var vconstNames = []string{
	"ONE", "HALF", "NHALF", "TWO", "NTWO", "ABSMASK", "SIGNMASK", "I127",
	"EXPHI", "EXPLO", "LOG2E", "NLN2HI", "NLN2LO",
	"E2", "E3", "E4", "E5", "E6",
	"M2", "M3", "M4", "M5", "M6", "M7",
	"GQ", "TWENTY",
	"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8",
	"INVSQRT2PI", "TANHMAX", "HUNDRED", "NHUNDRED", "E88", "THREE",
}

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

const nconsts = 41

func buildConsts() (t [nconsts][16]uint32) {
	if len(vconstNames) != nconsts {
		panic("vec: vconstNames and nconsts disagree")
	}
	vals := vconstValues()
	for i, name := range vconstNames {
		v, ok := vals[name]
		if !ok {
			panic("vec: no value for constant " + name)
		}
		for j := range t[i] {
			t[i][j] = v
		}
	}
	return t
}
