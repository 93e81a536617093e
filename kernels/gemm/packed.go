package gemm

import (
	"fmt"
	"math"

	"github.com/aotp/aotp/kernels/parallel"
)

// PackedB is a Linear weight [N,K] packed once into the micro-kernel's panel
// layout, for LinearPacked: frozen weights (inference, and the frozen
// backbone during adapter training) need not be re-packed on every call.
//
// The layout belongs to one implementation (its nr and kc): the k blocks
// are those Linear uses for this K (same kc split), each block holding all
// ceil(N/nr) micro-panels of kc×nr floats, zero-padded past N:
//
//	data[pcBlock·kcStep·Np + jp·nr·kb + p·nr + j] = weight[jp·nr+j, pc+p]
//
// where Np = ceil(N/nr)·nr and kb the block's depth (PackBHalf: the same
// layout of F16 values). A PackedB is read-only after packing and safe for
// concurrent use.
//
// A PackedB records the implementation it was packed for. LinearPacked with
// another implementation selected (SetImpl after packing) panics with a
// message saying so: the panel layout differs, and silently repacking on
// every call would hide a large slowdown. Repack with PackB after SetImpl.
type PackedB struct {
	im     *impl
	n, k   int
	kcStep int
	np     int  // N rounded up to whole micro-panels
	nn     bool // packed from b [K,N] as is (PackBN), not from weight [N,K]
	data   []float32
	half   []uint16 // instead of data: the same layout in F16 (PackBHalf)
	// instead of data: the same layout in int8, column j being
	// q·scale[j] (PackBInt8)
	q     []int8
	scale []float32 // [np], zero past N
	// instead of scale (PackBNInt8): row k of op(B) is q·rowScale[k]
	rowScale []float32 // [K]
	// PackBNInt8Smooth: column j of op(B) is then also ·colScale[j]
	colScale []float32 // [np], zero past N
	// instead of data (PackBA8): the W8A8 panels (a8.go), column j being
	// q·scale[j], and each column's Σ q
	a8    []int8
	a8sum []int32 // [np]
	// PackBA8Smooth: the activations' column k is multiplied by a8inv[k]
	// before it is quantized (the weight's column k was by 1/a8inv[k])
	a8inv []float32 // [K], nil: no smoothing
}

// PackB packs weight [N,K] (row-major, PyTorch's nn.Linear layout: the
// operand Linear uses transposed) for the implementation selected now.
func PackB(weight []float32, N, K int) *PackedB {
	return packBFor(cur.Load(), weight, N, K, true, false)
}

// PackBN packs b [K,N] (row-major) used as it is, op(B) = b, for MulPacked:
// the NN form, e.g. a Linear's weight [Out,In] in its backward, dX[M,In] =
// dY[M,Out]·W (K = Out, N = In).
func PackBN(b []float32, K, N int) *PackedB {
	return packBFor(cur.Load(), b, N, K, false, false)
}

// PackBNHalf is PackBN storing the packed matrix as F16: the backward
// operand of a weight the forward pass uses as PackBHalf, so that both
// passes see the same rounded values.
func PackBNHalf(b []float32, K, N int) *PackedB {
	return packBFor(cur.Load(), b, N, K, false, true)
}

// PackBHalf is PackB storing the packed weight as F16 (see the package
// doc): half the memory, and half the traffic of a small-batch forward
// pass, for results equal to PackB's on the weight rounded to F16.
func PackBHalf(weight []float32, N, K int) *PackedB {
	return packBFor(cur.Load(), weight, N, K, true, true)
}

// PackBInt8 is PackB storing the packed weight as int8 with one scale per
// output channel (row of weight): scale = max|row| / 127, q = round(w /
// scale). A quarter of the memory and of a small-batch forward pass's
// traffic; the results are those of the weight rounded to that grid
// (RoundToInt8Grid: a relative error up to 1/254 of the row's largest
// weight), an opt-in for inference (`--weights int8`).
func PackBInt8(weight []float32, N, K int) *PackedB { return packInt8(weight, N, K, true) }

// PackBNInt8 is PackBN storing b [K,N] as int8 with one scale per row of b:
// the backward operand of a weight [Out,In] whose forward pass runs on
// PackBInt8 (its rows are the output channels there), so that both passes
// multiply by the same values q·scale. The panels are widened before the
// float32 kernels run on them (the backward's GEMMs have many rows), so
// MulPacked gives the result of PackBN on those values bit for bit.
func PackBNInt8(b []float32, K, N int) *PackedB { return packInt8(b, N, K, false) }

