package gemm

import (
	"math"
	"math/rand"
	"testing"

	"github.com/aotp/aotp/kernels/parallel"
)

// dequantized is the weight PackBInt8 stores: each row on its own int8
// grid of max|row|/127.
func dequantized(w []float32, N, K int) []float32 {
	out := make([]float32, len(w))
	for j := 0; j < N; j++ {
		row := w[j*K : (j+1)*K]
		var m float32
		for _, v := range row {
			m = max(m, abs32(v))
		}
		s := m / 127
		for k, v := range row {
			if s != 0 {
				out[j*K+k] = float32(int8(math.RoundToEven(float64(v/s)))) * s
			}
		}
	}
	return out
}

// LinearPacked on a PackBInt8 weight is LinearPacked on the dequantized
// weight: bit for bit where the panels are widened first, within float32
// rounding of the sums where an int8 kernel scales each column's sum
// instead; every implementation, odd sizes, 1–3 threads, bias and
// activation.
func TestLinearPackedInt8(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(12))
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
					clear(w[K : 2*K]) // an all-zero row: scale 0
				}
				deq := dequantized(w, N, K)
				for i, v := range w {
					if d := math.Abs(float64(deq[i] - v)); d > 1.0/254+1e-7 {
						t.Fatalf("weight %d: %v dequantized to %v", i, v, deq[i])
					}
				}
				pq, pf := PackBInt8(w, N, K), PackB(deq, N, K)
				if !pq.Int8() || pf.Int8() || pq.Bytes() > pf.Bytes()/4+4*pq.np {
					t.Fatalf("%s: Int8 %v/%v, bytes %d vs %d", im.name, pq.Int8(), pf.Int8(), pq.Bytes(), pf.Bytes())
				}
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for variant := 0; variant < 2; variant++ {
						b, f := bias, relu
						if variant == 0 {
							b, f = nil, nil
						}
						want := make([]float32, M*N)
						got := make([]float32, M*N)
						LinearPacked(want, inp, pf, b, M, f)
						LinearPacked(got, inp, pq, b, M, f)
						for i := range got {
							if im.kernQ == nil {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s M=%d K=%d N=%d threads=%d: out[%d]=%v, dequantized weight gives %v",
										im.name, M, K, N, th, i, got[i], want[i])
								}
								continue
							}
							row, col := i/N, i%N
							mag := 0.0 // Σ|a·w|: the scale of the sum's rounding
							for k := 0; k < K; k++ {
								mag += math.Abs(float64(inp[row*K+k]) * float64(deq[col*K+k]))
							}
							if b != nil {
								mag += math.Abs(float64(b[col]))
							}
							if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*mag+1e-30 {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d: out[%d]=%v, dequantized weight gives %v (Σ|a·w| %g)",
									im.name, M, K, N, th, i, got[i], want[i], mag)
							}
						}
					}
				}
			}
		})
	}
}
