//go:build amd64 && !purego

package vec

import (
	"math"

	"golang.org/x/sys/cpu"
)

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
)

// avx512Kernels uses the AVX-512 kernels for the compute-bound primitives
// (transcendentals) and the AVX2 ones for the load/store-bound rest, where
// wider vectors buy little.
var avx512Kernels = func() *kernels {
	ks := *avx2Kernels
	ks.name = "avx512"
	ks.exp = exp512
	ks.gelu = gelu512
	ks.geluBwd = geluBwd512
	ks.tanh = tanh512
	ks.xsig = xsig512
	ks.xsigBwd = xsigBwd512
	ks.expSubSum = expSubSum512
	return &ks
}()

var avx2Kernels = &kernels{
	name:       "avx2",
	exp:        exp256,
	gelu:       gelu256,
	geluBwd:    geluBwd256,
	tanh:       tanh256,
	tanhBwd:    tanhBwd256,
	xsig:       xsig256,
	xsigBwd:    xsigBwd256,
	relu:       relu256,
	reluBwd:    reluBwd256,
	max:        max256,
	expSubSum:  expSubSum256,
	scale:      scale256,
	softmaxBwd: softmaxBwd256,
	add:        add256,
	axpy:       axpy256,
	dot:        dot256,
	sum:        sum256,
	devSums:    devSums256,
	lnFwd:      lnFwd256,
	lnBwdSums:  lnBwdSums256,
	lnBwd:      lnBwd256,
	lnBwdPar:   lnBwdPar256,
}

func available() []*kernels {
	switch {
	case hasAVX512:
		return []*kernels{avx512Kernels, avx2Kernels, genericKernels}
	case hasAVX2:
		return []*kernels{avx2Kernels, genericKernels}
	}
	return []*kernels{genericKernels}
}

// Assembly kernels (avx2_amd64.s, avx512_amd64.s). Lengths must agree and be
// multiples of 8 (AVX2) or 16 (AVX-512).

//go:noescape
func expAVX2(dst, src []float32)

//go:noescape
func geluAVX2(dst, src []float32)

//go:noescape
func geluBwdAVX2(dinp, inp, dout []float32)

//go:noescape
func tanhAVX2(dst, src []float32)

//go:noescape
func tanhBwdAVX2(dinp, out, dout []float32)

//go:noescape
func xsigAVX2(dst, src []float32, b, a float32)

//go:noescape
func xsigBwdAVX2(dinp, inp, dout []float32, b, a float32)

//go:noescape
func reluAVX2(dst, src []float32)

//go:noescape
func reluBwdAVX2(dinp, out, dout []float32)

//go:noescape
func maxAVX2(x []float32) float32

//go:noescape
func sumAVX2(x []float32) float32

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func expSubSumAVX2(x []float32, m float32) float32

//go:noescape
func scaleAVX2(x []float32, s float32)

//go:noescape
func softmaxBwdAVX2(dinp, out, dout []float32, d float32)

//go:noescape
func addAVX2(dst, a, b []float32)

//go:noescape
func axpyAVX2(y, x []float32, a float32)

//go:noescape
func devSumsAVX2(x []float32, m float32) (s1, s2 float32)

//go:noescape
func lnFwdAVX2(out, inp, w, b []float32, m, c, rstd float32)

//go:noescape
func lnBwdSumsAVX2(dout, inp, w []float32, m float32) (sd, sdx, sx float32)

//go:noescape
func lnBwdAVX2(dinp, dout, inp, w []float32, m, c, rstd, A, B float32)

//go:noescape
func lnBwdParAVX2(dinp, dw, db, dout, inp, w []float32, m, c, rstd, A, B float32)

//go:noescape
func expAVX512(dst, src []float32)

//go:noescape
func geluAVX512(dst, src []float32)

//go:noescape
func geluBwdAVX512(dinp, inp, dout []float32)

//go:noescape
func tanhAVX512(dst, src []float32)

//go:noescape
func xsigAVX512(dst, src []float32, b, a float32)

