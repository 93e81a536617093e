package vec

import (
	"math"

	"github.com/aotp/aotp/internal/half"
)

// Widening adds gather rows stored in a narrow dtype (fused AoT tables) into
// float32 accumulators without a temporary float32 copy.

// AddF16 does dst[i] += float32(src[i]) for IEEE half-precision bits.
func AddF16(dst []float32, src []uint16) {
	checkLen16("AddF16", len(dst), len(src))
	addF16Impl(dst, src)
}

// AddBF16 does dst[i] += float32(src[i]) for bfloat16 bits.
func AddBF16(dst []float32, src []uint16) {
	checkLen16("AddBF16", len(dst), len(src))
	addBF16Impl(dst, src)
}

// AddI8Scaled does dst[i] += float32(src[i])·scale (int8 rows with a
// per-row scale).
func AddI8Scaled(dst []float32, src []int8, scale float32) {
	if len(dst) != len(src) {
		panic("vec: AddI8Scaled: length mismatch")
	}
	addI8Impl(dst, src, scale)
}

func checkLen16(name string, a, b int) {
	if a != b {
		panic("vec: " + name + ": length mismatch")
	}
}

func addF16Generic(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] += half.ToFloat32(h)
	}
}

func addBF16Generic(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] += math.Float32frombits(uint32(h) << 16)
	}
}

func addI8Generic(dst []float32, src []int8, scale float32) {
	for i, q := range src {
		dst[i] += float32(q) * scale
	}
}
