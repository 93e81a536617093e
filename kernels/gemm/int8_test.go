package gemm

import (
	"math"
	"math/rand"
	"testing"

	"github.com/aotp/aotp/kernels/parallel"
)

// dequantized is a copy of w [N,K] on the int8 grid of each row.
func dequantized(w []float32, N, K int) []float32 {
	out := append([]float32(nil), w...)
	RoundToInt8Grid(out, N, K)
	return out
}

// LinearPacked on a PackBInt8 weight is LinearPacked on the dequantized
// weight: bit for bit where the panels are widened first, within float32
// rounding of the sums where an int8 kernel scales each column's sum
// instead; every implementation, odd sizes, 1–3 threads, bias and
// activation.
func TestLinearPackedInt8(t *testing.T) {
	forPackedVariants(t, 12, func(w []float32, N, K int) (*PackedB, []float32) {
		deq := dequantized(w, N, K)
		for i, v := range w {
			if d := math.Abs(float64(deq[i] - v)); d > 1.0/254+1e-7 {
				t.Fatalf("weight %d: %v dequantized to %v", i, v, deq[i])
			}
		}
		pq := PackBInt8(w, N, K)
		if pf := PackB(deq, N, K); !pq.Int8() || pf.Int8() || pq.Bytes() > pf.Bytes()/4+4*pq.np {
			t.Fatalf("Int8 %v/%v, bytes %d vs %d", pq.Int8(), pf.Int8(), pq.Bytes(), pf.Bytes())
		}
		return pq, deq
	}, func(c packedCase) {
		for i := range c.got {
			if c.im.kernQ == nil {
				if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
					t.Fatalf("%s: out[%d]=%v, dequantized weight gives %v", c, i, c.got[i], c.want[i])
				}
				continue
			}
			row, col := i/c.N, i%c.N
			mag := 0.0 // Σ|a·w|: the scale of the sum's rounding
			for k := 0; k < c.K; k++ {
				mag += math.Abs(float64(c.inp[row*c.K+k]) * float64(c.w[col*c.K+k]))
			}
			if c.bias != nil {
				mag += math.Abs(float64(c.bias[col]))
			}
			if d := math.Abs(float64(c.got[i] - c.want[i])); d > 1e-5*mag+1e-30 {
				t.Fatalf("%s: out[%d]=%v, dequantized weight gives %v (Σ|a·w| %g)", c, i, c.got[i], c.want[i], mag)
			}
		}
	})
}

// MulPacked on a PackBNInt8 operand (the backward's, b [K,N] with a scale
// per row) is MulPacked on PackBN of the dequantized b, bit for bit: the
// rows of b are the forward weight's output channels, so PackBNInt8 of a
// weight and PackBInt8 of it stand for the same values.
func TestMulPackedInt8NN(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(13))
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range append(append([][3]int{}, packedSizes...), [3]int{300, 768, 200}) {
				M, K, N := sz[0], sz[1], sz[2]
				a, b := randSlice(r, M*K), randSlice(r, K*N)
				deq := dequantized(b, K, N) // rows of b on their grids
				pq, pf := PackBNInt8(b, K, N), PackBN(deq, K, N)
				if !pq.Int8() || pq.Bytes() > pf.Bytes()/4+4*K {
					t.Fatalf("%s: Int8 %v, bytes %d vs %d", im.name, pq.Int8(), pq.Bytes(), pf.Bytes())
				}
				for _, th := range []int{1, 2} {
					parallel.SetThreads(th)
					for _, beta := range []float32{0, 1} {
						want, got := randSlice(r, M*N), make([]float32, M*N)
						copy(got, want)
						MulPacked(want, N, a, K, pf, M, beta)
						MulPacked(got, N, a, K, pq, M, beta)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d beta=%v: c[%d]=%v, dequantized b gives %v",
									im.name, M, K, N, th, beta, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}
