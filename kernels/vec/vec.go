package vec

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
)

// kernels is one implementation's set of primitives. The exported functions
// check shapes and compose rows from these; every primitive takes slices of
// equal length (checked by the caller) and has no other preconditions.
type kernels struct {
	name string

	exp     func(dst, src []float32)
	gelu    func(dst, src []float32)
	geluBwd func(dinp, inp, dout []float32)
	tanh    func(dst, src []float32)
	tanhBwd func(dinp, out, dout []float32)
	// xsig: dst = x·σ(x·(b + a·x²)); SiLU is (b,a) = (1,0), gelu_new is
	// (geluTanhB, geluTanhA).
	xsig    func(dst, src []float32, b, a float32)
	xsigBwd func(dinp, inp, dout []float32, b, a float32)
	relu    func(dst, src []float32)
	reluBwd func(dinp, out, dout []float32)

	max        func(x []float32) float32
	expSubSum  func(x []float32, m float32) float32 // x = exp(x-m) in place, returns Σ
	scale      func(x []float32, s float32)
	softmaxBwd func(dinp, out, dout []float32, d float32)

	add  func(dst, a, b []float32)
	axpy func(y, x []float32, a float32)
	dot  func(a, b []float32) float32
	sum  func(x []float32) float32

	// LayerNorm pieces, m a float32 approximation of the row mean:
	// devSums = (Σ(x-m), Σ(x-m)²); lnFwd: out = ((x-m)-c)·rstd·w + b;
	// lnBwdSums = (Σ w·dout, Σ w·dout·(x-m), Σ(x-m));
	// lnBwd: dinp += (w·dout - A - ((x-m)-c)·rstd·B)·rstd, and lnBwdPar also
	// dw += ((x-m)-c)·rstd·dout, db += dout.
	devSums   func(x []float32, m float32) (s1, s2 float32)
	lnFwd     func(out, inp, w, b []float32, m, c, rstd float32)
	lnBwdSums func(dout, inp, w []float32, m float32) (sd, sdx, sx float32)
	lnBwd     func(dinp, dout, inp, w []float32, m, c, rstd, A, B float32)
	lnBwdPar  func(dinp, dw, db, dout, inp, w []float32, m, c, rstd, A, B float32)
}

var active atomic.Pointer[kernels]

func k() *kernels { return active.Load() }

func init() {
	best := available()[0]
	if env := os.Getenv("AOTP_VEC"); env != "" {
		if err := SetImpl(env); err != nil {
			fmt.Fprintf(os.Stderr, "aotp/vec: AOTP_VEC=%q ignored: %v; using %s\n", env, err, best.name)
			active.Store(best)
		}
		return
	}
	active.Store(best)
}

// Impls lists the implementations this machine can run, fastest first.
func Impls() []string {
	var s []string
	for _, ks := range available() {
		s = append(s, ks.name)
	}
	return s
}

// Impl names the implementation in use: "avx512", "avx2", "neon" or
// "generic".
func Impl() string { return k().name }

// SetImpl selects an implementation ("avx512", "avx2", "neon" or "generic"). It fails,
// leaving the selection unchanged, when the name is unknown or the CPU (or the
// build: non-amd64, -tags purego) lacks it. Safe to call at any time; calls
// already running finish on the implementation they started with. The
// initial choice is the best available, or the AOTP_VEC environment variable.
func SetImpl(name string) error {
	for _, ks := range available() {
		if ks.name == name {
			active.Store(ks)
			return nil
		}
	}
	switch name {
	case "avx512", "avx2", "neon", "generic":
		return fmt.Errorf("vec: implementation %q not supported on this CPU/build (have %v)", name, Impls())
	}
	return fmt.Errorf("vec: unknown implementation %q (want avx512, avx2, neon or generic)", name)
}

func checkLen(what string, n int, s ...[]float32) {
	for _, v := range s {
		if len(v) != n {
			panic(fmt.Sprintf("vec.%s: slice length %d, want %d", what, len(v), n))
		}
	}
}

