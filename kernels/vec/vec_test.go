package vec

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"testing"
)

// forEachImpl runs fn once per implementation name, as a subtest with that
// implementation selected; implementations this CPU/build lacks are skipped
// with a message saying so.
func forEachImpl(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	prev := Impl()
	defer SetImpl(prev)
	for _, name := range []string{"generic", "avx2", "avx512", "neon"} {
		t.Run(name, func(t *testing.T) {
			if err := SetImpl(name); err != nil {
				t.Skipf("skipping %s: %v", name, err)
			}
			fn(t)
		})
	}
}

var oddLens = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 63, 64, 65, 100, 1000, 1001}

const guard = 16

// guarded returns a slice of length n inside a larger buffer whose margins
// hold a sentinel; checkGuard verifies that nothing wrote outside.
func guarded(n int) (s, buf []float32) {
	buf = make([]float32, n+2*guard)
	for i := range buf {
		buf[i] = -12345.5
	}
	return buf[guard : guard+n : guard+n], buf
}

func checkGuard(t *testing.T, what string, buf []float32) {
	t.Helper()
	n := len(buf) - 2*guard
	for i := 0; i < guard; i++ {
		if buf[i] != -12345.5 || buf[guard+n+i] != -12345.5 {
			t.Fatalf("%s: wrote outside the slice (len %d)", what, n)
		}
	}
}

// ---- inputs ----

// specials are the awkward float32 inputs every element-wise kernel must get
// right (or match the documented convention on).
func specials() []float32 {
	inf := float32(math.Inf(1))
	base := []float32{0, 1e-45, 1e-40, 1.1754944e-38, 1e-30, 1e-10, 1e-7, 1e-4, 0.01, 0.5, 1, 2, 3,
		5, 5.5, 8, 9.5, 10, 12, 13, 13.5, 14, 15, 20, 25, 40, 88, 88.7, 88.8, 89, 100, 104, 105,
		1e4, 1e10, 1e20, 1e30, math.MaxFloat32, inf}
	var s []float32
	for _, v := range base {
		s = append(s, v, -v)
	}
	return append(s, float32(math.NaN()))
}

// sweep returns n evenly spaced float32 values over [lo, hi].
func sweep(lo, hi float64, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*float64(i)/float64(n-1))
	}
	return s
}

// randomBits returns n float32s with uniformly random bit patterns (every
// exponent equally likely; includes NaNs, infinities and denormals rarely).
func randomBits(n int, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	s := make([]float32, n)
	for i := range s {
		s[i] = math.Float32frombits(r.Uint32())
	}
	return s
}