// PackBNInt8Smooth is PackBNInt8 for a weight [Out,In] (b, K = Out,
// N = In) whose forward pass runs on PackBA8Smooth with the same s: it
// stores the int8 grid of b·diag(s) (the forward's, bit for bit) and
// multiplies column j by 1/s[j] as the panels are widened, so that the
// backward multiplies by the weights the forward's products stand for.
func PackBNInt8Smooth(b []float32, K, N int, s []float32) *PackedB {
	if s == nil {
		return PackBNInt8(b, K, N)
	}
	inv := smoothInverse(s, N)
	pb := packInt8(smoothColumns(b, K, N, s), N, K, false)
	if pb.q != nil {
		pb.colScale = make([]float32, pb.np)
		copy(pb.colScale, inv)
	}
	return pb
}

// packInt8 packs op(B) [K,N] as int8 from weight [N,K] (trans: a scale per
// column of op(B), pb.scale) or from b [K,N] (a scale per row, pb.rowScale).
func packInt8(b []float32, N, K int, trans bool) *PackedB {
	im := cur.Load()
	ldb, rows, cols := N, K, N // b's layout; its rows carry the scales
	if trans {
		ldb, rows, cols = K, N, K
	}
	checkMat("b", b, rows, cols, ldb)
	pb := &PackedB{im: im, n: N, k: K, np: ceilDiv(N, im.nr) * im.nr, nn: !trans}
	if N == 0 || K == 0 {
		return pb
	}
	pb.kcStep = kcStepFor(K, im.kc)
	scales := make([]float32, max(rows, pb.np))
	rowScales(scales, b, rows, cols)
	if trans {
		pb.scale = scales[:pb.np] // zero past N
	} else {
		pb.rowScale = scales[:K]
	}
	pb.q = allocPacked[int8](pb, pb.np*K)
	nr := im.nr
	for pc := 0; pc < K; pc += pb.kcStep {
		kb := min(pb.kcStep, K-pc)
		off := pc * pb.np
		parallel.For(pb.np/nr, 8, func(lo, hi int) {
			tmp := make([]float32, kb*nr) // one micro-panel in float32, then rounded
			for jp := lo; jp < hi; jp++ {
				packB(tmp, b, ldb, trans, pc, kb, jp*nr, N-jp*nr, nr, 0, 1, im.asmPack)
				dst := pb.q[off+jp*nr*kb : off+(jp+1)*nr*kb]
				for i, v := range tmp {
					if trans {
						dst[i] = quantOne(v, pb.scale[jp*nr+i%nr])
					} else {
						dst[i] = quantOne(v, pb.rowScale[pc+i/nr])
					}
				}
			}
		})
	}
	return pb
}

// RoundToInt8Grid rounds each row of w [rows, cols] in place to the int8
// grid of step max|row|/127: the values PackBInt8 of a weight (rows: its
// output channels) and PackBNInt8 of it stand for.
func RoundToInt8Grid(w []float32, rows, cols int) {
	scale := make([]float32, rows)
	rowScales(scale, w, rows, cols)
	for i, s := range scale {
		row := w[i*cols : (i+1)*cols]
		for j, v := range row {
			row[j] = float32(quantOne(v, s)) * s
		}
	}
}

// rowScales sets scale[i] = max|w[i,:]|/127 for the rows of w [rows, cols].
func rowScales(scale, w []float32, rows, cols int) {
	parallel.For(rows, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var m float32
			for _, v := range w[i*cols : (i+1)*cols] {
				m = max(m, abs32(v))
			}
			scale[i] = m / 127
		}
	})
}

// quantOne is v on the int8 grid of step s (0 where s is).
func quantOne(v, s float32) int8 {
	if s == 0 {
		return 0
	}
	return int8(max(-127, min(127, math.RoundToEven(float64(v/s)))))
}

