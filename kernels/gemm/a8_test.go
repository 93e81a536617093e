package gemm

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/aotp/aotp/kernels/parallel"
)

// a8Bound is the most a W8A8 output may move from the float32 product on
// the int8-grid weight: each activation of row m moves by at most half
// its step sa = (max(row,0) − min(row,0))/127, so the sum by at most
// Σ_k |w|·sa/2; plus float32 rounding.
func a8Bound(inp, w, bias []float32, m, n, K int) float64 {
	row := inp[m*K : (m+1)*K]
	lo, hi := 0.0, 0.0
	for _, v := range row {
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	sa := (hi - lo) / 127
	var sumW, mag float64
	for k := 0; k < K; k++ {
		sumW += math.Abs(float64(w[n*K+k]))
		mag += math.Abs(float64(row[k]) * float64(w[n*K+k]))
	}
	if bias != nil {
		mag += math.Abs(float64(bias[n]))
	}
	return sumW*sa*0.5*(1+1e-3) + 1e-5*mag + 1e-30
}

// LinearPacked on a PackBA8 weight stays within the activations' rounding
// (a8Bound) of LinearPacked on the int8-grid weight in float32: every
// implementation, odd sizes, 1–3 threads, bias and activation.
func TestLinearPackedA8(t *testing.T) {
	forPackedVariants(t, 14, func(w []float32, N, K int) (*PackedB, []float32) {
		deq := dequantized(w, N, K)
		pq := PackBA8(w, N, K)
		if !pq.A8() || pq.Int8() || pq.Bytes() != pq.np*4*ceilDiv(K, 4)+8*pq.np { // a byte a weight, padded; scale and Σ q a column
			t.Fatalf("A8 %v Int8 %v, bytes %d for %d weights", pq.A8(), pq.Int8(), pq.Bytes(), len(deq))
		}
		return pq, deq
	}, func(c packedCase) {
		checkA8Bound(t, c, nil)
	})
}

// checkA8Bound checks every output of c against a8Bound, on activations
// divided and weights multiplied by the smoothing factors s (nil: none),
// and that the activations were quantized at all.
func checkA8Bound(t *testing.T, c packedCase, s []float32) {
	t.Helper()
	xs, wq := c.inp, c.w
	if s != nil {
		xs, wq = append([]float32(nil), c.inp...), append([]float32(nil), c.w...)
		for i := range xs {
			xs[i] /= s[i%c.K]
		}
		for i := range wq {
			wq[i] *= s[i%c.K]
		}
	}
	worst := 0.0
	for i := range c.got {
		m, n := i/c.N, i%c.N
		b := a8Bound(xs, wq, c.bias, m, n, c.K)
		d := math.Abs(float64(c.got[i] - c.want[i]))
		if !(d <= b) {
			t.Fatalf("%s: out[%d]=%v, float32 gives %v: |Δ| %g > bound %g", c, i, c.got[i], c.want[i], d, b)
		}
		worst = max(worst, d/b)
	}
	if c.K > 200 && worst < 0.01 {
		t.Fatalf("%s: largest move %.3g of the bound: the activations look unquantized", c, worst)
	}
}

// randSmoothing returns K smoothing factors in [1/16, 16], log-uniform.
func randSmoothing(r *rand.Rand, K int) []float32 {
	s := make([]float32, K)
	for k := range s {
		s[k] = float32(math.Exp2(8*r.Float64() - 4))
	}
	return s
}

// On a PackBA8Smooth weight, LinearPacked stays within the smoothed
// activations' rounding of the float32 product on the weight it stands for
// (RoundToA8Grid: the int8 grid of W·diag(s), times diag(1/s)): every
// implementation, odd sizes, 1–3 threads, bias and activation.
func TestLinearPackedA8Smooth(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	var s []float32
	forPackedVariants(t, 17, func(w []float32, N, K int) (*PackedB, []float32) {
		s = randSmoothing(r, K)
		ref := append([]float32(nil), w...)
		RoundToA8Grid(ref, N, K, s)
		return PackBA8Smooth(w, N, K, s), ref
	}, func(c packedCase) { checkA8Bound(t, c, s) })
}

// The backward's operand for a smoothed W8A8 weight (PackBNInt8Smooth) is
// RoundToA8Grid's weights, bit for bit: MulPacked gives PackBN's result on
// them.
func TestMulPackedInt8NNSmooth(t *testing.T) {
	r := rand.New(rand.NewSource(19))
	forPackedNNVariants(t, 20, func(b []float32, K, N int) (*PackedB, []float32) {
		s := randSmoothing(r, N) // b is [Out, In]: the columns are the inputs
		ref := append([]float32(nil), b...)
		RoundToA8Grid(ref, K, N, s)
		pq := PackBNInt8Smooth(b, K, N, s)
		if pf := PackBN(ref, K, N); !pq.Int8() || pq.Bytes() > pf.Bytes()/4+4*K+4*pq.np {
			t.Fatalf("Int8 %v, bytes %d vs %d", pq.Int8(), pq.Bytes(), pf.Bytes())
		}
		return pq, ref
	})
}

// With scales, quantRowA8 gives the bytes, scale and zero point it gives on the
// row multiplied by inv first, on every path, for rows shorter and longer
// than 8 and than 512, holding NaN or Inf or nothing but zeros.
func TestQuantRowA8Scaled(t *testing.T) {
	r := rand.New(rand.NewSource(18))
	for _, K := range []int{1, 7, 8, 9, 100, 511, 512, 513, 1030, 3072} {
		for trial := 0; trial < 6; trial++ {
			src, inv := randSlice(r, K), make([]float32, K)
			for k := range inv {
				inv[k] = float32(math.Ldexp(1, r.Intn(9)-4))
				if trial == 5 {
					inv[k] = float32(r.Float64()*3 + 0.01) // not powers of two: still the same products
				}
			}
			switch trial {
			case 1:
				clear(src)
			case 2:
				src[r.Intn(K)] = float32(math.NaN())
			case 3:
				src[r.Intn(K)] = float32(math.Inf(1))
			case 4:
				src[r.Intn(K)] *= 1000
			}
			pre := make([]float32, K)
			for k := range pre {
				pre[k] = src[k] * inv[k]
			}
			for _, asm := range []bool{false, cur.Load().a8asm} {
				Kp := 4 * ceilDiv(K, 4)
				want, got := make([]uint8, Kp), make([]uint8, Kp)
				for i := range got {
					got[i] = 0xff // padding must be cleared
				}
				s1, z1 := quantRowA8(want, pre, nil, asm)
				s2, z2 := quantRowA8(got, src, inv, asm)
				if math.Float32bits(s1) != math.Float32bits(s2) || z1 != z2 || string(got) != string(want) {
					t.Fatalf("K=%d trial %d asm %v: scaled (%v, %d), on the scaled row (%v, %d); bytes equal %v", K, trial, asm, s2, z2, s1, z1, string(got) == string(want))
				}
			}
		}
	}
}

// Every implementation gives the same bits (the assembly kernel and
// quantizer, and the Go ones), for LinearPacked and for MulPacked with
// strides and beta; rows that are all zeros, all positive, or hold a
// NaN or an Inf are handled alike.
func TestA8BitIdenticalAcrossImpls(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(15))
	gelu := func(x []float32) {
		for i, v := range x {
			x[i] = v * float32(0.5*(1+math.Erf(float64(v)/math.Sqrt2)))
		}
	}
	for _, sz := range append(append([][3]int{}, packedSizes...), [3]int{8, 768, 300}, [3]int{97, 3072, 40}, [3]int{11, 40, 33}, [3]int{2, 64, 20}) {
		M, K, N := sz[0], sz[1], sz[2]
		lda, ldc := K+3, N+5
		inp, w, bias := randSlice(r, M*lda), randSlice(r, N*K), randSlice(r, N)
		for m := 0; m < M; m++ {
			row := inp[m*lda : m*lda+K]
			switch m % 5 {
			case 1:
				for k := range row {
					row[k] = float32(math.Abs(float64(row[k]))) * 7
				}
			case 2:
				clear(row)
			case 3:
				row[len(row)/2] = float32(math.NaN())
			case 4:
				row[0] = float32(math.Inf(-1))
			}
		}
		c0 := randSlice(r, M*ldc)
		var smooth []float32 // half the sizes smoothed (PackBA8Smooth)
		if (M+K+N)%2 == 1 {
			smooth = randSmoothing(r, K)
		}
		var refLin, refMul []float32
		for _, im := range testImpls() {
			withImpl(t, im, func() {
				pb := PackBA8Smooth(w, N, K, smooth)
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					lin := make([]float32, M*N)
					LinearPacked(lin, dense(inp, M, K, lda), pb, bias, M, gelu)
					mul := append([]float32(nil), c0...)
					MulPacked(mul, ldc, inp, lda, pb, M, 0.5)
					if refLin == nil {
						refLin, refMul = lin, mul
						continue
					}
					for i := range lin {
						if math.Float32bits(lin[i]) != math.Float32bits(refLin[i]) {
							t.Fatalf("%s M=%d K=%d N=%d threads=%d: LinearPacked out[%d]=%v, first implementation %v", im.name, M, K, N, th, i, lin[i], refLin[i])
						}
					}
					for i := range mul {
						if math.Float32bits(mul[i]) != math.Float32bits(refMul[i]) {
							t.Fatalf("%s M=%d K=%d N=%d threads=%d: MulPacked c[%d]=%v, first implementation %v", im.name, M, K, N, th, i, mul[i], refMul[i])
						}
					}
				}
			})
		}
		// MulPacked: beta·c kept outside the rows and columns written.
		for m := 0; m < M; m++ {
			for j := N; j < ldc; j++ {
				if refMul[m*ldc+j] != c0[m*ldc+j] {
					t.Fatalf("M=%d K=%d N=%d: c[%d,%d] past N written", M, K, N, m, j)
				}
			}
		}
	}
}

