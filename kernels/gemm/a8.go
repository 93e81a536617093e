package gemm

import (
	"fmt"
	"math"
	"sync"

	"github.com/aotp/aotp/kernels/parallel"
)

// W8A8: int8 weights times int8 activations, an opt-in for inference
// (`--weights w8a8`) and for quantization-aware training of adapters.
//
// The weight is on PackBInt8's grid (one scale per output channel, 255
// levels). Each row of the activations is quantized when the call runs,
// asymmetrically on 128 levels between min(row, 0) and max(row, 0):
//
//	a ≈ sa·(qa − za),  qa ∈ [0, 127],  za = roundEven(−min·127/(max−min))
//
// so that a product of an activation byte and a weight byte is one
// VPMADDUBSW lane (unsigned × signed bytes, pairs summed into int16: 2·127·127
// < 2¹⁵ never saturates, which 8-bit activations would) and the sums over k
// are exact int32s whatever the blocking. Then
//
//	out[m,n] = ((float32(Σ_k qa·qw − za[m]·Σ_k qw)·sa[m])·sw[n]) + bias[n]
//
// in float32 in that order, by the assembly and the Go kernel alike: every
// implementation gives the same bits. On AVX2 this runs two multiply-adds
// of bytes where the float32 kernel runs one FMA of floats, 32 products a
// cycle instead of 16 (measured 97 against 49 GMAC/s on a core here), for
// a quarter of the weight bytes.
//
// Layout of the packed weight (PackBA8), 16 columns a panel and the depth
// in groups of 4 (K padded with zeros to Kp = 4·kq):
//
//	a8[jp·kq·64 + q·64 + j·4 + t] = Q[16·jp + j, 4·q + t]
//
// The activations are not packed: each thread's kernel reads its 6 rows
// of the quantized [Mp, Kp] bytes in place.
const (
	a8MR = 6  // rows of a W8A8 tile
	a8NR = 16 // columns of a W8A8 tile (two ymm of int32)

	// MaxA8K is the largest K PackBA8 takes: |Σ qa·qw| and |za·Σ qw| are
	// each at most 127²·K, so their difference fits an int32 up to K ≈ 66500.
	MaxA8K = 1 << 16
)

// PackBA8 packs weight [N,K] for W8A8 products (see above): LinearPacked
// and MulPacked then quantize their activations per row and multiply in
// int8. The weights are those of PackBInt8 (RoundToInt8Grid); the outputs
// move further, by the rounding of each activation to 1/127 of its row's
// range.
func PackBA8(weight []float32, N, K int) *PackedB { return PackBA8Smooth(weight, N, K, nil) }

// PackBA8Smooth is PackBA8 with per-column smoothing (SmoothQuant): the
// weight's column k is multiplied by s[k] before it is put on the int8
// grid, and the activations' column k by 1/s[k] before each row is
// quantized, so the product is unchanged but for the rounding. A column of
// large activations (the outlier channels of trained encoders, which
// stretch every row's 128 levels) then weighs on the activations' rounding
// less, and on the weights' more: s[k] = √(max|x_k| / max|w_k|) balances
// the two (model.Encoder.PackWeightsW8A8). The multiplications are float32
// ones, the same on every path (powers of two would make them exact).
// s nil: PackBA8.
func PackBA8Smooth(weight []float32, N, K int, s []float32) *PackedB {
	if N < 0 || K < 0 || K > MaxA8K {
		panic(fmt.Sprintf("gemm: PackBA8: size N=%d K=%d (K at most MaxA8K)", N, K))
	}
	checkMat("weight", weight, N, K, K)
	np := ceilDiv(N, a8NR) * a8NR
	pb := &PackedB{im: cur.Load(), n: N, k: K, np: np}
	if N == 0 || K == 0 {
		return pb
	}
	if s != nil {
		pb.a8inv = smoothInverse(s, K)
		weight = smoothColumns(weight, N, K, s)
	}
	kq := ceilDiv(K, 4)
	pb.scale = make([]float32, max(N, np))
	rowScales(pb.scale, weight, N, K)
	pb.scale = pb.scale[:np]
	pb.a8sum = make([]int32, np)
	pb.a8 = allocPacked[int8](pb, np*kq*4)
	parallel.For(np/a8NR, 4, func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			panel := pb.a8[jp*kq*64 : (jp+1)*kq*64]
			for j := 0; j < a8NR && jp*a8NR+j < N; j++ {
				n := jp*a8NR + j
				row, s := weight[n*K:(n+1)*K], pb.scale[n]
				sum := int32(0)
				for k, v := range row {
					q := quantOne(v, s)
					panel[(k/4)*64+j*4+k%4] = q
					sum += int32(q)
				}
				pb.a8sum[n] = sum
			}
		}
	})
	return pb
}

