package gemm

import (
	"fmt"
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
	forPackedVariants(t, 11, func(w []float32, N, K int) (*PackedB, []float32) {
		rounded := make([]float32, len(w))
		for i, v := range w {
			rounded[i] = half.ToFloat32(half.FromFloat32(v))
		}
		ph, pf := PackBHalf(w, N, K), PackB(rounded, N, K)
		if !ph.Half() || pf.Half() || ph.Bytes()*2 != pf.Bytes() {
			t.Fatalf("Half %v/%v, bytes %d vs %d", ph.Half(), pf.Half(), ph.Bytes(), pf.Bytes())
		}
		return ph, rounded
	}, func(c packedCase) {
		for i := range c.got {
			if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
				t.Fatalf("%s: out[%d]=%v, rounded float32 weight gives %v", c, i, c.got[i], c.want[i])
			}
		}
	})
}

// packedCase is one run of forPackedVariants: LinearPacked's output on the
// packed weight (got) and on the float32 weight it stands for (want).
type packedCase struct {
	im          *impl
	M, K, N, th int
	inp, w      []float32 // w: the float32 weight the packed one stands for
	bias        []float32
	got, want   []float32
}

func (c packedCase) String() string {
	return fmt.Sprintf("%s M=%d K=%d N=%d threads=%d bias=%v", c.im.name, c.M, c.K, c.N, c.th, c.bias != nil)
}

// forPackedVariants packs random weights with pack (which returns the
// packed weight and the float32 weight it stands for) and hands check
// LinearPacked's outputs on both: every implementation, odd sizes, 1–3
// threads (row and column splits), without and with bias and activation.
func forPackedVariants(t *testing.T, seed int64, pack func(w []float32, N, K int) (*PackedB, []float32), check func(packedCase)) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(seed))
	relu := func(x []float32) {
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
				if N > 2 {
					clear(w[K : 2*K]) // an all-zero row
				}
				pp, ref := pack(w, N, K)
				pf := PackB(ref, N, K)
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for variant := 0; variant < 2; variant++ {
						b, f := bias, relu
						if variant == 0 {
							b, f = nil, nil
						}
						c := packedCase{im: im, M: M, K: K, N: N, th: th, inp: inp, w: ref, bias: b,
							got: make([]float32, M*N), want: make([]float32, M*N)}
						LinearPacked(c.want, inp, pf, b, M, f)
						LinearPacked(c.got, inp, pp, b, M, f)
						check(c)
					}
				}
			}
		})
	}
}
