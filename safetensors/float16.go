package safetensors

import (
	"math"

	"github.com/aotp/aotp/internal/half"
)

// F16ToFloat32 decodes an IEEE 754 binary16 value. It is exact.
func F16ToFloat32(h uint16) float32 { return half.ToFloat32(h) }

// Float32ToF16 encodes f as IEEE 754 binary16, rounding to nearest, ties to
// even. Values beyond the F16 range become ±Inf, values below half the
// smallest subnormal become ±0, and NaN stays a (quiet) NaN.
func Float32ToF16(f float32) uint16 { return half.FromFloat32(f) }

// BF16ToFloat32 decodes a bfloat16 value. It is exact.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 encodes f as bfloat16, rounding to nearest, ties to even.
// Overflow rounds to ±Inf and NaN stays a (quiet) NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