//go:noescape
func xsigBwdAVX512(dinp, inp, dout []float32, b, a float32)

//go:noescape
func expSubSumAVX512(x []float32, m float32) float32

// Wrappers: the bulk goes to the assembly, the tail (fewer than 8 elements)
// through an 8-float stack buffer padded with a neutral value, so a tail
// element gets exactly the same arithmetic as any other. The AVX-512 wrappers
// pass what is left after the 16-float blocks to the AVX2 wrappers.

func exp256(dst, src []float32) {
	n := len(src)
	m := n &^ 7
	if m > 0 {
		expAVX2(dst[:m], src[:m])
	}
	if m < n {
		var b [8]float32
		copy(b[:], src[m:])
		expAVX2(b[:], b[:])
		copy(dst[m:n], b[:])
	}
}

func gelu256(dst, src []float32) {
	n := len(src)
	m := n &^ 7
	if m > 0 {
		geluAVX2(dst[:m], src[:m])
	}
	if m < n {
		var b [8]float32
		copy(b[:], src[m:])
		geluAVX2(b[:], b[:])
		copy(dst[m:n], b[:])
	}
}

func tanh256(dst, src []float32) {
	n := len(src)
	m := n &^ 7
	if m > 0 {
		tanhAVX2(dst[:m], src[:m])
	}
	if m < n {
		var b [8]float32
		copy(b[:], src[m:])
		tanhAVX2(b[:], b[:])
		copy(dst[m:n], b[:])
	}
}

func relu256(dst, src []float32) {
	n := len(src)
	m := n &^ 7
	if m > 0 {
		reluAVX2(dst[:m], src[:m])
	}
	if m < n {
		var b [8]float32
		copy(b[:], src[m:])
		reluAVX2(b[:], b[:])
		copy(dst[m:n], b[:])
	}
}

func xsig256(dst, src []float32, bb, a float32) {
	n := len(src)
	m := n &^ 7
	if m > 0 {
		xsigAVX2(dst[:m], src[:m], bb, a)
	}
	if m < n {
		var b [8]float32
		copy(b[:], src[m:])
		xsigAVX2(b[:], b[:], bb, a)
		copy(dst[m:n], b[:])
	}
}

func geluBwd256(dinp, inp, dout []float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		geluBwdAVX2(dinp[:m], inp[:m], dout[:m])
	}
	if m < n {
		var x, g [8]float32
		copy(x[:], inp[m:])
		copy(g[:], dout[m:])
		geluBwdAVX2(g[:], x[:], g[:])
		copy(dinp[m:n], g[:])
	}
}

func tanhBwd256(dinp, out, dout []float32) {
	n := len(out)
	m := n &^ 7
	if m > 0 {
		tanhBwdAVX2(dinp[:m], out[:m], dout[:m])
	}
	if m < n {
		var x, g [8]float32
		copy(x[:], out[m:])
		copy(g[:], dout[m:])
		tanhBwdAVX2(g[:], x[:], g[:])
		copy(dinp[m:n], g[:])
	}
}

func reluBwd256(dinp, out, dout []float32) {
	n := len(out)
	m := n &^ 7
	if m > 0 {
		reluBwdAVX2(dinp[:m], out[:m], dout[:m])
	}
	if m < n {
		var x, g [8]float32
		copy(x[:], out[m:])
		copy(g[:], dout[m:])
		reluBwdAVX2(g[:], x[:], g[:])
		copy(dinp[m:n], g[:])
	}
}

func xsigBwd256(dinp, inp, dout []float32, bb, a float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		xsigBwdAVX2(dinp[:m], inp[:m], dout[:m], bb, a)
	}
	if m < n {
		var x, g [8]float32
		copy(x[:], inp[m:])
		copy(g[:], dout[m:])
		xsigBwdAVX2(g[:], x[:], g[:], bb, a)
		copy(dinp[m:n], g[:])
	}
}

