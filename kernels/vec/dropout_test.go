package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dropRef is DropoutAt element by element (DropKeep), the definition.
func dropRef(x []float32, key uint64, off int, p float32) {
	scale := 1 / (1 - p)
	for i := range x {
		if DropKeep(key, off+i, p) {
			x[i] *= scale
		} else {
			x[i] *= 0
		}
	}
}

// DropoutAt, on every kernel path, gives the per-element definition's bits:
// offsets and lengths around the groups of 4 and the runs of 16, signed
// zeros, several p (p near 1: the threshold no longer fits 16 bits).
func TestDropoutAt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	forEachImpl(t, func(t *testing.T) {
		for _, p := range []float32{0.1, 0.5, 0.9, 1 - 1.0/200000} {
			for _, n := range []int{0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 1000} {
				for _, off := range []int{0, 1, 2, 3, 4, 5, 16, 61, 1 << 20} {
					key := r.Uint64()
					x := make([]float32, n)
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					if n > 2 {
						x[1] = float32(math.Copysign(0, -1))
					}
					want := append([]float32(nil), x...)
					dropRef(want, key, off, p)
					DropoutAt(x, key, off, p)
					for i := range x {
						if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
							t.Fatalf("p=%v n=%d off=%d: x[%d] = %v, want %v", p, n, off, i, x[i], want[i])
						}
					}
				}
			}
		}
	})
}

func BenchmarkDropoutAt(b *testing.B) {
	x := make([]float32, 128*128)
	for i := range x {
		x[i] = 1
	}
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		DropoutAt(x, uint64(i), 0, 0.1)
	}
}
