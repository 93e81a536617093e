package model

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
)

// TensorSource is what weights load from: a safetensors.Model, or a map in
// tests and for random checkpoints.
type TensorSource interface {
	Names() []string
	Float32(name string) ([]float32, []int, error)
}

// weightLoader walks the model structure and takes each tensor by its HF
// name, so a missing tensor or a wrong shape is reported by name, and every
// tensor left over at the end is either a known skippable one or an error.
type weightLoader struct {
	src    TensorSource
	file   string // for error messages
	prefix string // "", "bert." or "roberta."
	names  map[string]bool
	used   map[string]bool
	err    error
}

func newWeightLoader(src TensorSource, file string) *weightLoader {
	w := &weightLoader{src: src, file: file, names: map[string]bool{}, used: map[string]bool{}}
	for _, n := range src.Names() {
		w.names[n] = true
	}
	return w
}

// detectPrefix picks the base-model prefix the checkpoint uses: HF saves the
// bare model without one and task models (…ForMaskedLM, …ForSequenceClassification)
// with the base model's name.
func (w *weightLoader) detectPrefix(prefixes ...string) {
	for _, p := range prefixes {
		if w.names[p+"embeddings.word_embeddings.weight"] {
			w.prefix = p
			return
		}
	}
}

func (w *weightLoader) has(name string) bool { return w.names[w.prefix+name] }

// tensor returns the F32 data of prefix+name, checking its shape. After the
// first error it returns nil and keeps that error.
func (w *weightLoader) tensor(name string, shape ...int) []float32 {
	if w.err != nil {
		return nil
	}
	full := w.prefix + name
	if !w.names[full] {
		w.err = fmt.Errorf("%s: tensor %q is missing", w.file, full)
		return nil
	}
	data, got, err := w.src.Float32(full)
	if err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.file, full, err)
		return nil
	}
	if !slices.Equal(got, shape) {
		w.err = fmt.Errorf("%s: tensor %q has shape %v, the config implies %v", w.file, full, got, shape)
		return nil
	}
	w.used[full] = true
	return data
}

func (w *weightLoader) linear(name string, out, in int) Linear {
	return Linear{Weight: w.tensor(name+".weight", out, in), Bias: w.tensor(name+".bias", out), In: in, Out: out}
}

func (w *weightLoader) layerNorm(name string, c int, eps float64) LayerNorm {
	return LayerNorm{Weight: w.tensor(name+".weight", c), Bias: w.tensor(name+".bias", c), Eps: float32(eps)}
}

// skippable reports tensors that real checkpoints carry but an encoder does
// not use: other heads (MLM, NSP, classification, QA) and non-persistent
// buffers saved by older transformers versions.
func skippable(name string) bool {
	// lm_predictions., mask_predictions.: DeBERTa's MLM and RTD heads
	for _, p := range []string{"lm_head.", "cls.", "classifier.", "qa_outputs.", "lm_predictions.", "mask_predictions."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.HasSuffix(name, ".position_ids")
}

// finish reports unexpected tensors: skippable ones get one log line, any
// other is an error naming it.
func (w *weightLoader) finish() error {
	if w.err != nil {
		return w.err
	}
	var skipped, unexpected []string
	for n := range w.names {
		if w.used[n] {
			continue
		}
		if skippable(n) {
			skipped = append(skipped, n)
		} else {
			unexpected = append(unexpected, n)
		}
	}
	sort.Strings(unexpected)
	if len(unexpected) > 0 {
		more := ""
		if len(unexpected) > 3 {
			more = fmt.Sprintf(" and %d more", len(unexpected)-3)
			unexpected = unexpected[:3]
		}
		return fmt.Errorf("%s: unexpected tensor %s%s (not part of a %s encoder)", w.file, strings.Join(quoteAll(unexpected), ", "), more, strings.TrimSuffix(w.prefix, "."))
	}
	if len(skipped) > 0 {
		sort.Strings(skipped)
		slog.Info("skipped tensors the encoder does not use", "file", w.file, "count", len(skipped), "first", skipped[0])
	}
	return nil
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

// MapSource is an in-memory TensorSource (tests, random checkpoints).
type MapSource map[string]MapTensor

// MapTensor is one tensor of a MapSource.
type MapTensor struct {
	Shape []int
	Data  []float32
}

// Names lists the tensor names, sorted.
func (m MapSource) Names() []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Float32 returns a tensor's data and shape.
func (m MapSource) Float32(name string) ([]float32, []int, error) {
	t, ok := m[name]
	if !ok {
		return nil, nil, fmt.Errorf("no tensor %q", name)
	}
	return t.Data, t.Shape, nil
}
