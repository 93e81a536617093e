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

// BenchmarkLinearPacked: BenchmarkLinear with the weight packed once:
// float32 (PackB) and W8A8 (PackBA8: its GFLOP/s count the same 2·M·N·K
// operations, done on bytes).
func BenchmarkLinearPacked(b *testing.B) {
	for _, dtype := range []string{"f32", "w8a8", "w8a8s"} {
		for _, M := range []int{1024, 4096} {
			for _, kn := range linearShapes {
				K, N := kn[0], kn[1]
				name := fmt.Sprintf("M%d_K%d_N%d", M, K, N)
				if dtype != "f32" {
					name = dtype + "/" + name
				}
				b.Run(name, func(b *testing.B) {
					r := rand.New(rand.NewSource(1))
					a, w, c := randSlice(r, M*K), randSlice(r, N*K), make([]float32, M*N)
					pw := PackB(w, N, K)
					switch dtype {
					case "w8a8":
						pw = PackBA8(w, N, K)
					case "w8a8s": // smoothed (PackBA8Smooth)
						pw = PackBA8Smooth(w, N, K, randSmoothing(r, K))
					}
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
}

// BenchmarkWeightStream: a batch of one's GEMMs, M rows through 16 distinct
// pre-packed 768×3072 weights (151 MB as float32: more than any L3, so every
// call streams its weight from memory, as a forward pass does), float32
// (PackB), F16 (PackBHalf), int8 (PackBInt8) and W8A8 (PackBA8). Reports the weight bytes
// read per second.
func BenchmarkWeightStream(b *testing.B) {
	const K, N, nw = 768, 3072, 16
	r := rand.New(rand.NewSource(1))
	w := randSlice(r, N*K)
	for _, dtype := range []string{"f32", "f16", "int8", "w8a8"} {
		pws := make([]*PackedB, nw)
		for i := range pws {
			switch dtype {
			case "f16":
				pws[i] = PackBHalf(w, N, K)
			case "int8":
				pws[i] = PackBInt8(w, N, K)
			case "w8a8":
				pws[i] = PackBA8(w, N, K)
			default:
				pws[i] = PackB(w, N, K)
			}
		}
		for _, M := range []int{8, 32, 1024} {
			name := fmt.Sprintf("%s/M%d", dtype, M)
			b.Run(name, func(b *testing.B) {
				inp, out := randSlice(r, M*K), make([]float32, M*N)
				for _, pw := range pws {
					LinearPacked(out, inp, pw, nil, M, nil)
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					for _, pw := range pws {
						LinearPacked(out, inp, pw, nil, M, nil)
					}
				}
				sec := time.Since(start).Seconds()
				b.ReportMetric(float64(pws[0].Bytes())*nw*float64(b.N)/sec/1e9, "GB/s")
				b.ReportMetric(2*float64(M*N*K)*nw*float64(b.N)/sec/1e9, "GFLOP/s")
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

// BenchmarkPeakFMA measures the machine's FMA peak for each vector width the
// CPU has: independent FMA chains (more than latency × pipes), no memory
// traffic. Kernel efficiency is the GEMM benchmarks' GFLOP/s over this.
func BenchmarkPeakFMA(b *testing.B) {
	loops := fmaLoops()
	if len(loops) == 0 {
		b.Skip("no assembly FMA loop on this CPU or build")
	}
	const iters = 1 << 20
	for _, l := range loops {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads%d", l.name, th), func(b *testing.B) {
				defer parallel.SetThreads(parallel.Threads())
				parallel.SetThreads(th)
				start := time.Now()
				for i := 0; i < b.N; i++ {
					parallel.For(th, 1, func(lo, hi int) {
						for ; lo < hi; lo++ {
							l.run(iters)
						}
					})
				}
				b.ReportMetric(l.flops*iters*float64(th)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkKernel runs each micro-kernel (and its edge kernel) alone, one
// thread, on panels that stay in L1/L2 (a macro block's worth of A
// micro-panels against one B micro-panel, as macro sweeps them): its
// GFLOP/s over BenchmarkPeakFMA's 1-thread figure is the kernel's own
// efficiency, apart from packing, threads and memory.
func BenchmarkKernel(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	type kernCase struct {
		name string
		k    kernelFunc
		rows int
	}
	for _, im := range impls {
		kerns := []kernCase{{"full", im.kern, im.mr}}
		if im.kernE != nil {
			kerns = append(kerns, kernCase{"edge", im.kernE, im.mrE})
		}
		panels := im.mc / im.mr
		a := randSlice(r, im.mc*im.kc)
		bp := randSlice(r, im.kc*im.nr)
		c := make([]float32, im.mc*im.nr)
		for _, kn := range kerns {
			b.Run(fmt.Sprintf("%s/%s_kc%d", im.name, kn.name, im.kc), func(b *testing.B) {
				start := time.Now()
				for i := 0; i < b.N; i++ {
					for p := 0; p < panels; p++ {
						kn.k(im.kc, &a[p*im.mr*im.kc], &bp[0], &c[p*im.mr*im.nr], im.nr, 1, nil)
					}
				}
				flops := 2 * float64(kn.rows*im.nr*im.kc*panels) * float64(b.N)
				b.ReportMetric(flops/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func TestPeakGFLOPS(t *testing.T) {
	p := PeakGFLOPS(1, 20*time.Millisecond)
	if len(fmaLoops()) == 0 || Impl() == "generic" {
		if p != 0 {
			t.Fatalf("no FMA loop: PeakGFLOPS = %v, want 0", p)
		}
		return
	}
	// positive and finite (not more: an emulator, e.g. qemu-aarch64 for
	// tools/arm64-test.sh, runs it at a fraction of a GFLOP/s)
	if !(p > 0 && p < 1e5) {
		t.Fatalf("PeakGFLOPS(1) = %v GFLOP/s", p)
	}
	t.Logf("%s FMA peak, 1 thread: %.1f GFLOP/s", Impl(), p)
}

// BenchmarkKernelA8: the W8A8 micro-kernel alone, in cache (K = 768), on
// one thread; GOP/s count multiply-adds as 2 operations, as GFLOP/s do.
func BenchmarkKernelA8(b *testing.B) {
	if !cur.Load().a8asm {
		b.Skip("no W8A8 assembly kernel on this CPU")
	}
	const kq = 192
	a, w := make([]uint8, a8MR*4*kq), make([]int8, a8NR*4*kq)
	c := make([]float32, a8MR*a8NR)
	za, sa := make([]int32, a8MR), make([]float32, a8MR)
	cs, sw, bias := make([]int32, a8NR), make([]float32, a8NR), make([]float32, a8NR)
	for i := 0; i < b.N; i++ {
		kernA8(true, a8MR, kq, a, 4*kq, w, c, a8NR, za, sa, cs, sw, bias)
	}
	b.ReportMetric(2*a8MR*a8NR*4*kq*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
}
