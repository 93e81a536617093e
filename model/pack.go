package model

import (
	"context"
	"math"
	"math/rand/v2"
	"os"

	"github.com/aotp/aotp/kernels/gemm"
)

// PackWeights packs the weight of every encoder Linear (query, key, value,
// attention output, intermediate, output, pooler) once into the GEMM
// kernel's panel layout, so that Forward no longer repacks them on every
// call (same results, bit for bit). Call it after loading, before serving;
// it returns the bytes packed.
//
// Memory stays at one copy: when a weight is a view into the read-only
// mapped checkpoint, its pages are released once packed (madvise
// MADV_DONTNEED; they are clean and file-backed). Linear.Weight stays valid:
// the backward pass (dX = dY·W) and any other reader fault the pages back
// in from the page cache. Weights that are not mapped (converted from
// F16/BF16, FromSource) stay in memory as they are.
//
// The packed copy is for the GEMM implementation selected now
// (gemm.SetImpl); after switching, Forward falls back to the unpacked
// weights until PackWeights is called again. Weights must not be changed
// after packing (the packed copy would be stale); call PackWeights again
// if they are.
func (m *Encoder) PackWeights() int64 { return m.packWeights(gemm.PackB) }

// PackWeightsHalf is PackWeights storing the packed weights as F16
// (gemm.PackBHalf): half the memory, and a small-batch forward pass, which
// streams every weight for a few rows of work, reads half the bytes. The
// outputs are those of the weights rounded to F16 (relative error ≤ 2⁻¹¹ per
// weight), no longer PyTorch's float32 results to the last digit: an
// opt-in for inference (`--weights f16`). Training and Backward keep the
// float32 Weight.
func (m *Encoder) PackWeightsHalf() int64 { return m.packWeights(gemm.PackBHalf) }

// PackWeightsInt8 is PackWeights storing the packed weights as int8 with
// one scale per output channel (gemm.PackBInt8): a quarter of the float32
// memory. Each weight moves by up to 1/254 of its row's largest, so the
// outputs move more than with F16 (the demo tasks' predictions stay the
// same, TestPackWeightsInt8): an opt-in for inference (`--weights int8`).
func (m *Encoder) PackWeightsInt8() int64 { return m.packWeights(gemm.PackBInt8) }

// PackWeightsW8A8 packs the weights for W8A8 products (gemm.PackBA8Smooth):
// each Linear also quantizes its input rows, per row, to 128 levels when it
// runs, and multiplies bytes, about 1.8× the float32 GEMM's speed on AVX2 at
// large batches.
//
// Before that, a calibration pass (one sequence of random token ids through
// the float32 encoder) finds the largest input per column of each Linear
// fed by a LayerNorm (layerNormFed), and those columns are smoothed
// (SmoothQuant, α = ½): column k of the input is divided and column k of
// the weight multiplied by s_k = √(max|x_k| / max|w_k|) (float32 products:
// one more rounding of 2⁻²⁴ against the activations' 1/254), so that the
// outlier channels trained encoders have (a few hidden dimensions 10–100×
// the rest after every LayerNorm) no longer stretch each row's 128 levels
// (measured on a checkpoint given such channels: 3.9 % → 0.6 % relative
// error of the hidden states, tools/bench/RESULTS.md;
// TestPackWeightsW8A8Outliers). The weights are then on the int8 grid of
// W·diag(s), per output channel. The environment variable
// AOTP_W8A8_SMOOTH=0 turns the smoothing off (to compare the two on a task).
//
// The outputs move further than with PackWeightsInt8 (TestPackWeightsW8A8
// bounds them): an opt-in for inference (`--weights w8a8`), to be measured
// on the task before serving with it. Attention (Q·Kᵀ, P·V), LayerNorm and
// the activations stay float32. With PackBackwardWeightsInt8 it also
// trains: quantization-aware training of an adapter, the backward on the
// same smoothed weights, passing straight through the activations'
// rounding (`train --weights w8a8`, train.TestW8A8Training).
func (m *Encoder) PackWeightsW8A8() int64 { return m.packW8A8(os.Getenv("AOTP_W8A8_SMOOTH") != "0") }

