package gemm

import (
	"math"
	"testing"
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
	forPackedNNVariants(t, 13, func(b []float32, K, N int) (*PackedB, []float32) {
		deq := dequantized(b, K, N) // rows of b on their grids
		pq := PackBNInt8(b, K, N)
		if pf := PackBN(deq, K, N); !pq.Int8() || pq.Bytes() > pf.Bytes()/4+4*K {
			t.Fatalf("Int8 %v, bytes %d vs %d", pq.Int8(), pq.Bytes(), pf.Bytes())
		}
		return pq, deq
	})
}
