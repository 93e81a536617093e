package vec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aotp/aotp/internal/half"
)

// The widening adds agree bit for bit with a scalar reference on every
// path, for all lengths (tails) and special values.
func TestWideningAdds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, impl := range Impls() {
		if err := SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 100, 768} {
			h := make([]uint16, n)
			q := make([]int8, n)
			base := make([]float32, n)
			for i := range h {
				h[i] = uint16(r.Uint32())
				q[i] = int8(r.IntN(256) - 128)
				base[i] = float32(r.NormFloat64())
			}
			if n > 3 {
				h[0], h[1], h[2], h[3] = 0x7c00, 0xfc00, 0x0001, 0x8000 // +Inf, -Inf, smallest subnormal, -0
			}
			check := func(what string, got []float32, want func(i int) float32) {
				t.Helper()
				for i := range got {
					w := want(i)
					if math.Float32bits(got[i]) != math.Float32bits(w) && !(got[i] != got[i] && w != w) {
						t.Fatalf("%s %s n=%d i=%d: %v, want %v", impl, what, n, i, got[i], w)
					}
				}
			}
			d := append([]float32(nil), base...)
			AddF16(d, h)
			check("AddF16", d, func(i int) float32 { return base[i] + half.ToFloat32(h[i]) })
			d = append([]float32(nil), base...)
			AddBF16(d, h)
			check("AddBF16", d, func(i int) float32 { return base[i] + math.Float32frombits(uint32(h[i])<<16) })
			d = append([]float32(nil), base...)
			AddI8Scaled(d, q, 0.0123)
			check("AddI8Scaled", d, func(i int) float32 { return base[i] + float32(q[i])*0.0123 })
		}
	}
	SetImpl(Impls()[0])
}