// packW8A8 is PackWeightsW8A8, without the smoothing when smooth is false.
func (m *Encoder) packW8A8(smooth bool) int64 {
	var xmax map[*Linear][]float32
	if smooth {
		xmax = m.calibrateW8A8()
	}
	return m.packLinears(func(l *Linear) *gemm.PackedB {
		l.smooth = nil
		if l.In > gemm.MaxA8K { // beyond int32 sums (no released encoder): float32
			return gemm.PackB(l.Weight, l.Out, l.In)
		}
		if x := xmax[l]; x != nil { // here, where packing reads the weight's pages anyway
			l.smooth = smoothingFactors(x, l.Weight, l.Out, l.In)
		}
		return gemm.PackBA8Smooth(l.Weight, l.Out, l.In, l.smooth)
	})
}

// w8a8CalibrationTokens is the length of the calibration pass's sequence:
// the outlier channels are there at every token, whatever the text (one
// sequence of 32, 128 or four of 128 gave the same errors, measured).
const w8a8CalibrationTokens = 64

// calibrateW8A8 runs the calibration pass (a sequence of random token ids,
// seeded: the same factors every time for a GEMM implementation) and
// returns the largest |input| per column of each Linear to smooth; nil
// where the pass fails. The pass reads every weight once more than packing
// does (+0.45 s at load for roberta-base here).
func (m *Encoder) calibrateW8A8() map[*Linear][]float32 {
	var ls []*Linear
	for _, l := range m.layerNormFed() {
		if l.Weight != nil && l.In <= gemm.MaxA8K {
			l.calib = make([]float32, l.In)
			ls = append(ls, l)
		}
	}
	defer func() {
		for _, l := range ls {
			l.calib = nil
		}
	}()
	T := min(w8a8CalibrationTokens, m.Config.MaxSequenceLength())
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]int32, T)
	for i := range ids {
		ids[i] = int32(r.IntN(m.Config.VocabSize))
	}
	rel, _ := m.closer.(releaser)
	behind := &releaseBehind{m: m, rel: rel}
	_, err := m.Forward(context.Background(), NewBatch([][]int32{ids}, nil), &Workspace{}, behind)
	behind.BeforeLayer(len(m.Layers), nil, nil)
	if err != nil {
		return nil
	}
	out := make(map[*Linear][]float32, len(ls))
	for _, l := range ls {
		out[l] = l.calib
	}
	return out
}

// releaseBehind gives the mapped pages of each layer's weights back once
// the calibration pass is past that layer (as packing does after each
// weight), so that the pass does not hold the whole float32 checkpoint
// resident at once.
type releaseBehind struct {
	m   *Encoder
	rel releaser
}

func (h *releaseBehind) BeforeLayer(l int, _ []float32, _ *Batch) error {
	if h.rel == nil || l == 0 {
		return nil
	}
	for _, lin := range h.m.Layers[l-1].linears() {
		if lin.Weight != nil {
			_, _ = h.rel.ReleaseView(lin.Weight) // a failure only costs memory
		}
	}
	return nil
}

// layerNormFed lists the Linears whose input is a LayerNorm's output, the
// ones PackWeightsW8A8 smooths (as SmoothQuant does): each layer's query,
// key, value and intermediate, and the pooler. The attention output's and
// the FFN output's inputs (attention context, activation) have no outlier
// channels to move; measured on random roberta-base and deberta-v3-base
// shapes, smoothing them too moved the hidden states by 2.3 % and 2.7 %
// (this rule: 2.5 %, 2.5 %; none: 2.6 %, 2.5 %).
func (m *Encoder) layerNormFed() []*Linear {
	var ls []*Linear
	for i := range m.Layers {
		l := m.Layers[i].linears()
		ls = append(ls, l[0], l[1], l[2], l[4]) // query, key, value, intermediate
	}
	if m.Pooler != nil {
		ls = append(ls, &m.Pooler.Dense)
	}
	return ls
}

