package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/aotp/aotp/hub"
	"github.com/aotp/aotp/internal/fsutil"
	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/safetensors"
	"github.com/aotp/aotp/torchckpt"
)

// resolveModel turns --model (a directory or a hub name in the HF cache)
// into a directory.
func resolveModel(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("--model is required")
	}
	return hub.Resolve(name, hub.OptionsFromEnv())
}

// loadModel resolves --model and loads the encoder (close it when done).
// longRunning (serve, train): a checkpoint stored in F16/BF16 is converted
// into a mapped float32 scratch file, not onto the heap (loadOptions).
func loadModel(name string, longRunning bool) (string, *model.Encoder, error) {
	dir, err := resolveModel(name)
	if err != nil {
		return "", nil, err
	}
	if !safetensors.HasModel(dir) {
		if files, _ := torchckpt.Files(dir); len(files) > 0 {
			return "", nil, fmt.Errorf("%s has a PyTorch checkpoint (%s) but no %s: convert it once with `aotp convert --model %s`",
				dir, filepath.Base(files[0]), safetensors.SingleFileName, dir)
		}
	}
	enc, err := model.LoadWith(dir, loadOptions(longRunning))
	return dir, enc, err
}

// loadOptions: a long-running process converts an F16/BF16 checkpoint into
// a mapped float32 file (model.LoadOptions.Float32File: its memory is then
// that of a float32 checkpoint's; loading roberta-base F16 took 0.4–1.5 s
// this way against 0.5–1.3 s on the heap); a one-shot command converts on
// the heap and ends first.
func loadOptions(longRunning bool) model.LoadOptions {
	return model.LoadOptions{Float32File: longRunning}
}

// addWeightsFlag adds --weights (the inference commands' choice of packed
// weight precision) to f; a value other than f32, f16 or int8 is refused
// when the flags are parsed, before anything loads.
func addWeightsFlag(f *pflag.FlagSet, weights *string) {
	*weights = "f32"
	f.Var((*weightsValue)(weights), "weights", "backbone weights for inference: f32 (PyTorch's results), f16 (half the memory and traffic: small batches up to ~1.3× faster; outputs those of the weights rounded to F16, no longer PyTorch's to the last digit), int8 (a quarter of the memory: each output channel on 255 levels; outputs move more than with f16) or w8a8 (int8's weights, and each Linear's input rows quantized to 128 levels as it runs, channels smoothed from a calibration pass at load: ~1.7× the speed of f32 at large batches on AVX2; outputs move most: measure on the task before serving with it)")
}

// weightsValue is --weights, of inference and of training (both passes).
type weightsValue string

func (w *weightsValue) String() string { return string(*w) }
func (w *weightsValue) Type() string   { return "f32|f16|int8|w8a8" }
func (w *weightsValue) Set(s string) error {
	if s != "f32" && s != "f16" && s != "int8" && s != "w8a8" {
		return fmt.Errorf("want f32, f16, int8 or w8a8")
	}
	*w = weightsValue(s)
	return nil
}

// packWeights packs the backbone's weights for inference as --weights asks.
// A long-running process (serve, bench) also spills what still lives on
// the heap (DeBERTa v1's split in_proj; an F16/BF16 checkpoint's weights
// where loadOptions found no scratch directory) to a mapped file.
func packWeights(enc *model.Encoder, weights string, spill bool) error {
	switch weights {
	case "f32":
		enc.PackWeights()
	case "f16":
		enc.PackWeightsHalf()
	case "int8":
		enc.PackWeightsInt8()
	case "w8a8":
		if gemm.A8Kernel() == "go" {
			slog.Warn("--weights w8a8: this CPU has no int8 product kernel (AVX2, or arm64's dot product): its products run in portable Go, slower than --weights f32", "gemm", gemm.Impl())
		}
		enc.PackWeightsW8A8()
	default:
		return fmt.Errorf("--weights %q: want f32, f16, int8 or w8a8", weights)
	}
	if spill {
		spillWeights(enc)
	}
	return nil
}

