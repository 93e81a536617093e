package peft

import (
	"fmt"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/vec"
	"github.com/aotp/aotp/model"
)

// Bottleneck adapters (Houlsby et al., 2019; method name "adapter"): a
// small MLP added to the output h of a sublayer's dense projection, before
// the residual add and LayerNorm,
//
//	h ← h + up(act(down(h)))      down: C → m, up: m → C (with biases)
//
// Houlsby placement: after attention.output.dense and after output.dense of
// every layer; Pfeiffer placement: after output.dense only (the position of
// Pfeiffer et al.'s adapter; AdapterHub's Pfeiffer block also re-applies
// the layer's LayerNorm around it, which this format does not).
//
// Dropout: the hooks run on the dense output before the layer's hidden
// dropout, whereas the reference implementation (google-research/
// adapter-bert, transformer_model: dense → dropout → adapter → LayerNorm
// (· + input)) and AdapterHub's BertSelfOutput apply the adapter after it.
// In eval mode (serving, dev evaluation) there is no dropout and the two
// are the same function; in training with --dropout > 0 the adapter here
// sees the undropped output and its result is dropped with it. Adapters
// have no dropout of their own.
//
// Init: down.weight ~ N(0, 0.01²) truncated at 2σ (the near-identity init
// of Houlsby et al., whose code uses a truncated normal of std 1e-2..1e-3
// for both projections), biases zero, and up.weight zero, so step 0 is
// exactly the frozen backbone (as for AoT's last factor and LoRA's B).
type Bottleneck struct {
	Placement, Activation string
	M, C                  int
	Layers                []BottleneckLayer

	act     func([]float32)
	actBack func(dinp, inp, dout []float32)
	fromOut bool      // actBack reads act's output (tanh, relu) instead of its input
	y, da   []float32 // scratch
	params  []*model.Param
}

// BottleneckLayer holds one layer's adapters (Attn nil for Pfeiffer).
type BottleneckLayer struct {
	Attn, Out *BottleneckUnit
}

// BottleneckUnit is one adapter and the last forward's values its backward
// needs.
type BottleneckUnit struct {
	DownW, DownB, UpW, UpB *model.Param // [m,C], [m], [C,m], [C]
	h, z, a                []float32    // [N,C] its input, [N,m] pre-activation and activation
}

// Adapter defaults.
const (
	DefaultBottleneck           = 64
	DefaultAdapterPlacement     = "houlsby"
	DefaultAdapterActivation    = "relu"
	adapterDownStd              = 0.01
	adapterActivationsSupported = "relu, gelu, tanh, silu"
)

func adapterActivation(name string) (act func([]float32), back func(dinp, inp, dout []float32), fromOut, ok bool) {
	switch name {
	case "relu":
		return vec.ReLU, vec.ReLUBackward, true, true
	case "gelu": // exact erf form
		return vec.GELU, vec.GELUBackward, false, true
	case "tanh":
		return vec.Tanh, vec.TanhBackward, true, true
	case "silu", "swish":
		return vec.SiLU, vec.SiLUBackward, false, true
	}
	return nil, nil, false, false
}

// NewBottleneck creates adapters for enc with placement "houlsby" or
// "pfeiffer", bottleneck m and activation act ("" picks the defaults).
func NewBottleneck(enc *model.Encoder, placement string, m int, act string, seed uint64) (*Bottleneck, error) {
	if placement == "" {
		placement = DefaultAdapterPlacement
	}
	if m == 0 {
		m = DefaultBottleneck
	}
	if act == "" {
		act = DefaultAdapterActivation
	}
	if placement != "houlsby" && placement != "pfeiffer" {
		return nil, fmt.Errorf("adapter: placement %q is not supported (houlsby, pfeiffer)", placement)
	}
	C := enc.Config.HiddenSize
	if err := checkWidth("adapter: bottleneck", m, C); err != nil {
		return nil, err
	}
	a := &Bottleneck{Placement: placement, Activation: act, M: m, C: C}
	var ok bool
	if a.act, a.actBack, a.fromOut, ok = adapterActivation(act); !ok {
		return nil, fmt.Errorf("adapter: activation %q is not supported (%s)", act, adapterActivationsSupported)
	}
	rng := newRand(seed ^ 0xada)
	unit := func(name string) *BottleneckUnit {
		u := &BottleneckUnit{
			DownW: model.NewParam(name+".down.weight", m, C), DownB: model.NewParam(name+".down.bias", m),
			UpW: model.NewParam(name+".up.weight", C, m), UpB: model.NewParam(name+".up.bias", C),
		}
		for i := range u.DownW.Data {
			v := rng.NormFloat64()
			for v < -2 || v > 2 {
				v = rng.NormFloat64()
			}
			u.DownW.Data[i] = float32(v * adapterDownStd)
		}
		a.params = append(a.params, u.DownW, u.DownB, u.UpW, u.UpB)
		return u
	}
	a.Layers = make([]BottleneckLayer, enc.Config.NumHiddenLayers)
	for l := range a.Layers {
		p := fmt.Sprintf("adapter.layer.%d.", l)
		if placement == "houlsby" {
			a.Layers[l].Attn = unit(p + "attention")
		}
		a.Layers[l].Out = unit(p + "output")
	}
	return a, nil
}