// smoothInverse returns 1/s[k] for K smoothing factors, each positive and
// finite with a finite inverse (else it panics: a caller's bug).
func smoothInverse(s []float32, K int) []float32 {
	if len(s) != K {
		panic(fmt.Sprintf("gemm: %d smoothing factors for %d columns", len(s), K))
	}
	inv := make([]float32, K)
	for k, v := range s {
		if !(v > 0) || v > math.MaxFloat32 || 1/v > math.MaxFloat32 {
			panic(fmt.Sprintf("gemm: smoothing factor %d is %v", k, v))
		}
		inv[k] = 1 / v
	}
	return inv
}

// smoothColumns returns a copy of w [rows, cols] with column k times s[k]
// (float32 products: PackBA8Smooth and PackBNInt8Smooth round the same
// values onto the same grid).
func smoothColumns(w []float32, rows, cols int, s []float32) []float32 {
	out := make([]float32, rows*cols)
	parallel.For(rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for k, v := range w[r*cols : (r+1)*cols] {
				out[r*cols+k] = v * s[k]
			}
		}
	})
	return out
}

// RoundToA8Grid rounds w [rows, cols] in place to the weights a
// PackBA8Smooth product with s stands for: the int8 grid of w·diag(s), per
// row, times diag(1/s) (RoundToInt8Grid where s is nil).
func RoundToA8Grid(w []float32, rows, cols int, s []float32) {
	if s == nil {
		RoundToInt8Grid(w, rows, cols)
		return
	}
	inv := smoothInverse(s, cols)
	for i := range w {
		w[i] *= s[i%cols] // smoothColumns' products, in place
	}
	RoundToInt8Grid(w, rows, cols)
	for i := range w {
		w[i] *= inv[i%cols]
	}
}

// A8Kernel names the W8A8 kernel of the selected implementation: "avx2",
// "sdot" (arm64's dot-product instructions) or "go" — the portable one,
// several times slower than the float32 assembly kernels, so W8A8 there is
// slower than float32 weights.
func A8Kernel() string {
	if cur.Load().a8asm {
		return a8ArchKernel
	}
	return "go"
}

// A8 reports whether pb was packed by PackBA8 (and is not empty).
func (pb *PackedB) A8() bool { return pb.a8 != nil }

// a8Call is one W8A8 product: its operands, its quantized activations
// (kept for reuse: the buffers and the method values handed to the pool
// are made once, so a call allocates nothing in steady state).
type a8Call struct {
	pb              *PackedB
	c, a            []float32
	ldc, lda, M, kq int
	beta            float32
	bias            []float32
	act             func([]float32)
	asm             bool
	nb              int // column blocks of the work item grid
	mbs, nbs        int // row and column panels of a work item

	q  []uint8   // [Mp, 4·kq] activations, 7-bit, zero past K
	za []int32   // [Mp]
	sa []float32 // [Mp]

	quantFn, tilesFn func(lo, hi int)
}

// a8Free recycles a8Calls like bufPool does packing buffers: never emptied
// by the GC (a fresh 3 MB of quantized rows would cost ~750 page faults),
// one per concurrently running call.
var a8Free struct {
	mu sync.Mutex
	l  []*a8Call
}

func getA8Call() *a8Call {
	a8Free.mu.Lock()
	defer a8Free.mu.Unlock()
	if k := len(a8Free.l); k > 0 {
		w := a8Free.l[k-1]
		a8Free.l = a8Free.l[:k-1]
		return w
	}
	w := new(a8Call)
	w.quantFn, w.tilesFn = w.quantize, w.tiles
	return w
}

func putA8Call(w *a8Call) {
	w.pb, w.c, w.a, w.bias, w.act = nil, nil, nil, nil, nil
	a8Free.mu.Lock()
	a8Free.l = append(a8Free.l, w)
	a8Free.mu.Unlock()
}

// a8ZeroBias stands for a nil bias.
var a8ZeroBias [a8NR]float32

// a8Block is the most tiles a side of a work item has: up to 16×16 tiles
// (96 rows × 256 columns), row blocks outermost; within an item each
// weight panel (16·Kp bytes) serves its rows' tiles (≤ 96·Kp bytes of
// activations) from L1/L2.
const a8Block = 16