func randn(n int, scale float64, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

// ---- float64 references ----

func geluRef(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

// geluRefTail is the same function evaluated through erfc, accurate in
// relative terms for negative x too.
func geluRefTail(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }

func geluGradRef(x float64) float64 {
	return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

func geluTanhRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// geluTanhRef2 is geluTanhRef rewritten as x·σ(2u), free of the cancellation
// in 1+tanh(u) for x < 0 (the two agree to ~1e-16 absolute).
func geluTanhRef2(x float64) float64 {
	u := math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
	return x / (1 + math.Exp(-2*u))
}

func siluRef(x float64) float64 { return x / (1 + math.Exp(-x)) }

func ulpOf(v float64) float64 {
	f := float32(math.Abs(v))
	if f == 0 || f < math.SmallestNonzeroFloat32 {
		return math.SmallestNonzeroFloat32
	}
	return float64(math.Nextafter32(f, float32(math.Inf(1))) - f)
}

// errStats collects the worst absolute and ulp errors over a sweep.
type errStats struct {
	maxAbs, maxAbsX float64
	maxUlp, maxUlpX float64
	maxRel, maxRelX float64
}

func (e *errStats) add(x float32, got float32, ref float64) {
	d := math.Abs(float64(got) - ref)
	if d > e.maxAbs {
		e.maxAbs, e.maxAbsX = d, float64(x)
	}
	if math.Abs(ref) < 1e-30 {
		return // ulp/relative figures only for results well above the denormals
	}
	if u := d / ulpOf(ref); u > e.maxUlp {
		e.maxUlp, e.maxUlpX = u, float64(x)
	}
	{
		if r := d / math.Abs(ref); r > e.maxRel {
			e.maxRel, e.maxRelX = r, float64(x)
		}
	}
}

func (e *errStats) String() string {
	return fmt.Sprintf("max abs %.3g (x=%g), max %.2f ulp (x=%g), max rel %.3g (x=%g)",
		e.maxAbs, e.maxAbsX, e.maxUlp, e.maxUlpX, e.maxRel, e.maxRelX)
}

// sameSpecial handles non-finite references: it reports whether (got, ref) is
// a non-finite case and, if so, whether got is right.
func sameSpecial(got float32, ref float64) (special, ok bool) {
	switch {
	case math.IsNaN(ref):
		return true, got != got
	case math.IsInf(ref, 0):
		return true, float64(got) == ref
	}
	return false, false
}

// ---- activation accuracy ----

// unaryCase describes an in-place activation and its accuracy contract.
type unaryCase struct {
	name string
	fn   func([]float32)
	ref  func(float64) float64
	// tol is the largest accepted |got-ref| for input x and reference r.
	tol func(x, r float64) float64
}

func geluTol(x, r float64) float64 { return 1e-6 * math.Max(1, math.Abs(x)) }

var unaryCases = []unaryCase{
	// The GELU contract is stated against 0.5x(1+erf(x/√2)); geluRefTail
	// (erfc form) equals it to ~1e-16 absolute and is also accurate in
	// relative terms for x < 0, which makes the logged ulp figures meaningful.
	{"GELU", GELU, func(x float64) float64 {
		if math.IsInf(x, -1) {
			return 0 // documented: GELU(-Inf) = 0, the limit
		}
		if math.Abs(geluRef(x)-geluRefTail(x)) > 1e-15*math.Max(1, math.Abs(x)) {
			panic("references disagree")
		}
		return geluRefTail(x)
	}, geluTol},
	{"GELUTanh", GELUTanh, geluTanhRef2, func(x, r float64) float64 {
		return 2e-7*math.Abs(r) + 1e-7*math.Min(1, math.Abs(x)) + 1e-38
	}},
	{"SiLU", SiLU, siluRef, func(x, r float64) float64 {
		return 2e-7*math.Abs(r) + 1e-7*math.Min(1, math.Abs(x)) + 1e-38
	}},
	{"Tanh", Tanh, math.Tanh, func(x, r float64) float64 { return 2.5e-7*math.Abs(r) + 1e-45 }},
	{"ReLU", ReLU, func(x float64) float64 { return math.Max(x, 0) }, func(x, r float64) float64 { return 0 }},
	{"Exp", func(x []float32) { Exp(x, x) }, math.Exp, func(x, r float64) float64 {
		if r < 1.1754944e-38 {
			return 1.5e-45 // denormal results: within one denormal step
		}
		return 2.5e-7 * r
	}},
}

func TestActivationAccuracy(t *testing.T) {
	in := append(sweep(-10, 10, 1<<21), specials()...)
	in = append(in, sweep(-100, 100, 1<<16)...)
	in = append(in, randomBits(1<<18, 1)...)
	for _, c := range unaryCases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				x := append([]float32(nil), in...)
				c.fn(x)
				var st errStats
				bad := 0
				for i, v := range in {
					ref := c.ref(float64(v))
					if math.Abs(ref) > math.MaxFloat32 {
						ref = float64(float32(ref)) // overflows to ±Inf
					}
					got := x[i]
					if sp, ok := sameSpecial(got, ref); sp {
						if !ok {
							bad++
							if bad < 5 {
								t.Errorf("%s(%g) = %g, want %g", c.name, v, got, ref)
							}
						}
						continue
					}
					if math.IsNaN(float64(got)) || math.IsInf(float64(got), 0) {
						bad++
						if bad < 5 {
							t.Errorf("%s(%g) = %g, want %g", c.name, v, got, ref)
						}
						continue
					}
					st.add(v, got, ref)
					if d := math.Abs(float64(got) - ref); d > c.tol(float64(v), ref) {
						bad++
						if bad < 5 {
							t.Errorf("%s(%g) = %.9g, want %.9g (err %.3g > tol %.3g)", c.name, v, got, ref, d, c.tol(float64(v), ref))
						}
					}
				}
				if bad > 0 {
					t.Errorf("%d of %d inputs out of tolerance", bad, len(in))
				}
				t.Logf("%s: %s", c.name, &st)
			})
		})
	}
}

// TestGELUNegativeTail checks relative accuracy where GELU is tiny (x < 0),
// against the erfc form of the reference (1+erf(x/√2) cancels there).
func TestGELUNegativeTail(t *testing.T) {
	in := sweep(-13, 0, 1<<18)
	forEachImpl(t, func(t *testing.T) {
		x := append([]float32(nil), in...)
		GELU(x)
		var st errStats
		for i, v := range in {
			ref := geluRefTail(float64(v))
			st.add(v, x[i], ref)
			if math.Abs(ref/float64(v)) < 1e-36 {
				continue // Φ(x) itself is (nearly) a float32 denormal
			}
			// Relative bound ≈ 7.5 ulp (measured ≤ 3.9e-7 for AVX2: the
			// roundings of t, s, P(s) and e^{-x²/2} add up).
			tol := 4.5e-7 * math.Abs(ref)
			if d := math.Abs(float64(x[i]) - ref); d > tol {
				t.Fatalf("GELU(%g) = %g, want %g (rel err %.3g)", v, x[i], ref, d/math.Abs(ref))
			}
		}
		t.Logf("negative tail: %s", &st)
	})
}

