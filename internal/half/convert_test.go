package half

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ToFloat32s (F16C, NEON where the CPU has them) agrees with ToFloat32 on
// every F16 value, NaNs as NaNs, at lengths that leave a tail of 1–7.
func TestToFloat32s(t *testing.T) {
	src := make([]uint16, 1<<16+5)
	for i := range src {
		src[i] = uint16(i)
	}
	for _, n := range []int{len(src), 1 << 16, 7, 0} {
		got := make([]float32, n)
		ToFloat32s(got, src[:n])
		for i, h := range src[:n] {
			want := ToFloat32(h)
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(math.IsNaN(float64(want)) && math.IsNaN(float64(got[i]))) {
				t.Fatalf("n=%d: ToFloat32s(%#04x) = %v (%#08x), ToFloat32 gives %v (%#08x)",
					n, h, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
}

// FromFloat32s (F16C where the CPU has it) rounds as FromFloat32, over
// random bit patterns: every exponent, subnormals, Inf and NaN.
func TestFromFloat32s(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	src := make([]float32, 1<<16+3)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	src[0], src[1], src[2] = 65520, float32(math.Inf(-1)), 0x1p-25
	got := make([]uint16, len(src))
	FromFloat32s(got, src)
	for i, v := range src {
		if want := FromFloat32(v); got[i] != want {
			t.Fatalf("FromFloat32s(%v = %#08x) = %#04x, FromFloat32 gives %#04x", v, math.Float32bits(v), got[i], want)
		}
	}
}

func BenchmarkToFloat32s(b *testing.B) {
	src := make([]uint16, 1<<20)
	for i := range src {
		src[i] = uint16(i*7919) & 0x7bff
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		ToFloat32s(dst, src)
	}
}