// Params lists the adapters' tensors layer by layer (attention, then output;
// down then up, weight then bias).
func (a *Bottleneck) Params() []*model.Param { return a.params }

func (a *Bottleneck) unit(l int, s model.Site) *BottleneckUnit {
	if l < 0 || l >= len(a.Layers) {
		return nil
	}
	switch s {
	case model.SiteAttnOut:
		return a.Layers[l].Attn
	case model.SiteOutput:
		return a.Layers[l].Out
	}
	return nil
}

// AfterLinear adds the adapter's output to the dense projection's output h
// (model.LinearHook). It is row-wise: each row of out depends on that row
// only.
func (a *Bottleneck) AfterLinear(l int, site model.Site, out, inp []float32, b *model.Batch) error {
	u := a.unit(l, site)
	if u == nil {
		return nil
	}
	C, m := a.C, a.M
	N := len(out) / C
	u.h = grow(u.h, N*C)
	copy(u.h, out)
	u.z, u.a = grow(u.z, N*m), grow(u.a, N*m)
	gemm.Linear(u.z, u.h, u.DownW.Data, u.DownB.Data, N, C, m, nil)
	copy(u.a, u.z)
	a.act(u.a)
	a.y = grow(a.y, N*C)
	gemm.Linear(a.y, u.a, u.UpW.Data, u.UpB.Data, N, m, C, nil)
	vec.AddInPlace(out, a.y)
	return nil
}

// LinearBackward turns dOut, the gradient w.r.t. h + adapter(h), into the
// gradient w.r.t. h, accumulating the adapter's gradients on the way
// (model.LinearBackwardHook).
func (a *Bottleneck) LinearBackward(l int, site model.Site, dOut, inp, dInp []float32, b *model.Batch) error {
	u := a.unit(l, site)
	if u == nil {
		return nil
	}
	C, m := a.C, a.M
	N := len(dOut) / C
	if len(u.h) != N*C {
		return fmt.Errorf("adapter: backward of %d rows after a forward of %d", N, len(u.h)/C)
	}
	// y = a·Upᵀ + b_up: dUp += dOutᵀ·a, db_up += Σ dOut, da = dOut·Up
	gemm.Sgemm(true, false, C, m, N, 1, dOut, C, u.a, m, 1, u.UpW.Grad, m)
	sumRows(u.UpB.Grad, dOut)
	a.da = grow(a.da, N*m)
	gemm.Sgemm(false, false, N, m, C, 1, dOut, C, u.UpW.Data, m, 0, a.da, m)
	// a = act(z): dz = act'(z) ⊙ da
	if a.fromOut {
		a.actBack(a.da, u.a, a.da)
	} else {
		a.actBack(a.da, u.z, a.da)
	}
	// z = h·Downᵀ + b_down: dDown += dzᵀ·h, db_down += Σ dz, dh = dOut + dz·Down
	gemm.Sgemm(true, false, m, C, N, 1, a.da, m, u.h, C, 1, u.DownW.Grad, C)
	sumRows(u.DownB.Grad, a.da)
	gemm.Sgemm(false, false, N, C, m, 1, a.da, m, u.DownW.Data, C, 1, dOut, C)
	return nil
}

func init() {
	Register("adapter", func(enc *model.Encoder, cfg *AdapterConfig, seed uint64) (Method, error) {
		a, err := NewBottleneck(enc, cfg.Placement, cfg.Bottleneck, cfg.Activation, seed)
		if err != nil {
			return nil, err
		}
		cfg.Placement, cfg.Bottleneck, cfg.Activation = a.Placement, a.M, a.Activation // defaults filled in
		return a, nil
	})
}