func TestGELUSpecialValues(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0,
			float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1e-39, -1e-39, 1e-38, -1e-38, 30, -30, 1e30, -1e30}
		y := append([]float32(nil), x...)
		GELU(y)
		want := []float32{float32(math.Inf(1)), 0, float32(math.NaN()), 0, 0, 0, 0, 5e-40, -5e-40, 5e-39, -5e-39, 30, 0, 1e30, 0}
		for i := range x {
			if want[i] != want[i] {
				if y[i] == y[i] {
					t.Errorf("GELU(%g) = %g, want NaN", x[i], y[i])
				}
				continue
			}
			if math.Abs(float64(y[i]-want[i])) > 1.5e-45 {
				t.Errorf("GELU(%g) = %g, want %g", x[i], y[i], want[i])
			}
		}
		g := append([]float32(nil), x...)
		one := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
		GELUBackward(g, x, one)
		wantg := []float32{1, 0, float32(math.NaN()), 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 0, 1, 0}
		for i := range x {
			if wantg[i] != wantg[i] {
				if g[i] == g[i] {
					t.Errorf("GELU'(%g) = %g, want NaN", x[i], g[i])
				}
				continue
			}
			if math.Abs(float64(g[i]-wantg[i])) > 1e-7 {
				t.Errorf("GELU'(%g) = %g, want %g", x[i], g[i], wantg[i])
			}
		}
	})
}

// ---- backward kernels of the activations ----

// TestActivationBackward compares each element-wise backward kernel with
// (a) the analytic derivative in float64 where one is simple, and (b) central
// finite differences of a float64 re-implementation of the forward pass with
// step h = 1e-4·max(1,|x|): the truncation error is h²·|f”'|/6 ≲ 1e-9 for
// these smooth functions, and the rounding error ε64·|f|/h ≲ 1e-11, so
// the difference quotient is good to ~1e-8; the kernel is float32, so the
// tolerance is 2e-6·(1+|x|·|f'|) (a few float32 ulps of the larger of the
// two terms of each derivative).
func TestActivationBackward(t *testing.T) {
	type bwdCase struct {
		name    string
		bwd     func(dinp, inp, dout []float32)
		fwdIsIn bool // bwd takes the forward input (else the output)
		fwd     func([]float32)
		ref     func(float64) float64
		tolMul  float64
	}
	cases := []bwdCase{
		{"GELU", GELUBackward, true, GELU, geluRef, 1},
		{"GELUTanh", GELUTanhBackward, true, GELUTanh, geluTanhRef, 1},
		{"SiLU", SiLUBackward, true, SiLU, siluRef, 1},
		// tanh' from the float32 output: 1-y² carries the rounding of y,
		// |d(1-y²)| = 2|y|·ulp(y)/2 ≤ 6e-8.
		{"Tanh", TanhBackward, false, Tanh, math.Tanh, 1},
		{"ReLU", ReLUBackward, false, ReLU, func(x float64) float64 { return math.Max(x, 0) }, 1},
	}
	in := sweep(-12, 12, 24001)
	in = append(in, randn(5001, 3, 2)...)
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				dout := randn(len(in), 1, 3)
				arg := append([]float32(nil), in...)
				if !c.fwdIsIn {
					c.fwd(arg)
				}
				dinp := make([]float32, len(in))
				c.bwd(dinp, arg, dout)
				worst := 0.0
				for i, v := range in {
					x := float64(v)
					if c.name == "ReLU" && math.Abs(x) < 1e-3 {
						continue // kink
					}
					h := 1e-4 * math.Max(1, math.Abs(x))
					fd := (c.ref(x+h) - c.ref(x-h)) / (2 * h)
					want := float64(dout[i]) * fd
					tol := c.tolMul * 2e-6 * (1 + math.Abs(x*fd)) * math.Abs(float64(dout[i]))
					d := math.Abs(float64(dinp[i]) - want)
					if d > tol {
						t.Fatalf("%s backward at x=%g: got %g, finite difference %g (err %.3g > %.3g)",
							c.name, x, dinp[i], want, d, tol)
					}
					if r := d / (math.Abs(float64(dout[i])) + 1e-30); r > worst {
						worst = r
					}
				}
				// Aliasing: dinp may be dout.
				g := append([]float32(nil), dout...)
				c.bwd(g, arg, g)
				for i := range g {
					if g[i] != dinp[i] && !(g[i] != g[i] && dinp[i] != dinp[i]) {
						t.Fatalf("%s backward with dinp aliasing dout differs at %d", c.name, i)
					}
				}
				t.Logf("%s backward: max |err|/|dout| vs finite differences %.3g", c.name, worst)
			})
		})
	}
}