func check2D(what string, N, C int, s ...[]float32) {
	if N < 0 || C < 0 {
		panic(fmt.Sprintf("vec.%s: negative shape N=%d C=%d", what, N, C))
	}
	for _, v := range s {
		if len(v) < N*C {
			panic(fmt.Sprintf("vec.%s: slice length %d < N·C = %d·%d", what, len(v), N, C))
		}
	}
}

// ---- activations ----

// GELU applies the exact (erf) GELU in place: x·Φ(x) = 0.5·x·(1+erf(x/√2)).
// Absolute error ≤ 1e-6·max(1,|x|) against the float64 formula (measured:
// see doc.go); GELU(+Inf) = +Inf, GELU(-Inf) = 0, NaN stays NaN.
func GELU(x []float32) { k().gelu(x, x) }

// GELUForward writes out = GELU(inp) (llm.c gelu_forward); out may alias inp.
//
//	out, inp [n]
func GELUForward(out, inp []float32) {
	checkLen("GELUForward", len(out), inp)
	k().gelu(out, inp)
}

// GELUBackward sets (does not accumulate) dinp = dout ⊙ GELU'(inp), with
// GELU'(x) = Φ(x) + x·φ(x). dinp may alias dout or inp.
//
//	dinp, inp, dout [n]
func GELUBackward(dinp, inp, dout []float32) {
	checkLen("GELUBackward", len(dinp), inp, dout)
	k().geluBwd(dinp, inp, dout)
}

// GELUTanh applies HF "gelu_new" / "gelu_pytorch_tanh" in place:
// 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))), evaluated as x·σ(2·√(2/π)·(x+0.044715x³)).
func GELUTanh(x []float32) { k().xsig(x, x, geluTanhB, geluTanhA) }

// GELUTanhBackward sets dinp = dout ⊙ GELUTanh'(inp); dinp may alias dout or inp.
//
//	dinp, inp, dout [n]
func GELUTanhBackward(dinp, inp, dout []float32) {
	checkLen("GELUTanhBackward", len(dinp), inp, dout)
	k().xsigBwd(dinp, inp, dout, geluTanhB, geluTanhA)
}

// SiLU applies x·σ(x) (HF "silu"/"swish") in place.
func SiLU(x []float32) { k().xsig(x, x, 1, 0) }

// SiLUBackward sets dinp = dout ⊙ SiLU'(inp) = dout·σ(x)·(1 + x·(1-σ(x)));
// dinp may alias dout or inp.
//
//	dinp, inp, dout [n]
func SiLUBackward(dinp, inp, dout []float32) {
	checkLen("SiLUBackward", len(dinp), inp, dout)
	k().xsigBwd(dinp, inp, dout, 1, 0)
}

// Tanh applies tanh in place (pooler, HF "tanh").
func Tanh(x []float32) { k().tanh(x, x) }

// TanhBackward sets dinp = dout ⊙ (1-out²) from the forward OUTPUT out (so it
// works after the in-place Tanh); dinp may alias dout or out.
//
//	dinp, out, dout [n]
func TanhBackward(dinp, out, dout []float32) {
	checkLen("TanhBackward", len(dinp), out, dout)
	k().tanhBwd(dinp, out, dout)
}

// ReLU applies max(x,0) in place (NaN stays NaN).
func ReLU(x []float32) { k().relu(x, x) }

// ReLUBackward sets dinp = dout where out > 0, else 0, from the forward
// OUTPUT (equivalently the input); dinp may alias dout or out.
//
//	dinp, out, dout [n]
func ReLUBackward(dinp, out, dout []float32) {
	checkLen("ReLUBackward", len(dinp), out, dout)
	k().reluBwd(dinp, out, dout)
}

// ---- exp and softmax ----

// Exp writes out = e^x; out may alias x. Relative error ≤ 2 ulp on normal
// results; results below the smallest normal float32 are correctly rounded
// denormals to within an ulp, e^x = 0 for x < -104, +Inf above ~88.72.
//
//	out, x [n]
func Exp(out, x []float32) {
	checkLen("Exp", len(out), x)
	k().exp(out, x)
}

