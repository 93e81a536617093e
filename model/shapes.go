package model

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/aotp/aotp/kernels/parallel"
)

// Shapes are the configs of real checkpoints, for building random weights
// of the same shapes: speed does not depend on the values, so benchmarks run
// without a download.
var Shapes = map[string]Config{
	"bert-base-uncased":  bertShape(30522, 768, 12, 12, 3072),
	"bert-large-uncased": bertShape(30522, 1024, 24, 16, 4096),
	"roberta-base":       robertaShape(768, 12, 12, 3072),
	"roberta-large":      robertaShape(1024, 24, 16, 4096),
	// /work/shared/data/configs: microsoft/deberta-v3-base's config.json, the
	// official rtd_large discriminator, deberta_official_deberta_xlarge
	"deberta-v3-base":   debertaV2Shape(768, 12, 12, 3072, 0),
	"deberta-v3-large":  debertaV2Shape(1024, 24, 16, 4096, 0),
	"deberta-v2-xlarge": debertaV2Shape(1536, 24, 24, 6144, 3),
}

// debertaV2Shape is a DeBERTa v2/v3 config as released: relative attention
// with 256 log buckets, c2p and p2c with shared keys, LayerNorm on the
// relative embeddings, no absolute positions or token types, eps 1e-7;
// conv > 0 adds v2's convolution (kernel conv, gelu).
func debertaV2Shape(C, L, NH, I, conv int) Config {
	c, _ := defaultConfig("deberta-v2")
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 128100, C, L, NH, I
	c.RelativeAttention, c.PositionBuckets, c.NormRelEbd, c.ShareAttKey = true, 256, "layer_norm", true
	c.PosAttType = PosAttType{"p2c", "c2p"}
	c.PositionBiasedInput, c.TypeVocabSize, c.LayerNormEps = false, 0, 1e-7
	if conv > 0 {
		c.ConvKernelSize, c.ConvAct = conv, "gelu"
	}
	return c
}

func bertShape(V, C, L, NH, I int) Config {
	c, _ := defaultConfig("bert")
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = V, C, L, NH, I
	return c
}

func robertaShape(C, L, NH, I int) Config {
	c, _ := defaultConfig("roberta")
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 50265, C, L, NH, I
	c.MaxPositionEmbeddings, c.TypeVocabSize, c.LayerNormEps = 514, 1, 1e-5
	return c
}

// ShapeConfig returns a copy of the named shape's config.
func ShapeConfig(name string) (*Config, error) {
	c, ok := Shapes[name]
	if !ok {
		names := make([]string, 0, len(Shapes))
		for n := range Shapes {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown shape %q (known: %s)", name, strings.Join(names, ", "))
	}
	return &c, nil
}

// RandomSource returns HF-named tensors of cfg's shapes with random values:
// weights uniform with std 0.02 (as initializer_range), LayerNorm weights 1
// and biases 0, linear biases small. Deterministic for a seed.
func RandomSource(cfg *Config, seed uint64) MapSource {
	C := cfg.HiddenSize
	src := MapSource{}
	var specs []struct {
		name  string
		shape []int
		kind  byte // 'w' weight, 'b' bias, 'g' LN gain
	}
	add := func(name string, kind byte, shape ...int) {
		specs = append(specs, struct {
			name  string
			shape []int
			kind  byte
		}{name, shape, kind})
	}
	lin := func(name string, out, in int) { add(name+".weight", 'w', out, in); add(name+".bias", 'b', out) }
	ln := func(name string) { add(name+".weight", 'g', C); add(name+".bias", 'b', C) }
	if cfg.IsDeberta() {
		debertaSpecs(cfg, add, lin, ln)
	} else {
		bertSpecs(cfg, add, lin, ln)
	}
	tensors := make([]MapTensor, len(specs))

	parallel.ForChunks(len(specs), len(specs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sp := specs[i]
			n := 1
			for _, d := range sp.shape {
				n *= d
			}
			data := make([]float32, n)
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			switch sp.kind {
			case 'w':
				// uniform(-a, a) with std 0.02: a = 0.02·√3
				for j := range data {
					data[j] = float32((r.Float64()*2 - 1) * 0.0346)
				}
			case 'b':
				for j := range data {
					data[j] = float32((r.Float64()*2 - 1) * 0.01)
				}
			case 'g':
				for j := range data {
					data[j] = 1
				}
			}
			tensors[i] = MapTensor{Shape: sp.shape, Data: data}
		}
	})
	for i, sp := range specs {
		src[sp.name] = tensors[i]
	}
	return src
}

func bertSpecs(cfg *Config, add func(string, byte, ...int), lin func(string, int, int), ln func(string)) {
	C, I := cfg.HiddenSize, cfg.IntermediateSize
	add("embeddings.word_embeddings.weight", 'w', cfg.VocabSize, C)
	add("embeddings.position_embeddings.weight", 'w', cfg.MaxPositionEmbeddings, C)
	add("embeddings.token_type_embeddings.weight", 'w', cfg.TypeVocabSize, C)
	ln("embeddings.LayerNorm")
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		lin(p+"attention.self.query", C, C)
		lin(p+"attention.self.key", C, C)
		lin(p+"attention.self.value", C, C)
		lin(p+"attention.output.dense", C, C)
		ln(p + "attention.output.LayerNorm")
		lin(p+"intermediate.dense", I, C)
		lin(p+"output.dense", C, I)
		ln(p + "output.LayerNorm")
	}
	lin("pooler.dense", C, C)
}

// NewRandom builds an Encoder of cfg's shape with RandomSource weights.
func NewRandom(cfg *Config, seed uint64) (*Encoder, error) {
	return FromSource(cfg, RandomSource(cfg, seed))
}