// TestGELUGradAccuracy compares GELUBackward with the closed form
// Φ(x)+xφ(x) on a dense sweep.
func TestGELUGradAccuracy(t *testing.T) {
	in := append(sweep(-14, 14, 1<<20), specials()...)
	forEachImpl(t, func(t *testing.T) {
		one := make([]float32, len(in))
		for i := range one {
			one[i] = 1
		}
		g := make([]float32, len(in))
		GELUBackward(g, in, one)
		worst := 0.0
		for i, v := range in {
			x := float64(v)
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			ref := geluGradRef(x)
			if math.Abs(x) > 40 {
				ref = math.Max(0, math.Copysign(1, x))
			}
			d := math.Abs(float64(g[i]) - ref)
			if d > 3e-7 {
				t.Fatalf("GELU'(%g) = %.9g, want %.9g (err %.3g)", x, g[i], ref, d)
			}
			worst = math.Max(worst, d)
		}
		t.Logf("GELU' max abs err %.3g", worst)
	})
}

// ---- consistency across lengths and implementations ----

// TestOddLengths runs every kernel on lengths that exercise the vector tails,
// checks nothing is written outside the slices, and that each SIMD
// implementation agrees with the generic one (tolerances: element-wise
// kernels a few ulp, reductions relative 1e-5).
func TestOddLengths(t *testing.T) {
	run := func(n int) [][]float32 {
		var outs [][]float32
		x := randn(n, 2, int64(n)+7)
		y := randn(n, 1, int64(n)+8)
		z := randn(n, 1, int64(n)+9)
		for _, f := range []func([]float32){GELU, GELUTanh, SiLU, Tanh, ReLU, func(s []float32) { Exp(s, s) }, SoftmaxRow, func(s []float32) { Scale(s, 0.37) }} {
			s, buf := guarded(n)
			copy(s, x)
			f(s)
			checkGuard(t, "unary", buf)
			outs = append(outs, append([]float32(nil), s...))
		}
		for _, f := range []func(d, a, b []float32){GELUBackward, GELUTanhBackward, SiLUBackward, TanhBackward,
			ReLUBackward, SoftmaxBackwardRow, Add, func(d, a, b []float32) { copy(d, a); AddInPlace(d, b) },
			func(d, a, b []float32) { copy(d, a); Axpy(d, 0.7, b) }} {
			s, buf := guarded(n)
			f(s, x, y)
			checkGuard(t, "binary", buf)
			outs = append(outs, append([]float32(nil), s...))
		}
		outs = append(outs, []float32{Dot(x, y), Sum(x), Max(x)})
		// LayerNorm as one row of width n, and as 3 rows.
		for _, N := range []int{1, 3} {
			in := randn(N*n, 1, 11)
			for i := range in {
				in[i] += 5
			}
			out, bo := guarded(N * n)
			mean, bm := guarded(N)
			rstd, br := guarded(N)
			LayerNorm(out, mean, rstd, in, y, z, N, n, 1e-5)
			checkGuard(t, "LayerNorm out", bo)
			checkGuard(t, "LayerNorm mean", bm)
			checkGuard(t, "LayerNorm rstd", br)
			dout := randn(N*n, 1, 12)
			dinp, bi := guarded(N * n)
			dw, bw := guarded(n)
			db, bb := guarded(n)
			LayerNormBackward(dinp, dw, db, dout, in, y, mean, rstd, N, n)
			checkGuard(t, "LayerNormBackward dinp", bi)
			checkGuard(t, "LayerNormBackward dweight", bw)
			checkGuard(t, "LayerNormBackward dbias", bb)
			dinp2 := make([]float32, N*n)
			LayerNormBackward(dinp2, nil, nil, dout, in, y, mean, rstd, N, n)
			outs = append(outs, out, mean, rstd, dinp, dw, db, dinp2)
		}
		return outs
	}
	for _, n := range oddLens {
		SetImpl("generic")
		ref := run(n)
		for _, name := range Impls() {
			if name == "generic" {
				continue
			}
			SetImpl(name)
			got := run(n)
			for k := range ref {
				for i := range ref[k] {
					a, b := float64(got[k][i]), float64(ref[k][i])
					if a != a && b != b {
						continue
					}
					if d := math.Abs(a - b); d > 1e-5*math.Max(1, math.Abs(b)) {
						t.Errorf("%s n=%d output %d[%d]: %g, generic %g", name, n, k, i, a, b)
					}
				}
			}
		}
	}
	SetImpl(Impls()[0])
}

