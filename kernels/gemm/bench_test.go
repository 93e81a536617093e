package gemm

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/aotp/aotp/kernels/parallel"
)

// Benchmarks use the implementation selected by AOTP_GEMM (default: the
// fastest) and parallel.Threads() threads (GOMAXPROCS by default).

func benchGemm(b *testing.B, transA, transB bool, m, n, k int, threads int) {
	if threads > 0 {
		defer parallel.SetThreads(parallel.Threads())
		parallel.SetThreads(threads)
	}
	r := rand.New(rand.NewSource(1))
	a := randSlice(r, m*k)
	bb := randSlice(r, k*n)
	c := make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n) // warm buffers
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
}

// linearShapes are the (K, N) of the roberta-base and -large Linears.
var linearShapes = [][2]int{{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}, {1024, 1024}, {1024, 4096}, {4096, 1024}}

// BenchmarkLinear: the forward pass, NT (weight [N,K]), roberta-base/large shapes.
func BenchmarkLinear(b *testing.B) {
	for _, M := range []int{1024, 4096} {
		for _, kn := range linearShapes {
			K, N := kn[0], kn[1]
			b.Run(fmt.Sprintf("M%d_K%d_N%d", M, K, N), func(b *testing.B) { benchGemm(b, false, true, M, N, K, 0) })
		}
	}
}

// BenchmarkLinearPacked: BenchmarkLinear with the weight packed once (PackB).
func BenchmarkLinearPacked(b *testing.B) {
	for _, M := range []int{1024, 4096} {
		for _, kn := range linearShapes {
			K, N := kn[0], kn[1]
			b.Run(fmt.Sprintf("M%d_K%d_N%d", M, K, N), func(b *testing.B) {
				r := rand.New(rand.NewSource(1))
				a, w, c := randSlice(r, M*K), randSlice(r, N*K), make([]float32, M*N)
				pw := PackB(w, N, K)
				LinearPacked(c, a, pw, nil, M, nil)
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					LinearPacked(c, a, pw, nil, M, nil)
				}
				b.ReportMetric(2*float64(M)*float64(N)*float64(K)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkBackward: for the FFN up-projection M=4096, K=768, N=3072:
// dX[M,K] = dY[M,N]·W[N,K] (NN) and dW[N,K] = dYᵀ·X (TN).
func BenchmarkBackward(b *testing.B) {
	const M, K, N = 4096, 768, 3072
	b.Run("NN_dX", func(b *testing.B) { benchGemm(b, false, false, M, K, N, 0) })
	b.Run("TN_dW", func(b *testing.B) { benchGemm(b, true, false, N, K, M, 0) })
}

// BenchmarkAttention: per-head shapes, T=128, head dim 64: S = Q·Kᵀ (NT,
// 128×128×64), O = P·V (NN, 128×64×128) and the backward's dV = Pᵀ·dO (TN,
// 128×64×128; dK = dSᵀ·Q has the same shape). "nested" runs single-threaded,
// as a call from inside a parallel.For over heads does.
func BenchmarkAttention(b *testing.B) {
	for _, th := range []int{1, 0} {
		name := "nested1T"
		if th == 0 {
			name = "threads"
		}
		b.Run("QK_NT_128x128x64/"+name, func(b *testing.B) { benchGemm(b, false, true, 128, 128, 64, th) })
		b.Run("PV_NN_128x64x128/"+name, func(b *testing.B) { benchGemm(b, false, false, 128, 64, 128, th) })
		b.Run("PtdO_TN_128x64x128/"+name, func(b *testing.B) { benchGemm(b, true, false, 128, 64, 128, th) })
	}
}

// BenchmarkReference: the 4096×768×3072 forward shape, single- and all-thread.
func BenchmarkReference(b *testing.B) {
	b.Run("1thread", func(b *testing.B) { benchGemm(b, false, true, 4096, 3072, 768, 1) })
	b.Run("threads", func(b *testing.B) { benchGemm(b, false, true, 4096, 3072, 768, 0) })
}

// BenchmarkPeakFMA measures the machine's AVX2 FMA peak: 10 independent ymm
// FMA chains (more than latency × pipes = 4 × 2 on Zen 3), no memory traffic.
func BenchmarkPeakFMA(b *testing.B) {
	if !hasFMALoop() {
		b.Skip("no AVX2+FMA")
	}
	const iters = 1 << 20
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads%d", th), func(b *testing.B) {
			defer parallel.SetThreads(parallel.Threads())
			parallel.SetThreads(th)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				parallel.For(th, 1, func(lo, hi int) {
					for ; lo < hi; lo++ {
						fmaLoopAVX2(iters)
					}
				})
			}
			b.ReportMetric(160*iters*float64(th)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}
