package vec

import "math"

// Pure-Go kernels: the "generic" implementation, used on CPUs without AVX2+FMA,
// on other architectures, with -tags purego, and as the reference structure
// of the assembly. They evaluate the same approximations as the assembly but
// in float64, so they are at least as accurate; sums accumulate in float64.

var genericKernels = &kernels{
	name:       "generic",
	exp:        expGeneric,
	gelu:       geluGeneric,
	geluBwd:    geluBwdGeneric,
	tanh:       tanhGeneric,
	tanhBwd:    tanhBwdGeneric,
	xsig:       xsigGeneric,
	xsigBwd:    xsigBwdGeneric,
	relu:       reluGeneric,
	reluBwd:    reluBwdGeneric,
	max:        maxGeneric,
	expSubSum:  expSubSumGeneric,
	scale:      scaleGeneric,
	softmaxBwd: softmaxBwdGeneric,
	add:        addGeneric,
	axpy:       axpyGeneric,
	dot:        dotGeneric,
	sum:        sumGeneric,
	devSums:    devSumsGeneric,
	lnFwd:      lnFwdGeneric,
	lnBwdSums:  lnBwdSumsGeneric,
	lnBwd:      lnBwdGeneric,
	lnBwdPar:   lnBwdParGeneric,
}

// exp64 returns e^x with relative error ≲ 4e-9 (enough for a float32
// result); 0 below -700, +Inf above 700, NaN for NaN.
func exp64(x float64) float64 {
	if !(x > -700) {
		if x != x {
			return x
		}
		return 0
	}
	if x > 700 {
		return math.Inf(1)
	}
	const magic = 0x1.8p52 // adding it rounds to an integer
	n := (x*math.Log2E + magic) - magic
	r := x - n*math.Ln2
	r2 := r * r // Estrin's form, as gauss's polynomial
	p := (1 + r) + r2*((expC2+r*expC3)+r2*((expC4+r*expC5)+r2*expC6))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// gauss returns h = Φ(-a) = ½erfc(a/√2) and e = e^{-x²/2} for a = |x|, using
// the same approximation as the assembly, and ac = min(a, 20).
//
// P is evaluated in Estrin's form (powers s², s⁴, s⁸ and independent
// pairs) rather than Horner's: a third of the dependent steps, which is
// what bounds this scalar code.
func gauss(x float64) (h, e, ac float64) {
	ac = math.Abs(x)
	if ac > 20 {
		ac = 20
	}
	qa := gaussQ * ac
	t := 1 / (1 + qa)
	s := qa * t
	s2 := s * s
	s4 := s2 * s2
	p01 := gaussP0 + s*gaussP1
	p23 := gaussP2 + s*gaussP3
	p45 := gaussP4 + s*gaussP5
	p67 := gaussP6 + s*gaussP7
	p := (p01 + s2*p23) + s4*((p45+s2*p67)+s4*gaussP8)
	e = exp64(-0.5 * x * x)
	return t * p * e, e, ac
}

func expGeneric(dst, src []float32) {
	for i, v := range src {
		dst[i] = float32(exp64(float64(v)))
	}
}

func geluGeneric(dst, src []float32) {
	for i, v := range src {
		x := float64(v)
		h, _, ac := gauss(x)
		// x·Φ(x) = max(x,0) - |x|·Φ(-|x|)
		dst[i] = float32(math.Max(x, 0) - ac*h)
	}
}

func geluBwdGeneric(dinp, inp, dout []float32) {
	for i, v := range inp {
		x := float64(v)
		h, e, ac := gauss(x)
		phi := h // Φ(x) for x < 0
		if !math.Signbit(x) {
			phi = 1 - h
		}
		xc := math.Copysign(ac, x)
		dinp[i] = dout[i] * float32(phi+xc*e*invSqrt2Pi)
	}
}

func tanh64(x float64) float64 {
	a := math.Abs(x)
	var y float64
	switch {
	case a < 1e-4:
		y = a - a*a*a/3
	case a < 9.5:
		y = 1 - 2/(exp64(2*a)+1)
	case a >= 9.5:
		y = 1
	default: // NaN
		return x
	}
	return math.Copysign(y, x)
}

func tanhGeneric(dst, src []float32) {
	for i, v := range src {
		dst[i] = float32(tanh64(float64(v)))
	}
}

func tanhBwdGeneric(dinp, out, dout []float32) {
	for i, y := range out {
		dinp[i] = dout[i] * ((1 - y) * (1 + y))
	}
}

// xsigGeneric computes x·σ(x·(b + a·x²)) (float64 needs no clamp).
func xsigGeneric(dst, src []float32, b, a float32) {
	for i, v := range src {
		x := float64(v)
		k := float64(b)
		if a != 0 {
			k += float64(a) * x * x
		}
		dst[i] = float32(x / (1 + exp64(-x*k)))
	}
}

func xsigBwdGeneric(dinp, inp, dout []float32, b, a float32) {
	for i, v := range inp {
		x := math.Max(math.Min(float64(v), 100), -100)
		if v != v {
			x = float64(v)
		}
		x2 := x * x
		z := x * (float64(b) + float64(a)*x2)
		e := exp64(math.Min(-z, 88))
		s := 1 / (1 + e)
		k := float64(b) + 3*float64(a)*x2
		dinp[i] = dout[i] * float32(s+s*(x*e*s*k))
	}
}

func reluGeneric(dst, src []float32) {
	for i, v := range src {
		if v < 0 {
			v = 0
		}
		dst[i] = v
	}
}

func reluBwdGeneric(dinp, out, dout []float32) {
	for i, y := range out {
		if y > 0 {
			dinp[i] = dout[i]
		} else {
			dinp[i] = 0
		}
	}
}

func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	return m
}