// The fastest implementation runs the architecture's W8A8 assembly where
// the CPU has what it needs (AVX2; arm64's dot product), so that
// TestA8BitIdenticalAcrossImpls compares it with the Go kernel; the
// generic implementation runs the Go kernel.
func TestA8KernelSelected(t *testing.T) {
	want := "go"
	if a8ArchKernel != "go" { // a build with W8A8 assembly
		switch runtime.GOARCH {
		case "amd64":
			if cpu.X86.HasAVX2 {
				want = "avx2"
			}
		case "arm64":
			if cpu.ARM64.HasASIMDDP {
				want = "sdot"
			}
		}
	}
	withImpl(t, impls[0], func() {
		if got := A8Kernel(); got != want {
			t.Fatalf("%s: W8A8 kernel %q, want %q", impls[0].name, got, want)
		}
	})
	withImpl(t, genericImpl, func() {
		if got := A8Kernel(); got != "go" {
			t.Fatalf("generic: W8A8 kernel %q, want go", got)
		}
	})
	t.Logf("W8A8 kernel of %s: %s", impls[0].name, want)
}

// A row holding a NaN or an Inf is refused as a whole: zeros, scale 0 (its
// outputs are the bias), on every path.
func TestQuantRowA8NonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, n := range []int{1, 8, 17, 64} {
			for _, at := range []int{0, n / 2, n - 1} {
				src := make([]float32, n)
				for i := range src {
					src[i] = float32(i) - 3
				}
				src[at] = bad
				for _, asm := range []bool{false, cur.Load().a8asm} {
					dst := make([]uint8, n+3)
					dst[0] = 9
					if sa, za := quantRowA8(dst, src, nil, asm); sa != 0 || za != 0 || string(dst) != string(make([]uint8, n+3)) {
						t.Fatalf("%v at %d of %d (asm %v): scale %v zero point %d bytes %v", bad, at, n, asm, sa, za, dst)
					}
				}
			}
		}
	}
}