func softmaxBwd256(dinp, out, dout []float32, d float32) {
	n := len(out)
	m := n &^ 7
	if m > 0 {
		softmaxBwdAVX2(dinp[:m], out[:m], dout[:m], d)
	}
	if m < n {
		var x, g [8]float32
		copy(x[:], out[m:])
		copy(g[:], dout[m:])
		softmaxBwdAVX2(g[:], x[:], g[:], d)
		copy(dinp[m:n], g[:])
	}
}

func add256(dst, a, b []float32) {
	n := len(a)
	m := n &^ 7
	if m > 0 {
		addAVX2(dst[:m], a[:m], b[:m])
	}
	if m < n {
		var x, y [8]float32
		copy(x[:], a[m:])
		copy(y[:], b[m:])
		addAVX2(x[:], x[:], y[:])
		copy(dst[m:n], x[:])
	}
}

func axpy256(y, x []float32, a float32) {
	n := len(x)
	m := n &^ 7
	if m > 0 {
		axpyAVX2(y[:m], x[:m], a)
	}
	if m < n {
		var u, v [8]float32
		copy(u[:], y[m:])
		copy(v[:], x[m:])
		axpyAVX2(u[:], v[:], a)
		copy(y[m:n], u[:])
	}
}

func scale256(x []float32, s float32) {
	n := len(x)
	m := n &^ 7
	if m > 0 {
		scaleAVX2(x[:m], s)
	}
	if m < n {
		var b [8]float32
		copy(b[:], x[m:])
		scaleAVX2(b[:], s)
		copy(x[m:n], b[:])
	}
}

func max256(x []float32) float32 {
	n := len(x)
	m := n &^ 7
	r := float32(math.Inf(-1))
	if m > 0 {
		r = maxAVX2(x[:m])
	}
	if m < n {
		b := [8]float32{r, r, r, r, r, r, r, r}
		copy(b[:], x[m:])
		r = maxAVX2(b[:])
	}
	return r
}

func sum256(x []float32) float32 {
	n := len(x)
	m := n &^ 7
	var r float32
	if m > 0 {
		r = sumAVX2(x[:m])
	}
	if m < n {
		var b [8]float32
		copy(b[:], x[m:])
		r += sumAVX2(b[:])
	}
	return r
}

func dot256(a, b []float32) float32 {
	n := len(a)
	m := n &^ 7
	var r float32
	if m > 0 {
		r = dotAVX2(a[:m], b[:m])
	}
	if m < n {
		var u, v [8]float32
		copy(u[:], a[m:])
		copy(v[:], b[m:])
		r += dotAVX2(u[:], v[:])
	}
	return r
}

func expSubSum256(x []float32, mx float32) float32 {
	n := len(x)
	m := n &^ 7
	var r float32
	if m > 0 {
		r = expSubSumAVX2(x[:m], mx)
	}
	if m < n {
		ninf := float32(math.Inf(-1))
		b := [8]float32{ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf}
		copy(b[:], x[m:])
		r += expSubSumAVX2(b[:], mx)
		copy(x[m:n], b[:])
	}
	return r
}

func devSums256(x []float32, mu float32) (s1, s2 float32) {
	n := len(x)
	m := n &^ 7
	if m > 0 {
		s1, s2 = devSumsAVX2(x[:m], mu)
	}
	if m < n {
		b := [8]float32{mu, mu, mu, mu, mu, mu, mu, mu}
		copy(b[:], x[m:])
		t1, t2 := devSumsAVX2(b[:], mu)
		s1 += t1
		s2 += t2
	}
	return
}

func lnFwd256(out, inp, w, b []float32, mu, c, rstd float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		lnFwdAVX2(out[:m], inp[:m], w[:m], b[:m], mu, c, rstd)
	}
	if m < n {
		var o, x, ww, bb [8]float32
		copy(x[:], inp[m:])
		copy(ww[:], w[m:])
		copy(bb[:], b[m:])
		lnFwdAVX2(o[:], x[:], ww[:], bb[:], mu, c, rstd)
		copy(out[m:n], o[:])
	}
}

