package gemm

import (
	"fmt"
	"github.com/aotp/aotp/internal/half"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/aotp/aotp/kernels/parallel"
)

// LinearPacked must be Linear bit for bit: every implementation (also with
// tiny blocks, so that odd sizes cross several kc, mc and nc boundaries),
// bias or not, activation or not, one thread and several (rows and column
// splits), and NaN in out (it is written, never read).
// packedSizes are the M, K, N of the bit-identity tests: odd sizes around
// the tiles and blocks.
var packedSizes = [][3]int{
	{1, 1, 1}, {1, 5, 17}, {7, 33, 29}, {13, 300, 70}, {40, 257, 100},
	{61, 64, 48}, {3, 700, 1000}, {130, 513, 95}, {250, 96, 301},
}

func TestLinearPackedBitIdentical(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(7))
	act := func(x []float32) {
		for i, v := range x {
			x[i] = v * float32(math.Tanh(float64(v)))
		}
	}
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range packedSizes {
				M, K, N := sz[0], sz[1], sz[2]
				inp, w, bias := randSlice(r, M*K), randSlice(r, N*K), randSlice(r, N)
				pw := PackB(w, N, K)
				if pw.Impl() != im.name || pw.N() != N || pw.K() != K {
					t.Fatalf("%s: PackB recorded %s %d×%d", im.name, pw.Impl(), pw.N(), pw.K())
				}
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for variant := 0; variant < 4; variant++ {
						b := bias
						if variant&1 == 0 {
							b = nil
						}
						var f func([]float32)
						if variant&2 != 0 {
							f = act
						}
						want := make([]float32, M*N)
						Linear(want, inp, w, b, M, K, N, f)
						got := make([]float32, M*N)
						for i := range got {
							got[i] = float32(math.NaN())
						}
						LinearPacked(got, inp, pw, b, M, f)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d variant=%d: out[%d]=%v, Linear gives %v",
									im.name, M, K, N, th, variant, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// Large enough for the real block sizes and the parallel path (rows split
// for many rows, columns split for few).
func TestLinearPackedLarge(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	parallel.SetThreads(2)
	r := rand.New(rand.NewSource(8))
	for _, name := range Impls() {
		withImpl(t, byName(name), func() {
			for _, sz := range [][3]int{{251, 530, 300}, {7, 100, 1000}, {13, 20, 3100}, {64, 768, 3100}} {
				M, K, N := sz[0], sz[1], sz[2]
				inp, w, bias := randSlice(r, M*K), randSlice(r, N*K), randSlice(r, N)
				want := make([]float32, M*N)
				got := make([]float32, M*N)
				Linear(want, inp, w, bias, M, K, N, nil)
				LinearPacked(got, inp, PackB(w, N, K), bias, M, nil)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %v: out[%d]=%v, Linear gives %v", name, sz, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// A PackedB used after SetImpl switched to another implementation panics
// with a message naming both; packing again after the switch works.
func TestLinearPackedImplSwitch(t *testing.T) {
	names := Impls()
	if len(names) < 2 {
		t.Skip("one implementation only")
	}
	defer SetImpl(Impl())
	r := rand.New(rand.NewSource(9))
	const M, K, N = 9, 40, 21
	inp, w := randSlice(r, M*K), randSlice(r, N*K)
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			if err := SetImpl(from); err != nil {
				t.Fatal(err)
			}
			pw := PackB(w, N, K)
			if err := SetImpl(to); err != nil {
				t.Fatal(err)
			}
			func() {
				defer func() {
					msg := fmt.Sprint(recover())
					if !strings.Contains(msg, from) || !strings.Contains(msg, to) {
						t.Fatalf("%s→%s: panic %q, want one naming both implementations", from, to, msg)
					}
				}()
				LinearPacked(make([]float32, M*N), inp, pw, nil, M, nil)
			}()
			want, got := make([]float32, M*N), make([]float32, M*N)
			Linear(want, inp, w, nil, M, K, N, nil)
			LinearPacked(got, inp, PackB(w, N, K), nil, M, nil)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s after repacking: out[%d]=%v want %v", to, i, got[i], want[i])
				}
			}
		}
	}
}

func TestLinearPackedDegenerate(t *testing.T) {
	// K == 0: out = act(bias); N == 0 and M == 0: nothing.
	pw := PackB(nil, 3, 0)
	out := []float32{9, 9, 9, 9, 9, 9}
	LinearPacked(out, nil, pw, []float32{1, 2, 3}, 2, nil)
	for i, v := range out {
		if v != float32(i%3+1) {
			t.Fatalf("K=0: out=%v", out)
		}
	}
	LinearPacked(nil, nil, PackB(nil, 0, 5), nil, 4, nil)
	LinearPacked(nil, nil, PackB(make([]float32, 10), 2, 5), nil, 0, nil)
}

// MulPacked with B packed by PackBN (op(B) = b, the backward's dY·W) or by
// PackB (op(B) = weightᵀ) gives Sgemm's result on the unpacked operand bit
// for bit: every implementation, odd sizes, strided A and C, beta 0 (NaN
// in C), 1 and other, 1–3 threads.
func TestMulPackedBitIdentical(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(8))
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range packedSizes {
				M, K, N := sz[0], sz[1], sz[2]
				lda, ldc := K+r.Intn(3), N+r.Intn(3)
				a := randSlice(r, (M-1)*lda+K)
				b := randSlice(r, K*N) // [K,N] for PackBN, [N,K] for PackB
				for _, nn := range []bool{true, false} {
					pb := PackB(b, N, K)
					if nn {
						pb = PackBN(b, K, N)
					}
					ldb := K
					if nn {
						ldb = N
					}
					for _, th := range []int{1, 2, 3} {
						parallel.SetThreads(th)
						for _, beta := range []float32{0, 1, -0.5} {
							c0 := randSlice(r, (M-1)*ldc+N)
							if beta == 0 {
								for i := range c0 {
									c0[i] = float32(math.NaN())
								}
							}
							want := append([]float32(nil), c0...)
							Sgemm(false, !nn, M, N, K, 1, a, lda, b, ldb, beta, want, ldc)
							got := append([]float32(nil), c0...)
							MulPacked(got, ldc, a, lda, pb, M, beta)
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s nn=%v M=%d K=%d N=%d threads=%d beta=%v: c[%d]=%v, Sgemm gives %v",
										im.name, nn, M, K, N, th, beta, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

// MulPacked on a PackBNHalf operand (the backward's dY·W with an F16
// weight) is MulPacked on PackBN of the operand rounded to F16, bit for bit:
// every implementation, odd sizes, 1–3 threads, beta 0 and 1.
func TestMulPackedHalfNN(t *testing.T) {
	forPackedNNVariants(t, 12, func(b []float32, K, N int) (*PackedB, []float32) {
		rounded := make([]float32, len(b))
		for i, v := range b {
			rounded[i] = half.ToFloat32(half.FromFloat32(v))
		}
		ph := PackBNHalf(b, K, N)
		if pf := PackBN(rounded, K, N); !ph.Half() || ph.Bytes()*2 != pf.Bytes() {
			t.Fatalf("Half %v, bytes %d vs %d", ph.Half(), ph.Bytes(), pf.Bytes())
		}
		return ph, rounded
	})
}

// forPackedNNVariants packs random operands b [K,N] with pack (which
// returns the packed operand and the float32 one it stands for) and checks
// that MulPacked on it is MulPacked on PackBN of that float32 operand, bit
// for bit: every implementation, odd sizes, 1–3 threads, beta 0 and 1.
func forPackedNNVariants(t *testing.T, seed int64, pack func(b []float32, K, N int) (*PackedB, []float32)) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(seed))
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range append(append([][3]int{}, packedSizes...), [3]int{300, 768, 200}) {
				M, K, N := sz[0], sz[1], sz[2]
				a, b := randSlice(r, M*K), randSlice(r, K*N)
				pp, ref := pack(b, K, N)
				pf := PackBN(ref, K, N)
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for _, beta := range []float32{0, 1} {
						c0 := randSlice(r, M*N)
						want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
						MulPacked(want, N, a, K, pf, M, beta)
						MulPacked(got, N, a, K, pp, M, beta)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d beta=%v: c[%d]=%v, the float32 operand gives %v",
									im.name, M, K, N, th, beta, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// A call allocates nothing in steady state (package doc): the packed path
// with rows or columns split (small M packs A once per call), Sgemm, and
// a transposed A, W8A8 products, on 2 threads.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer parallel.SetThreads(parallel.Threads())
	parallel.SetThreads(2)
	r := rand.New(rand.NewSource(9))
	const K, N = 256, 512
	w := randSlice(r, N*K)
	pw, pn := PackB(w, N, K), PackBN(w, N, K) // pn: op(B) = w as [N, K]
	pa := PackBA8(w, N, K)
	ps := PackBA8Smooth(w, N, K, randSmoothing(r, K))
	for _, M := range []int{32, 300} {
		a, c := randSlice(r, M*N), make([]float32, M*N) // big enough for both forms
		for name, f := range map[string]func(){
			"LinearPacked": func() { LinearPacked(c, a, pw, nil, M, nil) },
			"MulPacked":    func() { MulPacked(c, K, a, N, pn, M, 1) },
			"W8A8":         func() { LinearPacked(c, a, pa, a[:N], M, nil) },
			"W8A8 beta":    func() { MulPacked(c, N, a, K, pa, M, 0.5) },
			"W8A8 smooth":  func() { LinearPacked(c, a, ps, nil, M, nil) },
			"Sgemm":        func() { Sgemm(false, true, M, N, K, 1, a, K, w, K, 0, c, N) },
			"SgemmTN":      func() { Sgemm(true, false, M, N, K, 1, a, M, w, N, 0, c, N) },
		} {
			if n := testing.AllocsPerRun(20, f); n != 0 {
				t.Errorf("%s M=%d: %v allocations per call", name, M, n)
			}
		}
	}
}

// The pre-packed path's grid: row parts, or column parts when all rows fit
// in one mc block and row pieces would be thin; every grid gives Linear's
// result bit for bit (many threads on few cores included).
func TestGrid(t *testing.T) {
	for _, c := range []struct {
		mPanels, mcPanels, cols, want, pm, pn int
	}{
		{171, 24, 48, 8, 8, 1},  // AVX2, 1024 rows, 2 threads
		{86, 20, 24, 64, 64, 1}, // AVX-512, 1024 rows, 16 threads: rows (measured)
		{6, 24, 48, 8, 1, 8},    // batch of one, 32 tokens: columns
		{22, 24, 48, 8, 1, 8},   // 128 tokens, 2 threads: columns
		{22, 24, 48, 64, 1, 48}, // 128 tokens, 16 threads: at most one tile per column panel
		{11, 20, 24, 8, 1, 8},   // AVX-512, 128 tokens
		{3, 24, 1, 8, 3, 1},     // one column panel: rows
		{30, 24, 48, 8, 8, 1},   // more than an mc block: rows
	} {
		pm, pn := gridShape(c.mPanels, c.mcPanels, c.cols, c.want, 0, true)
		if pm != c.pm || pn != c.pn {
			t.Errorf("gridShape(%d panels, mc %d, %d cols, %d tiles) = %d×%d, want %d×%d", c.mPanels, c.mcPanels, c.cols, c.want, pm, pn, c.pm, c.pn)
		}
	}
	if pm, pn := gridShape(6, 24, 48, 8, maxGridA+1, true); pn != 1 || pm != 6 {
		t.Errorf("A over maxGridA: %d×%d, want rows only", pm, pn)
	}
	defer func(m string) { gridMode = m }(gridMode)
	gridMode = "tiles"
	if pm, pn := gridShape(86, 20, 24, 64, 0, true); pm != 4 || pn != 16 {
		t.Errorf("tiles, 1024 rows on 16 threads: %d×%d, want 4×16", pm, pn)
	}
	gridMode = "rows"
	if pm, pn := gridShape(22, 24, 48, 8, 0, true); pm != 8 || pn != 1 {
		t.Errorf("rows, 128 tokens: %d×%d, want 8×1", pm, pn)
	}
	if pm, pn := gridShape(6, 24, 48, 8, 0, false); pm != 1 || pn != 8 {
		t.Errorf("rows, 32 tokens split by columns: %d×%d, want 1×8", pm, pn)
	}
	gridMode = ""

	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(9))
	for _, mode := range []string{"", "tiles", "rows"} {
		gridMode = mode
		checkGridResults(t, r)
	}
}

// checkGridResults compares LinearPacked with Linear, bit for bit, on
// shapes and thread counts that give each kind of grid.
func checkGridResults(t *testing.T, r *rand.Rand) {
	t.Helper()
	for _, im := range testImpls() {
		for _, th := range []int{3, 16} {
			parallel.SetThreads(th)
			for _, sh := range [][3]int{{300, 96, 200}, {1024, 64, 768}, {40, 33, 70}, {128, 80, 300}} {
				M, K, N := sh[0], sh[1], sh[2]
				inp, w, bias := randSlice(r, M*K), randSlice(r, N*K), randSlice(r, N)
				want, got := make([]float32, M*N), make([]float32, M*N)
				withImpl(t, im, func() {
					Linear(want, inp, w, bias, M, K, N, nil)
					LinearPacked(got, inp, packBFor(im, w, N, K, true, false), bias, M, nil)
				})
				for i := range want {
					if !same(got[i], want[i]) {
						t.Fatalf("%s grid %q threads %d %v: c[%d] = %v, Linear's %v", im.name, gridMode, th, sh, i, got[i], want[i])
					}
				}
			}
		}
	}
}