// SoftmaxRow replaces x by softmax(x) in place, max-subtracted; entries equal
// to -Inf get probability 0. A row that is entirely -Inf becomes all zeros
// (a fully masked row contributes nothing) rather than NaN.
func SoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	ks := k()
	m := ks.max(x)
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	s := ks.expSubSum(x, m)
	ks.scale(x, float32(1/float64(s)))
}

// Softmax applies SoftmaxRow to each of the N rows: out[n,:] =
// softmax(inp[n,:]); out may alias inp.
//
//	out [N,C], inp [N,C]
func Softmax(out, inp []float32, N, C int) {
	check2D("Softmax", N, C, out, inp)
	for n := 0; n < N; n++ {
		o := out[n*C : (n+1)*C]
		copy(o, inp[n*C:(n+1)*C])
		SoftmaxRow(o)
	}
}

// SoftmaxBackwardRow sets (does not accumulate) dinp = out ⊙ (dout − ⟨dout,out⟩)
// for one row, where out is the softmax output. dinp may alias dout.
//
//	dinp, out, dout [C]
func SoftmaxBackwardRow(dinp, out, dout []float32) {
	checkLen("SoftmaxBackwardRow", len(dinp), out, dout)
	ks := k()
	ks.softmaxBwd(dinp, out, dout, ks.dot(dout, out))
}

// SoftmaxBackward applies SoftmaxBackwardRow to each of the N rows.
//
//	dinp [N,C], out [N,C], dout [N,C]
func SoftmaxBackward(dinp, out, dout []float32, N, C int) {
	check2D("SoftmaxBackward", N, C, dinp, out, dout)
	ks := k()
	for n := 0; n < N; n++ {
		r := n * C
		o, g := out[r:r+C], dout[r:r+C]
		ks.softmaxBwd(dinp[r:r+C], o, g, ks.dot(g, o))
	}
}

// ---- layernorm ----

// LayerNorm normalises each of the N rows of inp[N,C] and writes
// out = (x-mean)·rstd·weight + bias, rstd = 1/√(var+eps) with the biased
// (1/C) variance, like torch.nn.LayerNorm. mean and rstd [N] may be nil; when
// given they receive each row's statistics for the backward pass. out may
// alias inp.
//
// The statistics use a corrected two-pass scheme: m = Σx/C in float32, then
// s1 = Σ(x-m), s2 = Σ(x-m)²; mean = m + s1/C and var = s2/C - (s1/C)². Rows
// with |mean| ≫ std (e.g. mean 1e4, std 1) keep full accuracy, and the
// normalisation uses ((x-m) - s1/C) so the float32 rounding of the mean does
// not enter the output.
//
//	out [N,C], mean [N], rstd [N], inp [N,C], weight [C], bias [C]
func LayerNorm(out, mean, rstd, inp, weight, bias []float32, N, C int, eps float32) {
	check2D("LayerNorm", N, C, out, inp)
	check2D("LayerNorm", 1, C, weight, bias)
	if mean != nil {
		check2D("LayerNorm", N, 1, mean)
	}
	if rstd != nil {
		check2D("LayerNorm", N, 1, rstd)
	}
	if C == 0 {
		return
	}
	ks := k()
	w, b := weight[:C], bias[:C]
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		m := float32(float64(ks.sum(x)) / float64(C))
		s1, s2 := ks.devSums(x, m)
		c := float64(s1) / float64(C)
		v := float64(s2)/float64(C) - c*c
		if v < 0 {
			v = 0
		}
		r := float32(1 / math.Sqrt(v+float64(eps)))
		ks.lnFwd(out[n*C:(n+1)*C], x, w, b, m, float32(c), r)
		if mean != nil {
			mean[n] = float32(float64(m) + c)
		}
		if rstd != nil {
			rstd[n] = r
		}
	}
}