func TestNoAllocs(t *testing.T) {
	x := randn(13, 1, 1)
	g := randn(13, 1, 2)
	forEachImpl(t, func(t *testing.T) {
		a := testing.AllocsPerRun(100, func() {
			GELU(x)
			GELUBackward(g, x, g)
			SoftmaxRow(x)
			_ = Dot(x, g)
			Tanh(x)
		})
		if a != 0 {
			t.Errorf("%v allocations per run, want 0", a)
		}
	})
}

// ---- softmax ----

func softmaxRef(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	out := make([]float64, len(x))
	if math.IsInf(m, -1) {
		return out
	}
	var s float64
	for i, v := range x {
		out[i] = math.Exp(float64(v) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// softmaxTol is the bound TestSoftmax enforces:
//
//	|p̂ᵢ - pᵢ| ≤ (5e-7 + 2^-24·|xᵢ - max x|)·pᵢ + 1e-12
//
// 5e-7 (≈ 8 ulp) covers exp's ≤ 2 ulp, the float32-lane sum, the rounded 1/Σ
// and the final product; the second term is the rounding of the float32
// subtraction xᵢ - max (as in PyTorch's float32 softmax), which e^· turns into
// a relative error of the same size.
func softmaxTol(x []float32, i int, p float64) float64 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	return (5e-7+math.Abs(float64(x[i])-float64(m))*0x1p-24)*p + 1e-12
}

func TestSoftmax(t *testing.T) {
	ninf := float32(math.Inf(-1))
	forEachImpl(t, func(t *testing.T) {
		worst := 0.0
		for _, n := range []int{1, 2, 7, 8, 9, 17, 64, 77, 128, 512, 1000, 4096} {
			for trial := 0; trial < 4; trial++ {
				x := randn(n, []float64{1, 4, 20, 100}[trial], int64(n*10+trial))
				if trial == 2 {
					for i := 0; i < n; i += 3 {
						x[i] = ninf
					}
					if n > 1 {
						x[1] = 3
					}
				}
				if trial == 3 {
					for i := range x {
						x[i] += 1e4 // large offset: max subtraction must handle it
					}
				}
				ref := softmaxRef(x)
				y := append([]float32(nil), x...)
				SoftmaxRow(y)
				var sum float64
				for i := range y {
					d := math.Abs(float64(y[i]) - ref[i])
					if d > softmaxTol(x, i, ref[i]) {
						t.Fatalf("n=%d trial %d: p[%d] = %g, want %g (rel err %.3g)", n, trial, i, y[i], ref[i], d/ref[i])
					}
					if ref[i] > 1e-30 {
						worst = math.Max(worst, d/ref[i])
					}
					if x[i] == ninf && y[i] != 0 {
						t.Fatalf("-Inf entry got %g", y[i])
					}
					sum += float64(y[i])
				}
				if math.Abs(sum-1) > 2e-6 && !(n == 1 && trial == 2) {
					t.Fatalf("n=%d: probabilities sum to %g", n, sum)
				}
			}
		}
		allMasked := []float32{ninf, ninf, ninf}
		SoftmaxRow(allMasked)
		for _, v := range allMasked {
			if v != 0 {
				t.Fatalf("all -Inf row: got %v, want zeros", allMasked)
			}
		}
		// Softmax over rows, out-of-place.
		in := randn(5*33, 3, 5)
		out := make([]float32, len(in))
		Softmax(out, in, 5, 33)
		for n := 0; n < 5; n++ {
			ref := softmaxRef(in[n*33 : (n+1)*33])
			for i, r := range ref {
				if math.Abs(float64(out[n*33+i])-r) > softmaxTol(in[n*33:(n+1)*33], i, r) {
					t.Fatalf("Softmax row %d", n)
				}
			}
		}
		t.Logf("softmax max relative error %.3g", worst)
	})
}

// TestSoftmaxBackward: finite differences of L = Σ gᵢ·softmax(x)ᵢ in float64
// (step 1e-5 on logits of size ~3: truncation ~1e-10, rounding ~1e-11) against
// the kernel; tolerance 1e-6·max|g| (float32 products and the float32 dot).
func TestSoftmaxBackward(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, n := range []int{1, 5, 8, 13, 64, 130} {
			x := randn(n, 3, int64(n))
			g := randn(n, 1, int64(n)+1)
			out := append([]float32(nil), x...)
			SoftmaxRow(out)
			dinp := make([]float32, n)
			SoftmaxBackwardRow(dinp, out, g)
			loss := func(x64 []float64) float64 {
				x32 := make([]float32, n)
				m := math.Inf(-1)
				for _, v := range x64 {
					m = math.Max(m, v)
				}
				var s float64
				p := make([]float64, n)
				for i, v := range x64 {
					p[i] = math.Exp(v - m)
					s += p[i]
				}
				var l float64
				for i := range p {
					l += float64(g[i]) * p[i] / s
				}
				_ = x32
				return l
			}
			x64 := make([]float64, n)
			for i, v := range x {
				x64[i] = float64(v)
			}
			for i := range x64 {
				const h = 1e-5
				x64[i] += h
				lp := loss(x64)
				x64[i] -= 2 * h
				lm := loss(x64)
				x64[i] += h
				fd := (lp - lm) / (2 * h)
				if d := math.Abs(float64(dinp[i]) - fd); d > 1e-6 {
					t.Fatalf("n=%d: dinp[%d] = %g, finite difference %g", n, i, dinp[i], fd)
				}
			}
			// Rows version, aliasing dinp with dout.
			d2 := append([]float32(nil), g...)
			SoftmaxBackward(d2, out, d2, 1, n)
			for i := range d2 {
				if d2[i] != dinp[i] {
					t.Fatalf("SoftmaxBackward differs from SoftmaxBackwardRow")
				}
			}
		}
	})
}

