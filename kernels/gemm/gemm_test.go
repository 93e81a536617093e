package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/aotp/aotp/kernels/parallel"
)

// testImpls returns every implementation this CPU runs, each also with tiny
// blocking parameters (so small matrices cross several kc, mc and nc block
// boundaries), plus the AVX-512 12×32 geometry driven by a plain-loop kernel,
// so that the blocking code for that tile is tested on any CPU.
func testImpls() []*impl {
	var l []*impl
	for _, im := range impls {
		l = append(l, im)
		small := *im
		small.name += "/smallblocks"
		small.kc, small.mc, small.nc = 24, 2*im.mr, 3*im.nr
		l = append(l, &small)
	}
	l = append(l,
		&impl{name: "loop12x32", mr: 12, nr: 32, kc: 40, mc: 24, nc: 64, kern: loopKernel(12, 32), kernE: loopKernelRows(12, 8, 32), mrE: 8, asmPack: byName("avx2") != nil},
		&impl{name: "loop6x16", mr: 6, nr: 16, kc: 256, mc: 240, nc: 3072, kern: loopKernel(6, 16)})
	return l
}

func withImpl(t *testing.T, im *impl, f func()) {
	t.Helper()
	old := cur.Load()
	cur.Store(im)
	defer cur.Store(old)
	f()
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

const u32 = 1.0 / (1 << 24) // unit roundoff of float32

// checkGemm runs Sgemm on matrices embedded in larger buffers (row strides
// above the row length, a leading offset, guard values after the end) and
// compares with a float64 reference.
//
// Tolerance: each entry is a k-term fp32 dot product, scaled by alpha (folded
// into packed A: one more rounding) and added to beta·C (two more). The
// classical bound for recursive or blocked summation is
// |err| ≤ γ_{k+3}·(|alpha|·Σ_p |a_ip||b_pj| + |beta·c_ij|), γ_n ≈ n·u, u = 2⁻²⁴.
// It is rigorous, so the test cannot flake, and still tight enough to catch
// any wrong or missing term: with entries uniform in [-1,1) a single term is
// typically ~0.25, while the bound at k=129 is ~3e-4.
func checkGemm(t *testing.T, r *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32) {
	t.Helper()
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+r.Intn(4), bc+r.Intn(4), n+r.Intn(4)
	offA, offB, offC := r.Intn(3), r.Intn(3), r.Intn(3)
	aBuf := randSlice(r, offA+ar*lda+5)
	bBuf := randSlice(r, offB+br*ldb+5)
	cBuf := randSlice(r, offC+m*ldc+5)
	if beta == 0 {
		for i := range cBuf {
			cBuf[i] = float32(math.NaN())
		}
	}
	c0 := append([]float32(nil), cBuf...)
	// Sub-slices end exactly at the last element the call may touch.
	a := aBuf[offA : offA+(ar-1)*lda+ac]
	b := bBuf[offB : offB+(br-1)*ldb+bc]
	c := cBuf[offC : offC+(m-1)*ldc+n]
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			want := float64(alpha) * s
			scale := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				cv := float64(c0[offC+i*ldc+j])
				want += float64(beta) * cv
				scale += math.Abs(float64(beta) * cv)
			}
			got := float64(c[i*ldc+j])
			tol := float64(k+3)*u32*scale + 1e-30
			if !(math.Abs(got-want) <= tol) {
				t.Fatalf("transA=%v transB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d: C[%d,%d] = %v, want %v (tol %.3g)",
					transA, transB, m, n, k, alpha, beta, lda, ldb, ldc, i, j, got, want, tol)
			}
		}
	}
	// Everything outside the m×n window of C is untouched.
	for i := range cBuf {
		ci := i - offC
		if ci >= 0 && ci/ldc < m && ci%ldc < n {
			continue
		}
		if !same(cBuf[i], c0[i]) {
			t.Fatalf("m=%d n=%d k=%d ldc=%d: C buffer[%d] outside the matrix changed", m, n, k, ldc, i)
		}
	}
}

func same(x, y float32) bool { return x == y || (x != x && y != y) }

var sizes = []int{1, 7, 17, 33, 100, 129}

var alphaBeta = [][2]float32{{1, 0}, {1, 1}, {-0.5, 0}, {2, -1.5}, {1, 0.25}, {0.75, 1}}