// mulA8 is LinearPacked (bias, act; beta 0) and MulPacked (beta; no bias,
// no act) on a PackBA8 weight: c[M,N] = act(a[M,K]·Wᵀ + bias) + beta·c.
func (pb *PackedB) mulA8(c []float32, ldc int, a []float32, lda, M int, beta float32, bias []float32, act func([]float32)) {
	N, K := pb.n, pb.k
	w := getA8Call()
	defer putA8Call(w)
	w.pb, w.c, w.a, w.ldc, w.lda, w.M, w.beta, w.bias, w.act = pb, c, a, ldc, lda, M, beta, bias, act
	w.kq, w.asm = ceilDiv(K, 4), cur.Load().a8asm
	Kp, Mp := 4*w.kq, ceilDiv(M, a8MR)*a8MR
	if cap(w.q) < Mp*Kp {
		w.q = make([]uint8, Mp*Kp)
	}
	if cap(w.za) < Mp {
		w.za, w.sa = make([]int32, Mp), make([]float32, Mp)
	}
	w.q, w.za, w.sa = w.q[:Mp*Kp], w.za[:Mp], w.sa[:Mp]
	// Rows M..Mp-1 keep whatever a former call left: only edge tiles read
	// them, into the scratch tile, whose rows past M are never copied out.
	parallel.For(M, 8, w.quantFn)

	// Blocks of equal size (22 row panels: 11 + 11, not 16 + 6), items
	// handed out dynamically: one thread slowed by other work, or an
	// uneven last block, no longer holds the call back (1 × 128 tokens:
	// static halves of 16 + 6 panels left one thread idle a third of it).
	mPanels, nPanels := Mp/a8MR, pb.np/a8NR
	w.mbs = ceilDiv(mPanels, ceilDiv(mPanels, a8Block))
	w.nbs = ceilDiv(nPanels, ceilDiv(nPanels, a8Block))
	mb := ceilDiv(mPanels, w.mbs)
	w.nb = ceilDiv(nPanels, w.nbs)
	if int64(M)*int64(N)*int64(K) <= parallelMaxSerialMACs {
		w.tilesFn(0, mb*w.nb)
		return
	}
	parallel.ForChunks(mb*w.nb, mb*w.nb, w.tilesFn)
}

// quantize quantizes rows lo..hi of the activations (smoothed first when
// the weight was packed by PackBA8Smooth).
func (w *a8Call) quantize(lo, hi int) {
	Kp, K, inv := 4*w.kq, w.pb.k, w.pb.a8inv
	for m := lo; m < hi; m++ {
		w.sa[m], w.za[m] = quantRowA8(w.q[m*Kp:(m+1)*Kp], w.a[m*w.lda:m*w.lda+K], inv, w.asm)
	}
}

// tiles computes work items lo..hi.
func (w *a8Call) tiles(lo, hi int) {
	var tile [a8MR * a8NR]float32
	var bpad [a8NR]float32
	pb, c, ldc, M, N, kq, Kp := w.pb, w.c, w.ldc, w.M, w.pb.n, w.kq, 4*w.kq
	for it := lo; it < hi; it++ {
		ib, jb := it/w.nb, it%w.nb
		r0, r1 := ib*w.mbs*a8MR, min((ib+1)*w.mbs*a8MR, M)
		c0, c1 := jb*w.nbs*a8NR, min((jb+1)*w.nbs*a8NR, N)
		for col := c0; col < c1; col += a8NR {
			nc := min(a8NR, N-col)
			bp := a8ZeroBias[:]
			if w.bias != nil {
				if nc == a8NR {
					bp = w.bias[col : col+a8NR]
				} else {
					clear(bpad[:])
					copy(bpad[:], w.bias[col:N])
					bp = bpad[:]
				}
			}
			panel, cs, sw := pb.a8[(col/a8NR)*kq*64:], pb.a8sum[col:], pb.scale[col:]
			for row := r0; row < r1; row += a8MR {
				mr := min(a8MR, M-row)
				if mr == a8MR && nc == a8NR && w.beta == 0 {
					kernA8(w.asm, mr, kq, w.q[row*Kp:], Kp, panel, c[row*ldc+col:], ldc, w.za[row:], w.sa[row:], cs, sw, bp)
					continue
				}
				kernA8(w.asm, mr, kq, w.q[row*Kp:], Kp, panel, tile[:], a8NR, w.za[row:], w.sa[row:], cs, sw, bp)
				for r := 0; r < mr; r++ {
					dst, src := c[(row+r)*ldc+col:(row+r)*ldc+col+nc], tile[r*a8NR:r*a8NR+nc]
					if w.beta == 0 {
						copy(dst, src)
						continue
					}
					for j, v := range src {
						dst[j] = v + w.beta*dst[j]
					}
				}
			}
		}
		if w.act != nil {
			for r := r0; r < r1; r++ {
				w.act(c[r*ldc+c0 : r*ldc+c1])
			}
		}
	}
}