// ---- layernorm ----

func layerNormRef(x, w, b []float32, eps float64) (out []float64, mean, rstd float64) {
	C := len(x)
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(C)
	var v2 float64
	for _, v := range x {
		d := float64(v) - mean
		v2 += d * d
	}
	rstd = 1 / math.Sqrt(v2/float64(C)+eps)
	out = make([]float64, C)
	for i, v := range x {
		out[i] = (float64(v)-mean)*rstd*float64(w[i]) + float64(b[i])
	}
	return
}

// TestLayerNorm: |out - ref| ≤ 2e-6·(1 + |ref|) with weights ~N(1,0.1), also
// for rows with mean 1e4 and std 1 (or 1e-2), where naive float32 statistics
// (E[x²]-E[x]² or an uncorrected float32 mean) lose several digits. mean/rstd
// relative 1e-6.
func TestLayerNorm(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		worst := 0.0
		for _, C := range []int{1, 7, 16, 33, 768, 1000} {
			for _, shift := range []struct{ mean, std float64 }{{0, 1}, {3, 0.5}, {1e4, 1}, {1e4, 1e-2}, {-2e3, 30}} {
				N := 3
				x := randn(N*C, shift.std, int64(C))
				for i := range x {
					x[i] += float32(shift.mean)
				}
				w := randn(C, 0.1, 2)
				b := randn(C, 0.1, 3)
				for i := range w {
					w[i] += 1
				}
				out := make([]float32, N*C)
				mean := make([]float32, N)
				rstd := make([]float32, N)
				LayerNorm(out, mean, rstd, x, w, b, N, C, 1e-5)
				for n := 0; n < N; n++ {
					ref, m, r := layerNormRef(x[n*C:(n+1)*C], w, b, 1e-5)
					if C == 1 {
						m = float64(x[n])
					}
					if math.Abs(float64(mean[n])-m) > 1e-6*math.Max(math.Abs(m), shift.std) {
						t.Fatalf("C=%d shift=%v: mean %g, want %g", C, shift, mean[n], m)
					}
					if math.Abs(float64(rstd[n])-r) > 1e-6*r {
						t.Fatalf("C=%d shift=%v: rstd %g, want %g", C, shift, rstd[n], r)
					}
					for i, v := range ref {
						d := math.Abs(float64(out[n*C+i]) - v)
						if d > 2e-6*(1+math.Abs(v)) {
							t.Fatalf("C=%d shift=%v: out[%d,%d] = %g, want %g (err %.3g)", C, shift, n, i, out[n*C+i], v, d)
						}
						worst = math.Max(worst, d/(1+math.Abs(v)))
					}
				}
				// nil mean/rstd and in-place
				y := append([]float32(nil), x...)
				LayerNorm(y, nil, nil, y, w, b, N, C, 1e-5)
				for i := range y {
					if y[i] != out[i] {
						t.Fatalf("in-place LayerNorm differs")
					}
				}
			}
		}
		t.Logf("layernorm max err/(1+|ref|) %.3g", worst)
	})
}

