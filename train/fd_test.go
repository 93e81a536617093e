package train

import (
	"github.com/aotp/aotp/internal/fdcheck"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aotp/aotp/model"
)

// Finite-difference checks of the losses' gradients, with model/fd_test.go's
// method (Richardson-extrapolated central differences along g/‖g‖ and
// random unit directions, error relative to a directional derivative's
// size). The losses are computed in float64 from float32 inputs, so the
// error left is the float32 rounding of the gradient: observed ≈ 2e-8, the
// tolerance is 1e-6, while the negative controls (CE's gradient without the
// 1/B of the mean; MSE's without its factor 2) err by ≥ 0.5.
const (
	lossTol = 1e-6
	lossH   = 1e-2
)

var randn = fdcheck.Randn

// fdErr is the shared check without kink handling (see internal/fdcheck).
func fdErr(x, g []float32, loss func() float64, h float64, ndir int, seed uint64) float64 {
	e, _, _ := fdcheck.Err(x, g, loss, h, ndir, seed, nil)
	return e
}

func TestFDCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const B, K = 5, 4
	logits := randn(r, B*K, 2)
	labels := []int{0, 3, 1, 1, 2}
	dl := make([]float32, B*K)
	loss := func() float64 {
		l, err := CrossEntropy(logits, labels, K, make([]float32, B*K))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if _, err := CrossEntropy(logits, labels, K, dl); err != nil {
		t.Fatal(err)
	}
	if e := fdErr(logits, dl, loss, lossH, 4, 1); !(e <= lossTol) {
		t.Errorf("CrossEntropy: rel err %.3g > %.3g", e, lossTol)
	} else {
		t.Logf("CrossEntropy: rel err %.2g", e)
	}
	// negative control: the gradient of the sum instead of the mean
	bad := append([]float32(nil), dl...)
	for i := range bad {
		bad[i] *= B
	}
	if e := fdErr(logits, bad, loss, lossH, 4, 1); !(e > lossTol) {
		t.Errorf("negative control: CE gradient without 1/B passed (rel err %.3g)", e)
	}
}

func TestFDMSE(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const B = 6
	pred, targets := randn(r, B, 1), randn(r, B, 1)
	dp := make([]float32, B)
	loss := func() float64 { return MSE(pred, targets, make([]float32, B)) }
	MSE(pred, targets, dp)
	if e := fdErr(pred, dp, loss, lossH, 4, 1); !(e <= lossTol) {
		t.Errorf("MSE: rel err %.3g > %.3g", e, lossTol)
	} else {
		t.Logf("MSE: rel err %.2g", e)
	}
	bad := append([]float32(nil), dp...)
	for i := range bad {
		bad[i] /= 2
	}
	if e := fdErr(pred, bad, loss, lossH, 4, 1); !(e > lossTol) {
		t.Errorf("negative control: MSE gradient without the factor 2 passed (rel err %.3g)", e)
	}
}

// TestClipGradNorm checks clip_grad_norm_'s semantics (it has no backward
// to difference): the returned norm is the global L2 norm; above maxNorm
// every gradient is scaled by the same maxNorm/(norm+1e-6), leaving global
// norm maxNorm and directions unchanged; at or below it (or with maxNorm ≤
// 0) nothing changes.
func TestClipGradNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func() []*model.Param {
		a, b := model.NewParam("a", 3, 4), model.NewParam("b", 7)
		copy(a.Grad, randn(r, 12, 1))
		copy(b.Grad, randn(r, 7, 3))
		return []*model.Param{a, b}
	}
	norm64 := func(ps []*model.Param) float64 {
		var s float64
		for _, p := range ps {
			for _, g := range p.Grad {
				s += float64(g) * float64(g)
			}
		}
		return math.Sqrt(s)
	}
	snapshot := func(ps []*model.Param) [][]float32 {
		var s [][]float32
		for _, p := range ps {
			s = append(s, append([]float32(nil), p.Grad...))
		}
		return s
	}
	ps := mk()
	want := norm64(ps)
	before := snapshot(ps)

	// no clipping: maxNorm above the norm, or ≤ 0
	for _, maxNorm := range []float64{want * 1.01, 0, -1} {
		got := ClipGradNorm(ps, maxNorm)
		if math.Abs(got-want) > 1e-6*want {
			t.Errorf("maxNorm %g: norm %.9g, want %.9g", maxNorm, got, want)
		}
		for k, p := range ps {
			for i, g := range p.Grad {
				if g != before[k][i] {
					t.Fatalf("maxNorm %g: %s.Grad[%d] changed %g -> %g", maxNorm, p.Name, i, before[k][i], g)
				}
			}
		}
	}

	// clipping
	const maxNorm = 1.5
	if got := ClipGradNorm(ps, maxNorm); math.Abs(got-want) > 1e-6*want {
		t.Errorf("norm before clipping %.9g, want %.9g", got, want)
	}
	coef := maxNorm / (want + 1e-6)
	for k, p := range ps {
		for i, g := range p.Grad {
			if w := float64(before[k][i]) * coef; math.Abs(float64(g)-w) > 1e-6*math.Abs(w)+1e-12 {
				t.Fatalf("%s.Grad[%d] = %g, want %g (all scaled by %g)", p.Name, i, g, w, coef)
			}
		}
	}
	if n := norm64(ps); math.Abs(n-maxNorm) > 1e-5 {
		t.Errorf("norm after clipping %.9g, want %g", n, maxNorm)
	}
	// clipping again is (nearly) a no-op: the norm is now ≤ maxNorm
	after := snapshot(ps)
	ClipGradNorm(ps, maxNorm)
	for k, p := range ps {
		for i, g := range p.Grad {
			if math.Abs(float64(g-after[k][i])) > 1e-6*math.Abs(float64(after[k][i])) {
				t.Fatalf("second clip changed %s.Grad[%d]: %g -> %g", p.Name, i, after[k][i], g)
			}
		}
	}
}