func TestSgemm(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	for _, im := range testImpls() {
		t.Run(im.name, func(t *testing.T) {
			withImpl(t, im, func() {
				r := rand.New(rand.NewSource(1))
				v := 0
				for _, threads := range []int{1, 2} {
					parallel.SetThreads(threads)
					for _, m := range sizes {
						for _, n := range sizes {
							for _, k := range sizes {
								if im.name == "loop6x16" && m*n*k < 100000 {
									continue // only there to cover the parallel split
								}
								for form := 0; form < 4; form++ {
									ab := alphaBeta[v%len(alphaBeta)]
									v++
									checkGemm(t, r, form&1 != 0, form&2 != 0, m, n, k, ab[0], ab[1])
								}
							}
						}
					}
				}
			})
		})
	}
}

// Shapes that cross the real block sizes (kc=256, mc=240, nc=3072 for AVX2),
// and a thin one that makes the threads split the columns.
func TestSgemmLarge(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	parallel.SetThreads(2)
	r := rand.New(rand.NewSource(2))
	for _, name := range Impls() {
		withImpl(t, byName(name), func() {
			for form := 0; form < 4; form++ {
				checkGemm(t, r, form&1 != 0, form&2 != 0, 251, 300, 530, 1, 0)
				checkGemm(t, r, form&1 != 0, form&2 != 0, 7, 1000, 100, 1, 0.5)
			}
			checkGemm(t, r, false, true, 13, 3100, 20, 1, 0)
		})
	}
}

func byName(name string) *impl {
	for _, im := range impls {
		if im.name == name {
			return im
		}
	}
	return nil
}

