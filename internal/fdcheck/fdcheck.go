// Package fdcheck is the finite-difference gradient check shared by the
// tests of every backward pass (model, peft, train). float32 forward passes
// make naive differences noisy; see Err for how the check stays tight.
package fdcheck

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Dirs is the number of directions each check tries.
const Dirs = 4

// Steps is the number of step sizes per direction (each two loss
// evaluations).
const Steps = 8

// Randn returns n normal values with standard deviation std.
func Randn(r *rand.Rand, n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * std)
	}
	return x
}

// Dot64 is Σ a·b in float64.
func Dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Err checks g as the gradient of loss w.r.t. x (modified in place during
// the check and restored) along ndir unit directions — the first along g,
// which catches scale errors, the others random — with central differences
// at Steps step sizes from h down to h/2, the error relative to the size of
// a directional derivative (max(|⟨g,v⟩|, ‖g‖/√n)). The error e(s) of the
// difference at step s is a + c·s² + O(s⁴), a the gradient's error along v;
// a least-squares fit of a + c·s² (Richardson's extrapolation, over many
// steps) removes the c·s² term, and averages the float32 forward pass's
// roundoff, which is as good as independent from one step to the next: at
// 8 steps its effect on a is about half that of two-point Richardson, so
// near-zero gradients (attention biases that softmax almost ignores) keep
// a wide margin to the tolerance. For piecewise-linear functions: kinks, when not
// nil, returns quantities whose sign must not change along a step (ReLU's
// pre-activations, affine in the parameters being stepped). A direction
// whose step flips one, at x⁺ or x⁻, has its step halved (down to h/64):
// since the quantities are affine, equal signs at x± and x mean no kink is
// crossed on either half of the segment. Quantities that are only nearly
// affine (pre-activations of later layers) can sit so close to their kink
// that even h/64 crosses it: the loss is not differentiable along that
// direction at that scale, so the direction is replaced by another random
// one (at most 3·ndir replacements; then the error is +Inf). It returns the
// worst error, the smallest step used and the directions replaced.
func Err(x, g []float32, loss func() float64, h float64, ndir int, seed uint64, kinks func() []float32) (worst, minStep float64, replaced int) {
	r := rand.New(rand.NewPCG(seed, 0xfd))
	n := len(x)
	x0 := append([]float32(nil), x...)
	defer copy(x, x0)
	var ref []float32
	if kinks != nil {
		ref = append(ref, kinks()...)
	}
	crosses := func() bool {
		if kinks == nil {
			return false
		}
		for i, z := range kinks() {
			if (z > 0) != (ref[i] > 0) {
				return true
			}
		}
		return false
	}
	var gn float64
	for _, v := range g {
		gn += float64(v) * float64(v)
	}
	gn = math.Sqrt(gn)
	typ := gn / math.Sqrt(float64(n))
	v := make([]float64, n)
	xp := make([]float32, n)
	set := func(s float64) {
		for i := range x {
			x[i] = float32(float64(x0[i]) + s*v[i])
		}
	}
	minStep = h
	for d := 0; d < ndir; d++ {
		var vn float64
		for i := range v {
			if d == 0 && replaced == 0 && gn > 0 {
				v[i] = float64(g[i])
			} else {
				v[i] = r.NormFloat64()
			}
			vn += v[i] * v[i]
		}
		vn = math.Sqrt(vn)
		for i := range v {
			v[i] /= vn
		}
		hd, clear := h, false
		for ; hd >= h/64; hd /= 2 {
			set(hd)
			c := crosses()
			set(-hd)
			if clear = !c && !crosses(); clear {
				break
			}
		}
		if !clear {
			copy(x, x0)
			if replaced++; replaced > 3*ndir {
				return math.Inf(1), minStep, replaced
			}
			d--
			continue
		}
		minStep = math.Min(minStep, hd)
		// e(s) = (L(x⁺) − L(x⁻) − Σ g·(x⁺ − x⁻)) / 2s: the directional
		// derivative's error at step s, a + c·s² + roundoff/s. Weighted least
		// squares for (a, c), weight s² (the roundoff's share shrinks with s).
		var an, sw, swq, swqq, swe, swqe float64
		for k := 0; k < Steps; k++ {
			s := hd * (1 - 0.5*float64(k)/float64(Steps-1))
			set(s)
			copy(xp, x)
			lp := loss()
			set(-s)
			lm := loss()
			var dd float64
			for i := range x {
				dd += float64(g[i]) * (float64(xp[i]) - float64(x[i]))
			}
			e := (lp - lm - dd) / (2 * s)
			an = dd / (2 * s)
			w, q := s*s, s*s
			sw, swq, swqq, swe, swqe = sw+w, swq+w*q, swqq+w*q*q, swe+w*e, swqe+w*q*e
		}
		copy(x, x0)
		err := (swqq*swe - swq*swqe) / (sw*swqq - swq*swq)
		scale := math.Max(math.Abs(an), typ)
		if scale == 0 {
			scale = 1
		}
		worst = math.Max(worst, math.Abs(err)/scale)
	}
	return worst, minStep, replaced
}

// Check asserts that g is the gradient of loss w.r.t. x within tol (and
// not all zero, which would make the check vacuous).
func Check(t testing.TB, what string, x, g []float32, loss func() float64, kinks func() []float32, h, tol float64) {
	t.Helper()
	nz := false
	for _, v := range g {
		nz = nz || v != 0
	}
	if !nz {
		t.Fatalf("%s: gradient is all zero (the check would be vacuous)", what)
	}
	e, hmin, rep := Err(x, g, loss, h, Dirs, uint64(len(what)), kinks)
	if !(e <= tol) {
		t.Errorf("%s: finite differences disagree with the backward: rel err %.3g > %.3g (steps %.2g..%.2g, %d directions replaced at a kink)", what, e, tol, hmin, h, rep)
	} else {
		t.Logf("%s: rel err %.2g (tol %.0g, steps %.2g..%.2g, %d directions replaced at a kink)", what, e, tol, hmin, h, rep)
	}
}

// MustFail is a negative control: a deliberately wrong gradient g must fail
// the same check.
func MustFail(t testing.TB, what string, x, g []float32, loss func() float64, kinks func() []float32, h, tol float64) {
	t.Helper()
	if e, _, _ := Err(x, g, loss, h, Dirs, uint64(len(what)), kinks); !(e > tol) {
		t.Errorf("negative control %s: a wrong gradient passed the check (rel err %.3g <= %.3g)", what, e, tol)
	} else {
		t.Logf("negative control %s: rel err %.2g, caught", what, e)
	}
}
