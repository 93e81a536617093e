package train

import (
	"math"

	"github.com/aotp/aotp/model"
)

// AdamW follows torch.optim.AdamW (PyTorch 1.13, single-tensor path) step
// for step: decoupled weight decay p ← p·(1 − lr·wd) first, then Adam with
// bias corrections computed in float64 and the update in float32:
//
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	p ← p − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + ε)
type AdamW struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	Step              int         // updates done so far
	M, V              [][]float32 // moments, one per param
}

// NewAdamW returns AdamW with torch's defaults for betas and eps.
func NewAdamW(params []*model.Param, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
	for _, p := range params {
		o.M = append(o.M, make([]float32, p.Numel()))
		o.V = append(o.V, make([]float32, p.Numel()))
	}
	return o
}

// Update applies one step with learning rate lr to params (same order as at
// construction), using their Grad.
func (o *AdamW) Update(params []*model.Param, lr float64) {
	o.Step++
	t := float64(o.Step)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	stepSize := float32(lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	decay := float32(1 - lr*o.WeightDecay)
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1, c2 := float32(1-o.Beta1), float32(1-o.Beta2)
	eps := float32(o.Eps)
	for k, p := range params {
		m, v := o.M[k], o.V[k]
		for i, g := range p.Grad {
			if o.WeightDecay != 0 {
				p.Data[i] *= decay
			}
			m[i] = m[i]*b1 + g*c1
			v[i] = v[i]*b2 + g*g*c2
			denom := float32(math.Sqrt(float64(v[i])))/bc2Sqrt + eps
			p.Data[i] -= stepSize * (m[i] / denom)
		}
	}
}

// ClipGradNorm scales all gradients together so their global L2 norm is at
// most maxNorm, as torch.nn.utils.clip_grad_norm_ does (coefficient
// maxNorm/(norm+1e-6), clamped at 1). It returns the norm before clipping.
func ClipGradNorm(params []*model.Param, maxNorm float64) float64 {
	var sq float64
	for _, p := range params {
		var s float64
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
		// torch takes each tensor's norm in float32, then the norm of norms
		n := float64(float32(math.Sqrt(s)))
		sq += n * n
	}
	norm := math.Sqrt(sq)
	if maxNorm > 0 {
		coef := maxNorm / (norm + 1e-6)
		if coef < 1 {
			c := float32(coef)
			for _, p := range params {
				for i := range p.Grad {
					p.Grad[i] *= c
				}
			}
		}
	}
	return norm
}