func lnBwdSums256(dout, inp, w []float32, mu float32) (sd, sdx, sx float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		sd, sdx, sx = lnBwdSumsAVX2(dout[:m], inp[:m], w[:m], mu)
	}
	if m < n {
		var g, ww [8]float32
		x := [8]float32{mu, mu, mu, mu, mu, mu, mu, mu}
		copy(g[:], dout[m:])
		copy(x[:], inp[m:])
		copy(ww[:], w[m:])
		a, b, c := lnBwdSumsAVX2(g[:], x[:], ww[:], mu)
		sd += a
		sdx += b
		sx += c
	}
	return
}

func lnBwd256(dinp, dout, inp, w []float32, mu, c, rstd, A, B float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		lnBwdAVX2(dinp[:m], dout[:m], inp[:m], w[:m], mu, c, rstd, A, B)
	}
	if m < n {
		var di, g, x, ww [8]float32
		copy(di[:], dinp[m:])
		copy(g[:], dout[m:])
		copy(x[:], inp[m:])
		copy(ww[:], w[m:])
		lnBwdAVX2(di[:], g[:], x[:], ww[:], mu, c, rstd, A, B)
		copy(dinp[m:n], di[:])
	}
}

func lnBwdPar256(dinp, dw, db, dout, inp, w []float32, mu, c, rstd, A, B float32) {
	n := len(inp)
	m := n &^ 7
	if m > 0 {
		lnBwdParAVX2(dinp[:m], dw[:m], db[:m], dout[:m], inp[:m], w[:m], mu, c, rstd, A, B)
	}
	if m < n {
		var di, dww, dbb, g, x, ww [8]float32
		copy(di[:], dinp[m:])
		copy(dww[:], dw[m:])
		copy(dbb[:], db[m:])
		copy(g[:], dout[m:])
		copy(x[:], inp[m:])
		copy(ww[:], w[m:])
		lnBwdParAVX2(di[:], dww[:], dbb[:], g[:], x[:], ww[:], mu, c, rstd, A, B)
		copy(dinp[m:n], di[:])
		copy(dw[m:n], dww[:])
		copy(db[m:n], dbb[:])
	}
}

// AVX-512: 16-float blocks, remainder through the AVX2 wrapper.

func exp512(dst, src []float32) {
	m := len(src) &^ 15
	if m > 0 {
		expAVX512(dst[:m], src[:m])
	}
	exp256(dst[m:len(src)], src[m:])
}

func gelu512(dst, src []float32) {
	m := len(src) &^ 15
	if m > 0 {
		geluAVX512(dst[:m], src[:m])
	}
	gelu256(dst[m:len(src)], src[m:])
}

func tanh512(dst, src []float32) {
	m := len(src) &^ 15
	if m > 0 {
		tanhAVX512(dst[:m], src[:m])
	}
	tanh256(dst[m:len(src)], src[m:])
}

func xsig512(dst, src []float32, b, a float32) {
	m := len(src) &^ 15
	if m > 0 {
		xsigAVX512(dst[:m], src[:m], b, a)
	}
	xsig256(dst[m:len(src)], src[m:], b, a)
}

func geluBwd512(dinp, inp, dout []float32) {
	n := len(inp)
	m := n &^ 15
	if m > 0 {
		geluBwdAVX512(dinp[:m], inp[:m], dout[:m])
	}
	geluBwd256(dinp[m:n], inp[m:], dout[m:n])
}

func xsigBwd512(dinp, inp, dout []float32, b, a float32) {
	n := len(inp)
	m := n &^ 15
	if m > 0 {
		xsigBwdAVX512(dinp[:m], inp[:m], dout[:m], b, a)
	}
	xsigBwd256(dinp[m:n], inp[m:], dout[m:n], b, a)
}

func expSubSum512(x []float32, mx float32) float32 {
	m := len(x) &^ 15
	var r float32
	if m > 0 {
		r = expSubSumAVX512(x[:m], mx)
	}
	return r + expSubSum256(x[m:], mx)
}