// TestLayerNormBackward: finite differences of L = Σ g·LayerNorm(x) in float64
// (re-implemented forward; step 1e-4·std on inputs, truncation ~1e-8 relative,
// rounding ~1e-11) against the kernel. Tolerance 2e-5·(scale of the gradient):
// the kernel works in float32 from a float32 mean/rstd. Also checks the +=
// semantics and nil dweight/dbias.
func TestLayerNormBackward(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, C := range []int{1, 5, 8, 24, 77} {
			for _, shift := range []struct{ mean, std float64 }{{0, 1}, {1e4, 1}, {2, 0.1}} {
				N := 2
				x := randn(N*C, shift.std, int64(C)+4)
				for i := range x {
					x[i] += float32(shift.mean)
				}
				w := randn(C, 0.5, 5)
				b := randn(C, 0.5, 6)
				g := randn(N*C, 1, 7)
				out := make([]float32, N*C)
				mean := make([]float32, N)
				rstd := make([]float32, N)
				LayerNorm(out, mean, rstd, x, w, b, N, C, 1e-5)
				pre := randn(N*C, 1, 8) // dinp accumulates onto this
				dinp := append([]float32(nil), pre...)
				dw0, db0 := randn(C, 1, 9), randn(C, 1, 10)
				dw := append([]float32(nil), dw0...)
				db := append([]float32(nil), db0...)
				LayerNormBackward(dinp, dw, db, g, x, w, mean, rstd, N, C)

				x64 := make([]float64, N*C)
				for i, v := range x {
					x64[i] = float64(v)
				}
				w64 := make([]float64, C)
				for i, v := range w {
					w64[i] = float64(v)
				}
				loss := func() float64 {
					var l float64
					for n := 0; n < N; n++ {
						row := x64[n*C : (n+1)*C]
						var m, v2 float64
						for _, v := range row {
							m += v
						}
						m /= float64(C)
						for _, v := range row {
							v2 += (v - m) * (v - m)
						}
						r := 1 / math.Sqrt(v2/float64(C)+1e-5)
						for i, v := range row {
							l += float64(g[n*C+i]) * ((v-m)*r*w64[i] + float64(b[i]))
						}
					}
					return l
				}
				// gradient scale: |dinp| ~ rstd·|w|·|g|
				scale := 1.0
				for _, r := range rstd {
					scale = math.Max(scale, float64(r))
				}
				for i := range x64 {
					h := 1e-4 * shift.std
					x64[i] += h
					lp := loss()
					x64[i] -= 2 * h
					lm := loss()
					x64[i] = float64(x[i])
					fd := (lp - lm) / (2 * h)
					got := float64(dinp[i] - pre[i])
					if d := math.Abs(got - fd); d > 2e-5*scale {
						t.Fatalf("C=%d shift=%v: dinp[%d] = %g, finite difference %g (err %.3g)", C, shift, i, got, fd, d)
					}
				}
				for i := range w64 {
					h := 1e-4
					w64[i] += h
					lp := loss()
					w64[i] -= 2 * h
					lm := loss()
					w64[i] = float64(w[i])
					fd := (lp - lm) / (2 * h)
					if d := math.Abs(float64(dw[i]-dw0[i]) - fd); d > 2e-5*(1+math.Abs(fd)) {
						t.Fatalf("C=%d shift=%v: dweight[%d] = %g, finite difference %g", C, shift, i, dw[i]-dw0[i], fd)
					}
					var sb float64
					for n := 0; n < N; n++ {
						sb += float64(g[n*C+i])
					}
					if d := math.Abs(float64(db[i]-db0[i]) - sb); d > 1e-5*(1+math.Abs(sb)) {
						t.Fatalf("dbias[%d] = %g, want %g", i, db[i]-db0[i], sb)
					}
				}
				// nil combinations give the same dinp; single-nil variants the same params.
				for _, mode := range []int{0, 1, 2} {
					d2 := append([]float32(nil), pre...)
					var w2, b2 []float32
					if mode == 1 {
						w2 = append([]float32(nil), dw0...)
					}
					if mode == 2 {
						b2 = append([]float32(nil), db0...)
					}
					LayerNormBackward(d2, w2, b2, g, x, w, mean, rstd, N, C)
					for i := range d2 {
						if math.Abs(float64(d2[i]-dinp[i])) > 1e-6*(1+math.Abs(float64(dinp[i]))) {
							t.Fatalf("mode %d: dinp differs", mode)
						}
					}
					for i := range w2 {
						if math.Abs(float64(w2[i]-dw[i])) > 1e-5*(1+math.Abs(float64(dw[i]))) {
							t.Fatalf("dweight-only differs at %d: %g vs %g", i, w2[i], dw[i])
						}
					}
					for i := range b2 {
						if math.Abs(float64(b2[i]-db[i])) > 1e-6*(1+math.Abs(float64(db[i]))) {
							t.Fatalf("dbias-only differs")
						}
					}
				}
			}
		}
	})
}

// ---- BLAS-1 ----