// smoothingFactors returns s_k = √(xmax_k / max_n |w[n,k]|) within
// [2⁻²⁴, 2²⁴] (powers of two measured worse: 2.3 → 2.7 % on a checkpoint
// without outliers, where the ideal factors are nearly even and rounding
// them to powers of two makes them uneven), and 1 where either maximum is
// zero or not finite; nil when every factor is 1.
func smoothingFactors(xmax, w []float32, N, K int) []float32 {
	wmax := make([]float32, K)
	for n := 0; n < N; n++ {
		for k, v := range w[n*K : (n+1)*K] {
			wmax[k] = max(wmax[k], float32(math.Abs(float64(v))))
		}
	}
	s := make([]float32, K)
	moved := false
	for k := range s {
		s[k] = 1
		x, y := float64(xmax[k]), float64(wmax[k])
		if !(x > 0) || !(y > 0) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			continue
		}
		s[k] = float32(max(0x1p-24, min(0x1p24, math.Sqrt(x/y))))
		moved = moved || s[k] != 1
	}
	if !moved {
		return nil
	}
	return s
}

func (m *Encoder) packWeights(packB func(w []float32, N, K int) *gemm.PackedB) int64 {
	return m.packLinears(func(l *Linear) *gemm.PackedB {
		l.smooth = nil
		return packB(l.Weight, l.Out, l.In)
	})
}

func (m *Encoder) packLinears(pack func(l *Linear) *gemm.PackedB) int64 {
	rel, _ := m.closer.(releaser)
	var total int64
	for _, l := range m.packable() {
		if l.Weight == nil {
			continue
		}
		l.packed = pack(l)
		total += int64(l.packed.Bytes())
		if rel != nil {
			// A failure only costs memory: the view stays valid.
			_, _ = rel.ReleaseView(l.Weight)
		}
	}
	m.resetDerived()
	return total
}

// packable lists the Linears PackWeights packs: every layer's, and the
// pooler's.
func (m *Encoder) packable() []*Linear {
	ls := m.layerLinears()
	if m.Pooler != nil {
		ls = append(ls, &m.Pooler.Dense)
	}
	return ls
}

// WeightBytes is the memory the weights take for a forward pass: every
// parameter at 4 bytes, plus each packed Linear weight's packed copy, less
// its float32 original where that was a mapped checkpoint view whose pages
// packing gave back. So a mapped checkpoint counts about 4 bytes a weight
// packed as float32 and 2 as F16 (PackWeightsHalf); weights on the heap
// (converted from F16/BF16 files) count their packed copy on top.
func (m *Encoder) WeightBytes() int64 {
	rel, _ := m.closer.(releaser)
	n := int64(m.NumParams()) * 4
	for _, l := range m.packable() {
		if l.packed == nil {
			continue
		}
		n += int64(l.packed.Bytes())
		if rel != nil && rel.Releasable(l.Weight) {
			n -= 4 * int64(len(l.Weight))
		}
	}
	return n
}

// WeightsDType names the precision the forward pass's weights are in, as
// TEI reports it: "float16" after PackWeightsHalf, "int8" after
// PackWeightsInt8, "w8a8" after PackWeightsW8A8, else "float32".
func (m *Encoder) WeightsDType() string {
	for _, l := range m.packable() {
		switch {
		case l.packed == nil:
		case l.packed.Half():
			return "float16"
		case l.packed.Int8():
			return "int8"
		case l.packed.A8():
			return "w8a8"
		}
	}
	return "float32"
}

// resetDerived drops what was computed from the weights as packed before
// (DeBERTa's relative-position projections): F16 or int8 packing changes
// them.
func (m *Encoder) resetDerived() {
	if m.Deberta != nil {
		m.Deberta.resetPositionProjections()
	}
}

