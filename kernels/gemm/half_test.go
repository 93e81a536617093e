package gemm

import (
	"math"
	"math/rand"
	"testing"

	"github.com/aotp/aotp/internal/half"
	"github.com/aotp/aotp/kernels/parallel"
)

// LinearPacked on a PackBHalf weight is LinearPacked on the weight rounded
// to F16, bit for bit: every implementation, odd sizes, 1–3 threads (row
// and column splits), bias and activation.
func TestLinearPackedHalf(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(11))
	var act func([]float32) = func(x []float32) {
		for i, v := range x {
			x[i] = max(v, 0)
		}
	}
	sizes := append(append([][3]int{}, packedSizes...), [3]int{8, 768, 300}, [3]int{200, 300, 130})
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range sizes {
				M, K, N := sz[0], sz[1], sz[2]
				inp, w, bias := randSlice(r, M*K), randSlice(r, N*K), randSlice(r, N)
				rounded := make([]float32, len(w))
				for i, v := range w {
					rounded[i] = half.ToFloat32(half.FromFloat32(v))
				}
				ph, pf := PackBHalf(w, N, K), PackB(rounded, N, K)
				if !ph.Half() || pf.Half() || ph.Bytes()*2 != pf.Bytes() {
					t.Fatalf("%s: Half %v/%v, bytes %d vs %d", im.name, ph.Half(), pf.Half(), ph.Bytes(), pf.Bytes())
				}
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for variant := 0; variant < 2; variant++ {
						b, f := bias, act
						if variant == 0 {
							b, f = nil, nil
						}
						want := make([]float32, M*N)
						got := make([]float32, M*N)
						LinearPacked(want, inp, pf, b, M, f)
						LinearPacked(got, inp, ph, b, M, f)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d: out[%d]=%v, rounded float32 weight gives %v",
									im.name, M, K, N, th, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}