func TestBLAS1(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, n := range oddLens {
			a := randn(n, 1, int64(n)+20)
			b := randn(n, 1, int64(n)+21)
			out := make([]float32, n)
			Add(out, a, b)
			for i := range out {
				if out[i] != a[i]+b[i] {
					t.Fatalf("Add")
				}
			}
			c := append([]float32(nil), a...)
			Add(c, c, b) // aliasing
			AddInPlace(out, b)
			for i := range c {
				if c[i] != a[i]+b[i] || out[i] != a[i]+b[i]+b[i] {
					t.Fatalf("Add alias / AddInPlace")
				}
			}
			y := append([]float32(nil), a...)
			Axpy(y, -0.75, b)
			for i := range y {
				if math.Abs(float64(y[i])-(float64(a[i])-0.75*float64(b[i]))) > 2.4e-7*(1+math.Abs(float64(y[i]))) {
					t.Fatalf("Axpy")
				}
			}
			Scale(y, 3)
			var dot, sum, abssum float64
			m := math.Inf(-1)
			for i := range a {
				dot += float64(a[i]) * float64(b[i])
				abssum += math.Abs(float64(a[i]) * float64(b[i]))
				sum += float64(a[i])
				m = math.Max(m, float64(a[i]))
			}
			// float32 lane accumulation: error ≤ (n/32 + 8)·ε·Σ|aᵢbᵢ| (32 partial sums, then 8 adds)
			bound := (float64(n)/32 + 8) * 6e-8
			if d := math.Abs(float64(Dot(a, b)) - dot); d > bound*abssum+1e-30 {
				t.Fatalf("Dot n=%d: %g, want %g", n, Dot(a, b), dot)
			}
			var asum float64
			for _, v := range a {
				asum += math.Abs(float64(v))
			}
			if d := math.Abs(float64(Sum(a)) - sum); d > bound*asum+1e-30 {
				t.Fatalf("Sum n=%d: %g, want %g", n, Sum(a), sum)
			}
			if float64(Max(a)) != m {
				t.Fatalf("Max n=%d: %g, want %g", n, Max(a), m)
			}
		}
		N, C := 3, 13
		x := randn(N*C, 1, 30)
		bias := randn(C, 1, 31)
		x0 := append([]float32(nil), x...)
		AddBias(x, bias, N, C)
		db := make([]float32, C)
		BiasBackward(db, x0, N, C)
		for n := 0; n < N; n++ {
			for c := 0; c < C; c++ {
				if x[n*C+c] != x0[n*C+c]+bias[c] {
					t.Fatalf("AddBias")
				}
			}
		}
		for c := 0; c < C; c++ {
			want := x0[c] + x0[C+c] + x0[2*C+c]
			if math.Abs(float64(db[c]-want)) > 1e-6 {
				t.Fatalf("BiasBackward")
			}
		}
	})
}

func TestSetImpl(t *testing.T) {
	prev := Impl()
	defer SetImpl(prev)
	if err := SetImpl("bogus"); err == nil {
		t.Fatal("SetImpl(bogus) succeeded")
	}
	if Impl() != prev {
		t.Fatal("failed SetImpl changed the implementation")
	}
	if err := SetImpl("generic"); err != nil || Impl() != "generic" {
		t.Fatal("generic must always be available")
	}
	t.Logf("available: %v", Impls())
}

func TestPanicsOnLengthMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Add(make([]float32, 9), make([]float32, 9), make([]float32, 8))
}

// The assembly GELUs (AVX2, AVX-512, NEON) run the same IEEE operations in
// the same order, so they agree bit for bit across instruction sets: the
// hash of their results over a fixed sweep (normal, uniform and random-bit
// inputs: NaN, Inf, denormals) is pinned to the AVX2 one, which the others
// must give on their CPUs (NEON checked under qemu-aarch64). The generic
// implementation computes in float64 and is not pinned.
func TestGELUSameBitsAcrossISAs(t *testing.T) {
	const wantFwd, wantBwd = 0xae9f1d9c2706932d, 0x752c34c0d03ff1cc
	r := rand.New(rand.NewSource(12))
	n := 1 << 16
	x, dout := make([]float32, n), make([]float32, n)
	for i := range x {
		switch i % 3 {
		case 0:
			x[i] = float32(r.NormFloat64() * 3)
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		default:
			x[i] = float32(r.Float64()*40 - 20)
		}
		dout[i] = float32(r.NormFloat64())
	}
	hash := func(v []float32) uint64 {
		h := fnv.New64a()
		for _, f := range v {
			b := math.Float32bits(f)
			if f != f {
				b = 0x7fc00000 // any NaN
			}
			h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
		return h.Sum64()
	}
	forEachImpl(t, func(t *testing.T) {
		if Impl() == "generic" {
			t.Skip("float64 evaluation: not pinned")
		}
		y, d := append([]float32(nil), x...), make([]float32, n)
		GELU(y)
		GELUBackward(d, x, dout)
		if f, b := hash(y), hash(d); f != wantFwd || b != wantBwd {
			t.Errorf("%s: GELU hash %#x, backward %#x; AVX2 gives %#x, %#x", Impl(), f, b, uint64(wantFwd), uint64(wantBwd))
		}
	})
}