// dense copies the M×K matrix of stride ld into a packed one.
func dense(a []float32, M, K, ld int) []float32 {
	out := make([]float32, M*K)
	for m := 0; m < M; m++ {
		copy(out[m*K:(m+1)*K], a[m*ld:m*ld+K])
	}
	return out
}

// The row quantizer: the assembly and Go paths give the same bytes, each
// value is within half a step of sa·(q − za), and padding is zero.
func TestQuantRowA8(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	for _, n := range []int{1, 7, 8, 9, 64, 100, 768} {
		for _, shift := range []float32{0, 3, -3} {
			src := randSlice(r, n)
			for i := range src {
				src[i] += shift
			}
			want := make([]uint8, n+5)
			sa, za := quantRowA8(want, src, nil, false)
			for _, asm := range []bool{false, cur.Load().a8asm} {
				got := make([]uint8, n+5)
				for i := range got {
					got[i] = 0xff
				}
				s2, z2 := quantRowA8(got, src, nil, asm)
				if s2 != sa || z2 != za || string(got) != string(want) {
					t.Fatalf("n=%d shift=%v asm=%v: (%v,%d,%v), Go gives (%v,%d,%v)", n, shift, asm, s2, z2, got, sa, za, want)
				}
			}
			if za < 0 || za > 127 || !(sa > 0) {
				t.Fatalf("n=%d shift=%v: scale %v zero point %d", n, shift, sa, za)
			}
			for i, v := range src {
				if want[i] > 127 {
					t.Fatalf("n=%d: q[%d] = %d", n, i, want[i])
				}
				back := float64(sa) * float64(int32(want[i])-za)
				if d := math.Abs(back - float64(v)); d > float64(sa)*0.5001 {
					t.Fatalf("n=%d shift=%v: %v → %d → %v (step %v)", n, shift, v, want[i], back, sa)
				}
			}
			for _, b := range want[n:] {
				if b != 0 {
					t.Fatalf("n=%d: padding %v", n, want[n:])
				}
			}
		}
	}
}