func expSubSumGeneric(x []float32, m float32) float32 {
	var s float64
	for i, v := range x {
		e := float32(exp64(float64(v - m)))
		x[i] = e
		s += float64(e)
	}
	return float32(s)
}

func scaleGeneric(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

func softmaxBwdGeneric(dinp, out, dout []float32, d float32) {
	for i, y := range out {
		dinp[i] = y * (dout[i] - d)
	}
}

func addGeneric(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func axpyGeneric(y, x []float32, a float32) {
	for i, v := range x {
		y[i] += a * v
	}
}

func dotGeneric(a, b []float32) float32 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return float32(s)
}

func sumGeneric(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return float32(s)
}

func devSumsGeneric(x []float32, m float32) (s1, s2 float32) {
	var a, b float64
	for _, v := range x {
		d := float64(v - m)
		a += d
		b += d * d
	}
	return float32(a), float32(b)
}

func lnFwdGeneric(out, inp, w, b []float32, m, c, rstd float32) {
	for i, v := range inp {
		out[i] = (v-m-c)*rstd*w[i] + b[i]
	}
}

func lnBwdSumsGeneric(dout, inp, w []float32, m float32) (sd, sdx, sx float32) {
	var a, b, c float64
	for i, v := range inp {
		d := float64(v - m)
		dn := float64(w[i] * dout[i])
		a += dn
		b += dn * d
		c += d
	}
	return float32(a), float32(b), float32(c)
}

func lnBwdGeneric(dinp, dout, inp, w []float32, m, c, rstd, A, B float32) {
	for i, v := range inp {
		nrm := (v - m - c) * rstd
		dinp[i] += (w[i]*dout[i] - A - nrm*B) * rstd
	}
}

func lnBwdParGeneric(dinp, dw, db, dout, inp, w []float32, m, c, rstd, A, B float32) {
	for i, v := range inp {
		nrm := (v - m - c) * rstd
		g := dout[i]
		db[i] += g
		dw[i] += nrm * g
		dinp[i] += (w[i]*g - A - nrm*B) * rstd
	}
}