// dequantizeRows widens an int8 micro-panel whose row p is on the grid
// rowScale[p] (rows of nr values) into floats q·rowScale[p], then times
// colScale[j] where colScale (nr values) is not nil; asm: with AVX2 (the
// implementation's asmPack).
func dequantizeRows(dst []float32, src []int8, rowScale, colScale []float32, nr int, asm bool) {
	if asm && nr%8 == 0 && len(rowScale) > 0 {
		_ = dst[len(rowScale)*nr-1]
		_ = src[len(rowScale)*nr-1]
		if colScale != nil {
			_ = colScale[nr-1]
			dequantRowsColsAVX2(&dst[0], &src[0], &rowScale[0], &colScale[0], nr/8, len(rowScale))
			return
		}
		dequantRowsAVX2(&dst[0], &src[0], &rowScale[0], nr/8, len(rowScale))
		return
	}
	for p, s := range rowScale {
		d, q := dst[p*nr:(p+1)*nr], src[p*nr:(p+1)*nr]
		for j := range d {
			d[j] = float32(q[j]) * s
		}
		if colScale != nil {
			for j := range d {
				d[j] *= colScale[j]
			}
		}
	}
}

// dequantize widens an int8 micro-panel (rows of nr = len(scale) values)
// into floats q·scale[j]; asm: with AVX2 (the implementation's asmPack).
func dequantize(dst []float32, src []int8, scale []float32, asm bool) {
	nr := len(scale)
	if asm && nr%8 == 0 && len(src) >= nr {
		rows := len(src) / nr
		_ = dst[rows*nr-1]
		dequantAVX2(&dst[0], &src[0], &scale[0], nr/8, rows)
		return
	}
	for p := 0; p*nr < len(src); p++ {
		d, s := dst[p*nr:(p+1)*nr], src[p*nr:(p+1)*nr]
		for j := range d {
			d[j] = float32(s[j]) * scale[j]
		}
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// Int8 reports whether the weight is stored as int8 (PackBInt8).
func (pb *PackedB) Int8() bool { return pb.q != nil }

// blockInt8 is block for an int8 weight.
func (pb *PackedB) blockInt8(pc, jc int) []int8 {
	kb := min(pb.kcStep, pb.k-pc)
	return pb.q[pc*pb.np+jc*kb : pc*pb.np+kb*pb.np]
}

// packBFor packs op(B) [K,N] for im: from weight [N,K] (trans, op(B) =
// weightᵀ) or from b [K,N] (op(B) = b); as float32, or rounded to F16
// (half).
func packBFor(im *impl, b []float32, N, K int, trans, half bool) *PackedB {
	if N < 0 || K < 0 {
		panic(fmt.Sprintf("gemm: PackB: negative size N=%d K=%d", N, K))
	}
	ldb := K
	if trans {
		checkMat("weight", b, N, K, K)
	} else {
		checkMat("b", b, K, N, N)
		ldb = N
	}
	nr := im.nr
	pb := &PackedB{im: im, n: N, k: K, np: ceilDiv(N, nr) * nr, nn: !trans}
	if N == 0 || K == 0 {
		return pb
	}
	pb.kcStep = kcStepFor(K, im.kc)
	if half {
		pb.half = allocPacked[uint16](pb, pb.np*K)
	} else {
		pb.data = allocPacked[float32](pb, pb.np*K)
	}
	nPanels := pb.np / nr
	for pc := 0; pc < K; pc += pb.kcStep {
		kb := min(pb.kcStep, K-pc)
		off := pc * pb.np
		parallel.For(nPanels, 8, func(lo, hi int) {
			if !half {
				packB(pb.data[off:off+kb*pb.np], b, ldb, trans, pc, kb, 0, N, nr, lo, hi, im.asmPack)
				return
			}
			// one micro-panel at a time in float32, then rounded
			tmp := make([]float32, kb*nr)
			for jp := lo; jp < hi; jp++ {
				packB(tmp, b, ldb, trans, pc, kb, jp*nr, N-jp*nr, nr, 0, 1, im.asmPack)
				floatsToHalf(pb.half[off+jp*nr*kb:off+(jp+1)*nr*kb], tmp)
			}
		})
	}
	return pb
}

// MulPacked computes c[M,N] = a[M,K]·op(B) + beta·c (row strides lda, ldc)
// with B pre-packed by PackB (op(B) = weightᵀ) or PackBN (op(B) = b): the
// same kernel over the same blocks as Sgemm(false, trans, ...) on the
// unpacked operand, so the result is Sgemm's bit for bit (with PackBA8:
// the W8A8 product of a8.go instead). It panics if the implementation
// selected now is not the one pb was packed for.
func MulPacked(c []float32, ldc int, a []float32, lda int, pb *PackedB, M int, beta float32) {
	N, K := pb.n, pb.k
	if M < 0 {
		panic(fmt.Sprintf("gemm: MulPacked: negative size M=%d", M))
	}
	if M == 0 || N == 0 {
		return
	}
	checkMat("c", c, M, N, ldc)
	if K == 0 {
		scaleC(c, M, N, ldc, beta, nil, nil)
		return
	}
	checkMat("a", a, M, K, lda)
	if pb.a8 != nil {
		packedImplCheck(pb, "MulPacked")
		pb.mulA8(c, ldc, a, lda, M, beta, nil, nil)
		return
	}
	j := packedJob(pb, "MulPacked")
	j.transA, j.transB = false, !pb.nn
	j.m, j.n, j.k = M, N, K
	j.alpha, j.beta = 1, beta
	j.a, j.lda, j.c, j.ldc = a, lda, c, ldc
	j.pb = pb
	j.run()
	putJob(j)
}

// packedJob is a job for a call on pb, which must have been packed for the
// implementation selected now (else it panics naming the call).
func packedJob(pb *PackedB, call string) *job {
	packedImplCheck(pb, call)
	return getJob()
}

// packedImplCheck panics, naming the call, unless pb was packed for the
// implementation selected now (the rule every packed weight follows).
func packedImplCheck(pb *PackedB, call string) {
	if im := cur.Load(); im != pb.im {
		panic(fmt.Sprintf("gemm: %s: B packed for %q but %q is selected; pack again after SetImpl", call, pb.im.name, im.name))
	}
}

// N is the number of output features (rows of the packed weight).
func (pb *PackedB) N() int { return pb.n }

// K is the number of input features (columns of the packed weight).
func (pb *PackedB) K() int { return pb.k }

// Impl names the implementation the weight was packed for.
func (pb *PackedB) Impl() string { return pb.im.name }

// Bytes is the size of the packed data.
func (pb *PackedB) Bytes() int {
	return 4*len(pb.data) + 2*len(pb.half) + len(pb.q) + len(pb.a8) + 4*len(pb.scale) + 4*len(pb.rowScale) + 4*len(pb.a8sum) + 4*len(pb.a8inv) + 4*len(pb.colScale)
}

// block returns the micro-panels of k block pc (a multiple of kcStep) from
// column jc (a multiple of nr) on.
func (pb *PackedB) block(pc, jc int) []float32 {
	kb := min(pb.kcStep, pb.k-pc)
	return pb.data[pc*pb.np+jc*kb : pc*pb.np+kb*pb.np]
}

// LinearPacked is Linear with the weight pre-packed by PackB:
//
//	out[M,N] = act(inp[M,K] · weight[N,K]ᵀ + bias[N])
//
// It runs the same micro-kernel over the same blocks as Linear, so the
// result is bit for bit Linear's (with PackBHalf: Linear's on the weight
// rounded to F16; with PackBA8: the W8A8 product of a8.go). It panics if
// the implementation selected now is not the one pw was packed for.
func LinearPacked(out, inp []float32, pw *PackedB, bias []float32, M int, act func(x []float32)) {
	N, K := pw.n, pw.k
	if M < 0 {
		panic(fmt.Sprintf("gemm: LinearPacked: negative size M=%d", M))
	}
	if M == 0 || N == 0 {
		return
	}
	checkMat("out", out, M, N, N)
	if bias != nil && len(bias) < N {
		panic(fmt.Sprintf("gemm: LinearPacked: len(bias)=%d < N=%d", len(bias), N))
	}
	if K == 0 {
		scaleC(out, M, N, N, 0, bias, act)
		return
	}
	checkMat("inp", inp, M, K, K)
	if pw.nn {
		panic("gemm: LinearPacked: B was packed by PackBN (op(B) = b); use MulPacked")
	}
	if pw.a8 != nil {
		packedImplCheck(pw, "LinearPacked")
		pw.mulA8(out, N, inp, K, M, 0, bias, act)
		return
	}
	j := packedJob(pw, "LinearPacked")
	j.transA, j.transB = false, true
	j.m, j.n, j.k = M, N, K
	j.alpha, j.beta = 1, 0
	j.a, j.lda, j.c, j.ldc = inp, K, out, N
	j.pb = pw
	j.bias, j.act = bias, act
	j.run()
	putJob(j)
}