// FuzzQuantRowA8: any row of float32 bits (NaN, ±Inf, subnormals, the
// extremes) quantizes to the same bytes on the assembly and the Go path,
// every byte at most 127, padding zero, and each finite value of an
// accepted row within half a step of sa·(q − za); the smoothed quantizer
// gives the plain one's bytes on the products.
func FuzzQuantRowA8(f *testing.F) {
	le := func(vs ...float32) []byte {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	f.Add(le(1, -2, 3, 0.5, 7, -7, 0, 1e-3, 2))
	f.Add(le(1e-40, -1e-40, 3e-39, 0, 1e-41, 2e-40, -5e-39, 1e-38, 1e-39))
	f.Add(le(3e38, -3e38, 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add(le(float32(math.NaN()), 1, 2, 3, 4, 5, 6, 7, 8, 9))
	f.Add(le(1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, -1e-30))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n := len(raw) / 4
		if n == 0 || n > 4096 {
			return
		}
		src := make([]float32, n)
		for i := range src {
			src[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		want := make([]uint8, n+3)
		sa, za := quantRowA8(want, src, nil, false)
		if asm := cur.Load().a8asm; asm {
			got := make([]uint8, n+3)
			s2, z2 := quantRowA8(got, src, nil, true)
			if s2 != sa || z2 != za || string(got) != string(want) {
				t.Fatalf("asm (%v, %d, %v), Go (%v, %d, %v) for %v", s2, z2, got, sa, za, want, src)
			}
		}
		for i, q := range want {
			if q > 127 || (i >= n && q != 0) {
				t.Fatalf("byte %d = %d for %v", i, q, src)
			}
		}
		// the smoothed quantizer on src with scales from the same bytes
		// (reversed, made positive and finite) is the plain one on the products
		scale, pre := make([]float32, n), make([]float32, n)
		for i := range scale {
			v := float32(math.Abs(float64(src[n-1-i])))
			if !(v > 0) || v > 1e30 || v < 1e-30 {
				v = 1
			}
			scale[i], pre[i] = v, src[i]*v
		}
		for _, asm := range []bool{false, cur.Load().a8asm} {
			p, q := make([]uint8, n+3), make([]uint8, n+3)
			s1, z1 := quantRowA8(p, pre, nil, asm)
			s2, z2 := quantRowA8(q, src, scale, asm)
			if math.Float32bits(s1) != math.Float32bits(s2) || z1 != z2 || string(p) != string(q) {
				t.Fatalf("asm %v: scaled (%v, %d, %v), on the products (%v, %d, %v) for %v × %v", asm, s2, z2, q, s1, z1, p, src, scale)
			}
		}
		if sa == 0 {
			return
		}
		if za < 0 || za > 127 {
			t.Fatalf("zero point %d", za)
		}
		for i, v := range src {
			back := float64(sa) * float64(int32(want[i])-za)
			if d := math.Abs(back - float64(v)); d > float64(sa)*0.5001+1e-45 {
				t.Fatalf("%v → %d → %v (step %v, zero point %d)", v, want[i], back, sa, za)
			}
		}
	})
}

// W8A8 products from several goroutines at once, and from inside
// parallel.For, give the one-at-a-time answer: each call has its own
// quantized rows (a8Call).
func TestA8Concurrent(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	parallel.SetThreads(2)
	r := rand.New(rand.NewSource(17))
	const M, K, N, parts = 50, 300, 200, 4
	w, bias := randSlice(r, N*K), randSlice(r, N)
	pb := PackBA8(w, N, K)
	inp := make([][]float32, parts)
	want := make([][]float32, parts)
	for p := range inp {
		inp[p], want[p] = randSlice(r, M*K), make([]float32, M*N)
		LinearPacked(want[p], inp[p], pb, bias, M, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*parts)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([][]float32, parts)
			parallel.For(parts, 1, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					got[p] = make([]float32, M*N)
					LinearPacked(got[p], inp[p], pb, bias, M, nil)
				}
			})
			for p := range got {
				for i := range got[p] {
					if got[p][i] != want[p][i] {
						errs <- fmt.Sprintf("goroutine %d part %d element %d: %v != %v", g, p, i, got[p][i], want[p][i])
						return
					}
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
