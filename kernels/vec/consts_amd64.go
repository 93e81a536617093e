//go:build amd64 && !purego

package vec

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