// packFrozenBackbone packs a frozen backbone for adapter training (train,
// bench train): the forward weights as packWeights does, then the
// backward's operand on the same values — F16 or the int8 grid (W8A8's
// too: its backward runs straight through the activations' rounding) — so
// the gradients are those of the backbone the forward ran; float32 weights
// get their backward copy where the checkpoint's pages can be given back.
func packFrozenBackbone(enc *model.Encoder, weights string, spill bool) error {
	if err := packWeights(enc, weights, spill); err != nil {
		return err
	}
	switch weights {
	case "f16":
		enc.PackBackwardWeightsHalf()
	case "int8", "w8a8":
		enc.PackBackwardWeightsInt8()
	default:
		enc.PackBackwardWeights()
	}
	return nil
}

// spillWeights is Encoder.SpillWeights with a log line; where it cannot,
// the weights stay on the heap (more memory, same results).
func spillWeights(enc *model.Encoder) {
	n, err := enc.SpillWeights("")
	switch {
	case err != nil:
		slog.Info("the backbone's converted float32 weights stay in memory", "reason", err)
	case n > 0:
		slog.Debug("moved the backbone's converted float32 weights to a mapped scratch file", "mib", n>>20)
	}
}

// textInput is one line of a {"text", "text_pair"} / {"input_ids"} JSONL file.
type textInput struct {
	Text         *string `json:"text"`
	TextPair     *string `json:"text_pair"`
	InputIDs     []int32 `json:"input_ids"`
	TokenTypeIDs []int32 `json:"token_type_ids"`
}

// readJSONL calls fn for each non-blank line of path ("-" is stdin); errors
// name the file and line.
func readJSONL(path string, fn func(line int, raw []byte) error) error {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if !utf8.Valid(raw) {
			return fmt.Errorf("%s:%d: invalid UTF-8", path, line)
		}
		if err := fn(line, raw); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return nil
}

// readTextInputs parses every line of a text/input_ids JSONL file.
func readTextInputs(path string) ([]textInput, error) {
	var out []textInput
	err := readJSONL(path, func(line int, raw []byte) error {
		var in textInput
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&in); err != nil {
			return fmt.Errorf("invalid JSON: %v", err)
		}
		if in.Text == nil && in.InputIDs == nil {
			return fmt.Errorf("line has neither \"text\" nor \"input_ids\"")
		}
		if in.Text == nil && in.TextPair != nil {
			return fmt.Errorf("\"text_pair\" without \"text\"")
		}
		if in.TokenTypeIDs != nil && len(in.TokenTypeIDs) != len(in.InputIDs) {
			return fmt.Errorf("\"token_type_ids\" has %d entries for %d input ids", len(in.TokenTypeIDs), len(in.InputIDs))
		}
		out = append(out, in)
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no input lines", path)
	}
	return out, err
}

// jsonlWriter writes JSONL output atomically: the file appears whole on
// Close, or not at all.
type jsonlWriter struct {
	f *fsutil.AtomicFile
	w *bufio.Writer
}

func createJSONL(path string) (*jsonlWriter, error) {
	f, err := fsutil.Create(path)
	if err != nil {
		return nil, err
	}
	return &jsonlWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (j *jsonlWriter) writeLine(b []byte) error {
	if _, err := j.w.Write(b); err != nil {
		return err
	}
	return j.w.WriteByte('\n')
}

// Close commits the file; Abort discards it.
func (j *jsonlWriter) Close() error {
	if err := j.w.Flush(); err != nil {
		j.f.Abort()
		return err
	}
	return j.f.Commit()
}

func (j *jsonlWriter) Abort() { j.f.Abort() }

// appendInts appends a JSON array of ints.
func appendInts(b []byte, xs []int32) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

// appendFloats appends a JSON array of float32 values in their shortest
// round-tripping form; NaN and Inf, which JSON cannot hold, are an error.
func appendFloats(b []byte, xs []float32) ([]byte, error) {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		if x != x || x > 3.4028235e38 || x < -3.4028235e38 {
			return b, fmt.Errorf("non-finite value %v in output", x)
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']'), nil
}