// PackBackwardWeights packs each layer Linear's weight a second time, as
// the backward pass's operand (dX[N,In] = dY[N,Out]·W: the NN form, which
// Backward otherwise repacks on every call, with a barrier per k block:
// roberta-base AoT step 5759 → 5200 ms measured), for a frozen backbone
// that trains adapters. Same results, bit
// for bit (gemm.MulPacked). Only weights that are views into the mapped
// checkpoint are packed, and their pages are given back again: the
// backward then never reads them, so resident memory stays at two copies
// (the packed forward copy plus what the backward faulted back in before),
// though the second is now process memory, not page cache the kernel may
// reclaim under pressure.
// Weights on the heap are left to the per-call path, which adds no third
// copy. Returns the bytes packed; call after PackWeights, and again after
// gemm.SetImpl.
func (m *Encoder) PackBackwardWeights() int64 {
	return m.packBackward(m.layerLinears(), func(l *Linear) *gemm.PackedB { return gemm.PackBN(l.Weight, l.Out, l.In) }, true)
}

// PackBackwardWeightsHalf packs every frozen packable Linear's weight (the
// layers' and the pooler's) as the backward's operand in F16
// (gemm.PackBNHalf), for a backbone whose forward pass runs on
// PackWeightsHalf: the backward then multiplies by the same rounded
// weights the forward used, so the gradients are those of that F16
// backbone, and the two packed copies take 4 bytes a weight instead of 8.
// Mapped originals are given back after packing. Returns the bytes packed;
// call after PackWeightsHalf, and again after gemm.SetImpl.
func (m *Encoder) PackBackwardWeightsHalf() int64 {
	return m.packBackward(m.packable(), func(l *Linear) *gemm.PackedB { return gemm.PackBNHalf(l.Weight, l.Out, l.In) }, false)
}

// PackBackwardWeightsInt8 is PackBackwardWeightsHalf for a backbone whose
// forward pass runs on PackWeightsInt8 (gemm.PackBNInt8: the same
// per-output-channel grid): the gradients are those of that int8 backbone
// (its forward sums in another order, within float32 rounding), and the
// two packed copies take 2 bytes a weight instead of 8. After
// PackWeightsW8A8 it packs each Linear's smoothed grid
// (gemm.PackBNInt8Smooth): the weights the W8A8 products stand for.
func (m *Encoder) PackBackwardWeightsInt8() int64 {
	return m.packBackward(m.packable(), func(l *Linear) *gemm.PackedB {
		return gemm.PackBNInt8Smooth(l.Weight, l.Out, l.In, l.smooth)
	}, false)
}

// packBackward packs each frozen Linear of ls as the backward's operand
// with pack and gives mapped originals back; mappedOnly skips weights on
// the heap.
func (m *Encoder) packBackward(ls []*Linear, pack func(l *Linear) *gemm.PackedB, mappedOnly bool) int64 {
	rel, _ := m.closer.(releaser)
	var total int64
	for _, l := range ls {
		if l.Weight == nil || l.WGrad != nil {
			continue // trained weights change: nothing to pack once
		}
		mapped := rel != nil && rel.Releasable(l.Weight)
		if mappedOnly && !mapped {
			continue // on the heap: packing would be a third copy
		}
		l.packedNN = pack(l)
		total += int64(l.packedNN.Bytes())
		if mapped {
			_, _ = rel.ReleaseView(l.Weight) // packing read the pages back
		}
	}
	return total
}

// layerLinears lists every encoder layer's Linears, in forward order.
func (m *Encoder) layerLinears() []*Linear {
	var ls []*Linear
	for i := range m.Layers {
		ls = append(ls, m.Layers[i].linears()...)
	}
	return ls
}

// linears lists the layer's Linears in forward order: query, key, value,
// attention output, intermediate, output.
func (L *BertLayer) linears() []*Linear {
	return []*Linear{&L.Attention.Self.Query, &L.Attention.Self.Key, &L.Attention.Self.Value,
		&L.Attention.Output.Dense, &L.Intermediate.Dense, &L.Output.Dense}
}

// Unpack drops the packed weights (PackWeights, PackBackwardWeights):
// Forward and Backward use Weight again.
func (m *Encoder) Unpack() {
	for _, l := range m.packable() {
		l.packed, l.packedNN, l.smooth = nil, nil, nil
	}
	m.resetDerived()
}