// LayerNormBackward is the backward pass of LayerNorm given the saved mean
// and rstd (llm.c layernorm_backward). It ACCUMULATES: dinp += ∂L/∂inp, and
// when non-nil dweight += Σ_n dout·norm and dbias += Σ_n dout. Pass nil
// dweight/dbias for a frozen backbone (activation gradients only).
// Internally the saved float32 mean is refined by Σ(x-mean)/C, so rows with a
// large mean lose nothing to its rounding.
//
//	dinp [N,C], dweight [C] or nil, dbias [C] or nil, dout [N,C], inp [N,C],
//	weight [C], mean [N], rstd [N]
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, N, C int) {
	check2D("LayerNormBackward", N, C, dinp, dout, inp)
	check2D("LayerNormBackward", 1, C, weight)
	check2D("LayerNormBackward", N, 1, mean, rstd)
	if dweight != nil {
		check2D("LayerNormBackward", 1, C, dweight)
		dweight = dweight[:C]
	}
	if dbias != nil {
		check2D("LayerNormBackward", 1, C, dbias)
		dbias = dbias[:C]
	}
	if C == 0 {
		return
	}
	ks := k()
	w := weight[:C]
	for n := 0; n < N; n++ {
		lo, hi := n*C, (n+1)*C
		x, g, di := inp[lo:hi], dout[lo:hi], dinp[lo:hi]
		m, r := mean[n], rstd[n]
		sd, sdx, sx := ks.lnBwdSums(g, x, w, m)
		c := float64(sx) / float64(C)
		A := float32(float64(sd) / float64(C))
		B := float32(float64(r) * (float64(sdx) - c*float64(sd)) / float64(C))
		switch {
		case dweight != nil && dbias != nil:
			ks.lnBwdPar(di, dweight, dbias, g, x, w, m, float32(c), r, A, B)
		default:
			ks.lnBwd(di, g, x, w, m, float32(c), r, A, B)
			if dbias != nil {
				ks.add(dbias, dbias, g)
			}
			if dweight != nil {
				cf := float32(c)
				for i, v := range x {
					dweight[i] += (v - m - cf) * r * g[i]
				}
			}
		}
	}
}

// ---- BLAS-1 ----

// Add writes out[i] = a[i] + b[i]; out may alias a or b.
func Add(out, a, b []float32) {
	checkLen("Add", len(out), a, b)
	k().add(out, a, b)
}

// AddInPlace does dst[i] += src[i].
func AddInPlace(dst, src []float32) {
	checkLen("AddInPlace", len(dst), src)
	k().add(dst, dst, src)
}

// AddBias adds bias[C] to each of the N rows of x[N,C] in place.
//
//	x [N,C], bias [C]
func AddBias(x, bias []float32, N, C int) {
	check2D("AddBias", N, C, x)
	check2D("AddBias", 1, C, bias)
	ks := k()
	b := bias[:C]
	for n := 0; n < N; n++ {
		r := x[n*C : (n+1)*C]
		ks.add(r, r, b)
	}
}

// BiasBackward accumulates dbias[c] += Σ_n dout[n,c].
//
//	dbias [C], dout [N,C]
func BiasBackward(dbias, dout []float32, N, C int) {
	check2D("BiasBackward", N, C, dout)
	check2D("BiasBackward", 1, C, dbias)
	ks := k()
	d := dbias[:C]
	for n := 0; n < N; n++ {
		ks.add(d, d, dout[n*C:(n+1)*C])
	}
}

// Scale does x[i] *= s.
func Scale(x []float32, s float32) { k().scale(x, s) }

// Axpy does y[i] += a·x[i].
func Axpy(y []float32, a float32, x []float32) {
	checkLen("Axpy", len(y), x)
	k().axpy(y, x, a)
}

// Dot returns Σ a[i]·b[i]. The SIMD paths accumulate in float32 lanes
// (4 vectors of partial sums, fused multiply-add, then a fixed-order
// horizontal sum), so the result is deterministic for a given implementation
// and length but may differ from a sequential sum by rounding; the generic
// path accumulates in float64.
func Dot(a, b []float32) float32 {
	checkLen("Dot", len(a), b)
	return k().dot(a, b)
}

// Sum returns Σ x[i], accumulated like Dot.
func Sum(x []float32) float32 { return k().sum(x) }

// Max returns the largest element (-Inf for an empty slice). With NaNs present
// the result is unspecified (may or may not be NaN).
func Max(x []float32) float32 { return k().max(x) }