// TestKernels checks each micro-kernel directly against the loop kernel:
// every kc remainder of the 4× unrolled loop, bias, beta 0 (NaN in C), 1, other.
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, im := range impls {
		mr, nr := im.mr, im.nr
		ref := loopKernel(mr, nr)
		for _, kc := range []int{1, 2, 3, 4, 5, 8, 17, 256} {
			for _, beta := range []float32{0, 1, -0.5} {
				for _, withBias := range []bool{false, true} {
					a := randSlice(r, mr*kc)
					b := randSlice(r, nr*kc)
					bias := randSlice(r, nr)
					var bp *float32
					if withBias {
						bp = &bias[0]
					}
					ldc := nr + 3
					c := randSlice(r, mr*ldc)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					want := append([]float32(nil), c...)
					c4 := append([]float32(nil), c...)
					orig := append([]float32(nil), c...)
					im.kern(kc, &a[0], &b[0], &c[0], ldc, beta, bp)
					ref(kc, &a[0], &b[0], &want[0], ldc, beta, bp)
					if im.kernE != nil {
						// the edge kernel: the full kernel's top mrE rows
						// bit for bit, nothing written below them
						im.kernE(kc, &a[0], &b[0], &c4[0], ldc, beta, bp)
						for i := range c4 {
							if i < im.mrE*ldc && i%ldc < nr {
								if !same(c4[i], c[i]) {
									t.Fatalf("%s kernE kc=%d beta=%v: c[%d]=%v, the %d-row kernel's %v", im.name, kc, beta, i, c4[i], mr, c[i])
								}
							} else if !same(c4[i], orig[i]) {
								t.Fatalf("%s kernE kc=%d: wrote outside its %d rows at %d", im.name, kc, im.mrE, i)
							}
						}
					}
					for i := range c {
						if i%ldc >= nr {
							if !same(c[i], want[i]) {
								t.Fatalf("%s kc=%d: wrote outside the tile at %d", im.name, kc, i)
							}
							continue
						}
						if d := math.Abs(float64(c[i] - want[i])); !(d <= 1e-5*float64(kc+2)) {
							t.Fatalf("%s kc=%d beta=%v bias=%v: c[%d]=%v want %v", im.name, kc, beta, withBias, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestLinear(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	for _, im := range testImpls() {
		t.Run(im.name, func(t *testing.T) {
			withImpl(t, im, func() {
				r := rand.New(rand.NewSource(4))
				for _, threads := range []int{1, 2} {
					parallel.SetThreads(threads)
					for _, sz := range [][3]int{{1, 1, 1}, {7, 17, 33}, {33, 100, 17}, {129, 33, 100}, {100, 129, 129}, {5, 64, 600}, {64, 0, 20}} {
						for variant := 0; variant < 4; variant++ {
							checkLinear(t, r, sz[0], sz[1], sz[2], variant&1 != 0, variant&2 != 0)
						}
					}
				}
			})
		})
	}
}

func checkLinear(t *testing.T, r *rand.Rand, M, K, N int, withBias, withAct bool) {
	t.Helper()
	inp := randSlice(r, M*K)
	w := randSlice(r, N*K)
	var bias []float32
	if withBias {
		bias = randSlice(r, N)
	}
	out := make([]float32, M*N)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	hits := make([]int32, M*N)
	base := uintptr(unsafe.Pointer(&out[0]))
	var act func([]float32)
	if withAct {
		act = func(x []float32) {
			if len(x) == 0 {
				return
			}
			o := int(uintptr(unsafe.Pointer(&x[0]))-base) / 4
			for i := range x {
				atomic.AddInt32(&hits[o+i], 1)
				if x[i] < 0 {
					x[i] *= 0.125
				}
			}
		}
	}
	Linear(out, inp, w, bias, M, K, N, act)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s, sa float64
			for p := 0; p < K; p++ {
				v := float64(inp[i*K+p]) * float64(w[j*K+p])
				s += v
				sa += math.Abs(v)
			}
			if bias != nil {
				s += float64(bias[j])
				sa += math.Abs(float64(bias[j]))
			}
			if withAct && s < 0 {
				s *= 0.125
			}
			got := float64(out[i*N+j])
			if tol := float64(K+2)*u32*sa + 1e-30; !(math.Abs(got-s) <= tol) {
				t.Fatalf("M=%d K=%d N=%d bias=%v act=%v: out[%d,%d]=%v want %v", M, K, N, withBias, withAct, i, j, got, s)
			}
			if withAct && hits[i*N+j] != 1 {
				t.Fatalf("M=%d K=%d N=%d: act saw out[%d,%d] %d times", M, K, N, i, j, hits[i*N+j])
			}
		}
	}
}

// Sgemm called from inside parallel.For (attention heads) and from several
// goroutines at once must give the same answers: buffers are per call.
func TestNestedAndConcurrent(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	parallel.SetThreads(2)
	const heads, T, D = 6, 70, 40
	r := rand.New(rand.NewSource(5))
	q := randSlice(r, heads*T*D)
	kk := randSlice(r, heads*T*D)
	want := make([]float32, heads*T*T)
	for h := 0; h < heads; h++ {
		Sgemm(false, true, T, T, D, 1, q[h*T*D:], D, kk[h*T*D:], D, 0, want[h*T*T:], T)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]float32, heads*T*T)
			parallel.For(heads, 1, func(lo, hi int) {
				for h := lo; h < hi; h++ {
					Sgemm(false, true, T, T, D, 1, q[h*T*D:], D, kk[h*T*D:], D, 0, got[h*T*T:], T)
				}
			})
			for i := range got {
				if got[i] != want[i] {
					errs <- fmt.Sprintf("element %d: %v != %v", i, got[i], want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestSetImpl(t *testing.T) {
	old := Impl()
	defer SetImpl(old)
	for _, name := range Impls() {
		if err := SetImpl(name); err != nil || Impl() != name {
			t.Fatalf("SetImpl(%q) = %v, Impl() = %q", name, err, Impl())
		}
	}
	if err := SetImpl("sse9"); err == nil {
		t.Fatal("SetImpl(sse9) succeeded")
	}
	if Impls()[len(Impls())-1] != "generic" {
		t.Fatalf("Impls() = %v, want generic last", Impls())
	}
	t.Logf("implementations on this CPU: %v (default %s)", Impls(), old)
}

func TestAVX512Available(t *testing.T) {
	if byName("avx512") == nil {
		if err := SetImpl("avx512"); err == nil {
			t.Fatal("SetImpl(avx512) succeeded on a CPU without it")
		}
		t.Skip("CPU (or build) lacks AVX-512F: the avx512 kernel is not run here; its 12×32 blocking is covered by the loop12x32 tests")
	}
}

func TestDegenerate(t *testing.T) {
	c := []float32{1, 2, float32(math.NaN()), 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0 beta=0: %v", c)
		}
	}
	c = []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 3, 0, make([]float32, 6), 3, make([]float32, 6), 2, 2, c, 2)
	if c[3] != 8 {
		t.Fatalf("alpha=0 beta=2: %v", c)
	}
	Sgemm(false, false, 0, 5, 5, 1, nil, 5, nil, 5, 0, nil, 5)
}
