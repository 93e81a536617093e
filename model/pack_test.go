package model

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aotp/aotp/internal/golden"
	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/safetensors"
)

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// forwardCopy runs Forward and copies the outputs.
func forwardCopy(t *testing.T, m *Encoder, b *Batch) (last, pooled []float32) {
	t.Helper()
	out, err := m.Forward(context.Background(), b, &Workspace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.LastHiddenState...), append([]float32(nil), out.PoolerOutput...)
}

// loadGolden loads the tiny golden checkpoint name (closed when the test
// ends) and its golden batch.
func loadGolden(t *testing.T, name string) (*Encoder, *Batch) {
	t.Helper()
	m, g := loadGoldenModel(t, name)
	b, _ := goldenBatch(t, g)
	return m, b
}

// PackWeights changes no result bit, and Unpack goes back.
func TestPackWeightsSameOutput(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			m, b := loadGolden(t, name)
			last, pooled := forwardCopy(t, m, b)
			if n := m.PackWeights(); n <= 0 {
				t.Fatalf("PackWeights packed %d bytes", n)
			}
			if m.Layers[0].Attention.Self.Query.packed == nil || (m.Pooler != nil && m.Pooler.Dense.packed == nil) {
				t.Fatal("a Linear was not packed")
			}
			l2, p2 := forwardCopy(t, m, b)
			sameBits(t, "last_hidden_state packed", l2, last)
			sameBits(t, "pooler_output packed", p2, pooled)
			m.Unpack()
			l3, _ := forwardCopy(t, m, b)
			sameBits(t, "last_hidden_state unpacked", l3, last)
		})
	}
}

// A mapped checkpoint with weights larger than a page: packing releases
// the original pages, and the original weights (the backward pass's W)
// read the same values afterwards; switching the GEMM implementation after
// packing falls back to the unpacked weights.
func TestPackWeightsMapped(t *testing.T) {
	m, b, r := loadWrittenModel(t, 3, safetensors.F32Tensor, LoadOptions{})
	up := &m.Layers[1].Intermediate.Dense
	wantW := append([]float32(nil), up.Weight...)
	last, pooled := forwardCopy(t, m, b)
	packed := m.PackWeights()
	// every weight is a mapped view: the packed copies replace them in the count
	if got, want := m.WeightBytes(), 4*int64(m.NumParams())-linearBytes(m)+packed; got != want {
		t.Errorf("WeightBytes %d, want %d", got, want)
	}
	l2, p2 := forwardCopy(t, m, b)
	sameBits(t, "last_hidden_state packed", l2, last)
	sameBits(t, "pooler_output packed", p2, pooled)
	sameBits(t, "weight after release", up.Weight, wantW)

	// The backward product dX = dY·W on the released weight.
	N := 7
	dout := randn(r, N*up.Out, 1)
	d1, d2 := make([]float32, N*up.In), make([]float32, N*up.In)
	gemm.Sgemm(false, false, N, up.In, up.Out, 1, dout, up.Out, wantW, up.In, 0, d1, up.In)
	linearBackwardInput(up, d2, dout, N, 0)
	sameBits(t, "dX from the released weight", d2, d1)

	if names := gemm.Impls(); len(names) > 1 {
		defer gemm.SetImpl(gemm.Impl())
		if err := gemm.SetImpl(names[len(names)-1]); err != nil {
			t.Fatal(err)
		}
		want, _ := forwardCopy(t, m, b) // packed for another impl: falls back
		m.Unpack()
		got, _ := forwardCopy(t, m, b)
		sameBits(t, "after SetImpl", want, got)
	}
}