// kernA8 runs the W8A8 kernel for the top mr ≤ 6 rows of a 6×16 tile (it
// may write up to 6): the architecture's assembly where the selected
// implementation has it (asm: kernA8Arch), else kernA8Go.
func kernA8(asm bool, mr, kq int, a []uint8, lda int, b []int8, c []float32, ldc int, za []int32, sa []float32, cs []int32, sw, bias []float32) {
	if !asm {
		kernA8Go(mr, kq, a, lda, b, c, ldc, za, sa, cs, sw, bias)
		return
	}
	kernA8Arch(mr, kq, a, lda, b, c, ldc, za, sa, cs, sw, bias)
}

// kernA8Go does what the assembly kernels do, in Go, for the top mr rows: the same integer sums and float32
// operations in the same order, so the same bits.
func kernA8Go(mr, kq int, a []uint8, lda int, b []int8, c []float32, ldc int, za []int32, sa []float32, cs []int32, sw, bias []float32) {
	for r := 0; r < mr; r++ {
		var acc [a8NR]int32
		ar := a[r*lda : r*lda+4*kq]
		for q := 0; q < kq; q++ {
			a4 := ar[4*q : 4*q+4]
			bq := b[q*64 : q*64+64]
			for j := 0; j < a8NR; j++ {
				b4 := bq[4*j : 4*j+4]
				acc[j] += int32(a4[0])*int32(b4[0]) + int32(a4[1])*int32(b4[1]) +
					int32(a4[2])*int32(b4[2]) + int32(a4[3])*int32(b4[3])
			}
		}
		out := c[r*ldc : r*ldc+a8NR]
		for j := range out {
			v := float32(acc[j]-za[r]*cs[j]) * sa[r]
			v = float32(v*sw[j]) + bias[j]
			out[j] = v
		}
	}
}

// quantRowA8 quantizes one row of activations src [K] into dst [Kp] (zeros
// past K, so they add nothing) and returns its scale and zero point; with
// scale (not nil: PackBA8Smooth), the row src[k]·scale[k] (float32
// products, which the assembly takes as it reads: no copy of the row). A
// row without a positive finite range whose step has a finite inverse (all
// zeros; NaN or ±Inf in it; a range beyond float32's; values all below
// ~1e-36, whose step is subnormal) becomes zeros with scale 0: its
// products are the bias alone.
func quantRowA8(dst []uint8, src, scale []float32, asm bool) (sa float32, za int32) {
	asm = asm && a8QuantAsm
	if scale != nil {
		scale = scale[:len(src)]
	}
	at := func(i int) float32 { // the tail's values, past the assembly's multiple of 8
		if scale != nil {
			return src[i] * scale[i]
		}
		return src[i]
	}
	lo, hi := float32(0), float32(0)
	n := 0
	if asm && len(src) >= 8 {
		n = len(src) / 8 * 8
		var l, h float32
		var nan bool
		if scale != nil {
			l, h, nan = minMaxScaledA8Arch(&src[0], &scale[0], n/8)
		} else {
			l, h, nan = minMaxA8Arch(&src[0], n/8)
		}
		if nan {
			l = float32(math.NaN())
		}
		lo, hi = min(lo, l), max(hi, h)
	}
	for i := n; i < len(src); i++ {
		lo, hi = min(lo, at(i)), max(hi, at(i)) // a NaN stays, and is refused below
	}
	sa = (hi - lo) / 127
	inv := 1 / sa
	if !(sa > 0) || sa > math.MaxFloat32 || inv > math.MaxFloat32 {
		clear(dst)
		return 0, 0
	}
	zf := float32(math.RoundToEven(float64(-lo * inv)))
	switch {
	case n == 0:
	case scale != nil:
		quantScaledA8Arch(&dst[0], &src[0], &scale[0], n/8, inv, zf)
	default:
		quantA8Arch(&dst[0], &src[0], n/8, inv, zf)
	}
	for i := n; i < len(src); i++ {
		r := float32(math.RoundToEven(float64(at(i)*inv))) + zf
		dst[i] = uint8(min(max(r, 0), 127))
	}
	clear(dst[len(src):])
	return sa, int32(zf)
}
