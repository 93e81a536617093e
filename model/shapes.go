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
	C, I := cfg.HiddenSize, cfg.IntermediateSize
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

// NewRandom builds an Encoder of cfg's shape with RandomSource weights.
func NewRandom(cfg *Config, seed uint64) (*Encoder, error) {
	return FromSource(cfg, RandomSource(cfg, seed))
}