// writeCheckpoint writes a random checkpoint (a small BERT with weights
// larger than a page) to a new directory, each tensor made by tensor (its
// dtype).
func writeCheckpoint(t *testing.T, seed uint64, tensor func(name string, shape []int, data []float32) safetensors.Tensor) (string, *Config) {
	t.Helper()
	cfg := bertShape(120, 128, 2, 4, 512)
	cfg.MaxPositionEmbeddings = 64
	dir := t.TempDir()
	src := RandomSource(&cfg, seed)
	var ts []safetensors.Tensor
	for _, n := range src.Names() {
		ts = append(ts, tensor(n, src[n].Shape, src[n].Data))
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	cj, err := json.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, &cfg
}

// loadWrittenModel loads writeCheckpoint's checkpoint with opt; with a
// batch of three sequences and the random source that drew them.
func loadWrittenModel(t *testing.T, seed uint64, tensor func(name string, shape []int, data []float32) safetensors.Tensor, opt LoadOptions) (*Encoder, *Batch, *rand.Rand) {
	t.Helper()
	dir, cfg := writeCheckpoint(t, seed, tensor)
	m, err := LoadWith(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	var seqs [][]int32
	for _, n := range []int{5, 17, 9} {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(r.IntN(cfg.VocabSize))
		}
		seqs = append(seqs, s)
	}
	return m, NewBatch(seqs, nil), r
}

// PackWeightsHalf gives exactly the outputs of float32 weights rounded to
// F16 (PackWeights on the rounded copy), and stays close to the float32
// outputs: per-weight rounding of at most 2⁻¹¹ relative.
func TestPackWeightsHalf(t *testing.T) {
	for _, name := range append(append([]string{}, goldenModels...), debertaGoldenModels...) {
		t.Run(name, func(t *testing.T) {
			m, b := loadGolden(t, name)
			rounded, _ := loadGolden(t, name)
			last, pooled := forwardCopy(t, m, b)

			roundWeights(rounded, func(w []float32, _, _ int) {
				for i, v := range w {
					w[i] = safetensors.F16ToFloat32(safetensors.Float32ToF16(v))
				}
			})
			full := m.PackWeights()
			b32 := m.WeightBytes()
			if d := m.WeightsDType(); d != "float32" || b32 < 4*int64(m.NumParams()) {
				t.Fatalf("after PackWeights: WeightsDType %s, WeightBytes %d < 4·%d", d, b32, m.NumParams())
			}
			n := m.PackWeightsHalf()
			if 2*n != full {
				t.Fatalf("PackWeightsHalf packed %d bytes, PackWeights %d", n, full)
			}
			// F16 saves exactly half the packed bytes
			if d, b16 := m.WeightsDType(), m.WeightBytes(); d != "float16" || b32-b16 != full-n {
				t.Fatalf("after PackWeightsHalf: WeightsDType %s, WeightBytes %d, want %d", d, b16, b32-(full-n))
			}
			rounded.PackWeights()
			lh, ph := forwardCopy(t, m, b)
			lr, pr := forwardCopy(t, rounded, b)
			sameBits(t, "last_hidden_state f16", lh, lr)
			sameBits(t, "pooler_output f16", ph, pr)

			for _, c := range []struct {
				what      string
				got, want []float32
			}{{"last_hidden_state", lh, last}, {"pooler_output", ph, pooled}} {
				maxDiff, scale := maxDiffScale(c.got, c.want)
				t.Logf("%s: f16 weights change it by at most %.2g (largest value %.3g)", c.what, maxDiff, scale)
				if maxDiff > 5e-3*scale {
					t.Errorf("%s: f16 weights change it by %.3g, over 5e-3 of its scale %.3g", c.what, maxDiff, scale)
				}
			}
		})
	}
}

// PackWeightsInt8: a quarter of the float32 packed bytes (plus a scale per
// output channel), "int8" for TEI, and outputs within float32 rounding of
// the weights rounded per output channel to the int8 grid — and within a
// few percent of the float32 model's (at most 6 % on these, bound 10 %).
func TestPackWeightsInt8(t *testing.T) {
	for _, name := range append(append([]string{}, goldenModels...), debertaGoldenModels...) {
		t.Run(name, func(t *testing.T) {
			m, b := loadGolden(t, name)
			rounded, _ := loadGolden(t, name)
			last, pooled := forwardCopy(t, m, b)
			channels := roundWeights(rounded, gemm.RoundToInt8Grid)
			full := m.PackWeights()
			n := m.PackWeightsInt8()
			if d := m.WeightsDType(); d != "int8" || n > full/4+int64(4*16*channels) {
				t.Fatalf("after PackWeightsInt8: WeightsDType %s, %d bytes packed (float32: %d)", d, n, full)
			}
			rounded.PackWeights()
			lq, pq := forwardCopy(t, m, b)
			lr, pr := forwardCopy(t, rounded, b)
			for _, c := range []struct {
				what         string
				got, grid, f []float32
			}{{"last_hidden_state", lq, lr, last}, {"pooler_output", pq, pr, pooled}} {
				dF, scale := maxDiffScale(c.got, c.f)
				dGrid, _ := maxDiffScale(c.got, c.grid)
				t.Logf("%s: int8 weights change it by at most %.2g (largest value %.3g); %.2g from the float32 weights on the int8 grid", c.what, dF, scale, dGrid)
				if dGrid > 1e-4*scale || dF > 0.1*scale {
					t.Errorf("%s: %.3g from the int8-grid weights, %.3g from float32 (scale %.3g)", c.what, dGrid, dF, scale)
				}
			}
		})
	}
}

// maxDiffScale returns max|got − want| and max|want|.
func maxDiffScale(got, want []float32) (d, scale float64) {
	for i, v := range want {
		d = max(d, math.Abs(float64(got[i]-v)))
		scale = max(scale, math.Abs(float64(v)))
	}
	return d, scale
}

// roundWeights gives every Linear PackWeights packs its own copy of its
// weight (the loaded one may be read-only mapped), changed in place by
// round (w [out, in]); it returns the output channels.
func roundWeights(m *Encoder, round func(w []float32, out, in int)) int {
	channels := 0
	for _, l := range m.packable() {
		w := append([]float32(nil), l.Weight...)
		round(w, l.Out, l.In)
		l.Weight = w
		channels += l.Out
	}
	return channels
}

// linearBytes is the float32 size of the weights PackWeights packs.
func linearBytes(m *Encoder) int64 {
	var n int64
	for _, l := range m.packable() {
		n += 4 * int64(len(l.Weight))
	}
	return n
}

// PackWeightsW8A8: the int8 weights' bytes, "w8a8" for TEI, outputs within
// a bound of the float32 model's (the activations rounded to 128 levels a
// row at every Linear: at most ~11 % of the largest value on these tiny
// random checkpoints, bound 20 %; their hidden states are LayerNorm's,
// a few units across, the worst case for a row's 128 levels), and a
// sequence gives the same bits alone as in a batch (each row is
// quantized on its own).
func TestPackWeightsW8A8(t *testing.T) {
	for _, name := range append(append([]string{}, goldenModels...), debertaGoldenModels...) {
		t.Run(name, func(t *testing.T) {
			m, b := loadGolden(t, name)
			last, pooled := forwardCopy(t, m, b)
			channels := 0
			for _, l := range m.packable() {
				channels += l.Out
			}
			full := m.PackWeights()
			n := m.PackWeightsW8A8()
			if d := m.WeightsDType(); d != "w8a8" || n > full/4+int64(12*16*channels) {
				t.Fatalf("after PackWeightsW8A8: WeightsDType %s, %d bytes packed (float32: %d)", d, n, full)
			}
			lq, pq := forwardCopy(t, m, b)
			for _, c := range []struct {
				what   string
				got, f []float32
			}{{"last_hidden_state", lq, last}, {"pooler_output", pq, pooled}} {
				dF, scale := maxDiffScale(c.got, c.f)
				t.Logf("%s: W8A8 changes it by at most %.2g (largest value %.3g)", c.what, dF, scale)
				if len(c.f) == 0 {
					continue // no pooler (DeBERTa)
				}
				if dF > 0.15*scale || dF == 0 {
					t.Errorf("%s: W8A8 changes it by %.3g (scale %.3g)", c.what, dF, scale)
				}
			}
			checkBatchedEqualsSingle(t, m, b)
		})
	}
}

// withOutlierChannels gives a random encoder the outlier channels trained
// encoders have: at dims, every LayerNorm's weight ×scale and bias
// +scale/2, and the weights reading those LayerNorms' outputs (query, key,
// value, intermediate, pooler) ÷scale at those input columns.
func withOutlierChannels(m *Encoder, dims []int, scale float32) {
	lns := []*LayerNorm{&m.Embeddings.LayerNorm}
	for i := range m.Layers {
		L := &m.Layers[i]
		lns = append(lns, &L.Attention.Output.LayerNorm, &L.Output.LayerNorm)
		for _, l := range []*Linear{&L.Attention.Self.Query, &L.Attention.Self.Key, &L.Attention.Self.Value, &L.Intermediate.Dense} {
			for n := 0; n < l.Out; n++ {
				for _, d := range dims {
					l.Weight[n*l.In+d] /= scale
				}
			}
		}
	}
	for _, ln := range lns {
		for _, d := range dims {
			ln.Weight[d] *= scale
			ln.Bias[d] += scale / 2
		}
	}
}

// relL2Without is ‖got − want‖/‖want‖ over the columns of [N, C] rows not
// in skip.
func relL2Without(got, want []float32, C int, skip []int) float64 {
	var num, den float64
	for i, v := range want {
		if slices.Contains(skip, i%C) {
			continue
		}
		d := float64(got[i] - v)
		num, den = num+d*d, den+float64(v)*float64(v)
	}
	return math.Sqrt(num / den)
}

// PackWeightsW8A8's smoothing: on an encoder with outlier channels the
// hidden states (outside those channels) move several times less from
// float32 than without it; on one without, not more. (Measured on a
// roberta-base shape: 3.9 % → 0.5 %, and 2.6 % → 2.3 %; tools/bench.)
func TestPackWeightsW8A8Outliers(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(golden.Dir(t), "models", "roberta-tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads, cfg.NumHiddenLayers = 128, 512, 4, 3
	dims := []int{17, 90}
	r := rand.New(rand.NewPCG(8, 9))
	b := fdBatch(r, []int{40, 17, 64}, cfg.VocabSize, cfg.TypeVocabSize)
	for _, outliers := range []bool{false, true} {
		m, err := NewRandom(cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		if outliers {
			withOutlierChannels(m, dims, 12)
		}
		want, _ := forwardCopy(t, m, b)
		var e [2]float64
		for i, smooth := range []bool{false, true} {
			m.packW8A8(smooth)
			got, _ := forwardCopy(t, m, b)
			e[i] = relL2Without(got, want, cfg.HiddenSize, dims)
		}
		t.Logf("outlier channels %v: hidden states move %.3g%% plain, %.3g%% smoothed", outliers, 100*e[0], 100*e[1])
		if outliers && !(e[1] < e[0]/3) || !outliers && !(e[1] < e[0]*1.05) {
			t.Errorf("outlier channels %v: smoothing moves the hidden states by %.3g%%, without it %.3g%%", outliers, 100*e[1], 100*e[0])
		}
	}
}
