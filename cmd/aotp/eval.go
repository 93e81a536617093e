package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/serve"
	"github.com/aotp/aotp/tasks"
	"github.com/aotp/aotp/tokenizer"
	"github.com/aotp/aotp/train"
)

func setThreads(n int) {
	if n > 0 {
		parallel.SetThreads(n)
	}
}

// loaded is a backbone with its tokenizer and one adapter.
type loaded struct {
	enc *model.Encoder
	tok tokenizer.Tokenizer
	ad  *peft.Adapter
}

// loadWithAdapter loads the backbone, packed in the precision --weights
// names, its tokenizer and the adapter.
func loadWithAdapter(modelName, adapterDir, weights string) (*loaded, error) {
	dir, enc, err := loadModel(modelName, false)
	if err != nil {
		return nil, err
	}
	if err := packWeights(enc, weights, false); err != nil {
		enc.Close()
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		enc.Close()
		return nil, err
	}
	ad, err := peft.Load(enc, adapterDir)
	if err != nil {
		enc.Close()
		return nil, err
	}
	ad.DropGrads()
	if ad.Head == nil {
		enc.Close()
		return nil, fmt.Errorf("%s: the adapter has no task head", adapterDir)
	}
	return &loaded{enc: enc, tok: tok, ad: ad}, nil
}

// adapterRunFlags are what eval and predict share: a backbone and an
// adapter to load, and how to run it over examples.
type adapterRunFlags struct {
	modelName, adapter, weights string
	maxSeqLen, batch, threads   int
}

func (o *adapterRunFlags) add(f *pflag.FlagSet) {
	f.StringVar(&o.modelName, "model", "", "backbone: model directory or hub name")
	f.StringVar(&o.adapter, "adapter", "", "adapter directory")
	f.IntVar(&o.maxSeqLen, "max-seq-len", 128, "truncate inputs to this many tokens")
	f.IntVar(&o.batch, "batch-size", 32, "examples per forward pass")
	f.IntVar(&o.threads, "threads", 0, "threads (default: all cores)")
	addWeightsFlag(f, &o.weights)
}

// load sets the threads and loads the backbone and the adapter (close
// l.enc when done).
func (o *adapterRunFlags) load() (*loaded, error) {
	if o.batch < 1 {
		return nil, fmt.Errorf("--batch-size %d must be at least 1", o.batch)
	}
	setThreads(o.threads)
	return loadWithAdapter(o.modelName, o.adapter, o.weights)
}

// predict tokenizes ex and returns the head's logits for each.
func (o *adapterRunFlags) predict(ctx context.Context, l *loaded, ex []tasks.Example) ([][]float32, error) {
	items, err := toItems(l.tok, ex, min(o.maxSeqLen, l.enc.Config.MaxSequenceLength()))
	if err != nil {
		return nil, err
	}
	return train.Predict(ctx, l.enc, l.ad.Method, l.ad.Head, items, o.batch)
}

func newEvalCmd() *cobra.Command {
	var o adapterRunFlags
	var taskName, data, split, devFile string
	cmd := &cobra.Command{
		Use:   "eval --model DIR --adapter DIR --task T --data PATH",
		Short: "Evaluate an adapter on a task's dev split and print its metrics as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := o.load()
			if err != nil {
				return err
			}
			defer l.enc.Close()
			var task *tasks.Task
			var ex []tasks.Example
			if taskName == "custom" {
				if _, devFile, err = customFiles(data, "", devFile, false); err != nil {
					return err
				}
				if devFile == "" {
					return fmt.Errorf("task custom needs --data FILE (or a folder holding dev.jsonl)")
				}
				if task, err = customTaskFromAdapter(l.ad.Config); err == nil {
					ex, err = task.Load(devFile, split)
				}
			} else if task, err = tasks.Lookup(taskName); err == nil {
				ex, err = task.Load(taskDir(task, data), split)
			}
			if err != nil {
				return err
			}
			logits, err := o.predict(cmd.Context(), l, ex)
			if err != nil {
				return err
			}
			m, err := task.Evaluate(ex, logitsToPredictions(task, logits))
			if err != nil {
				return err
			}
			m["score"] = tasks.Score(task, m)
			return json.NewEncoder(os.Stdout).Encode(m)
		},
	}
	f := cmd.Flags()
	o.add(f)
	f.StringVar(&taskName, "task", "", "task name")
	f.StringVar(&data, "data", "", "task data folder (custom: the dev JSONL file, or a folder holding dev.jsonl)")
	f.StringVar(&devFile, "dev", "", "custom task: dev JSONL (same as --data)")
	f.StringVar(&split, "split", "dev", "split to evaluate: dev or train")
	for _, n := range []string{"model", "adapter", "task"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}

// customTaskFromAdapter rebuilds a custom task's labels from id2label.
func customTaskFromAdapter(c *peft.AdapterConfig) (*tasks.Task, error) {
	labels := make([]string, len(c.ID2Label))
	for k, v := range c.ID2Label {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(labels) {
			return nil, fmt.Errorf("adapter id2label: bad key %q", k)
		}
		labels[i] = v
	}
	return tasks.CustomFromLabels(labels, c.ProblemType)
}

func newPredictCmd() *cobra.Command {
	var o adapterRunFlags
	var input, output string
	cmd := &cobra.Command{
		Use:   "predict --model DIR --adapter DIR --input IN.jsonl --output OUT.jsonl",
		Short: "Predict labels (or scores) for {\"text\", \"text_pair\"} lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := o.load()
			if err != nil {
				return err
			}
			defer l.enc.Close()
			inputs, err := readTextInputs(input)
			if err != nil {
				return err
			}
			ex := make([]tasks.Example, len(inputs))
			for i, in := range inputs {
				if in.Text == nil {
					return fmt.Errorf("%s: input %d: \"text\" is required", input, i+1)
				}
				ex[i] = tasks.Example{Text: *in.Text, ID: strconv.Itoa(i + 1)}
				if in.TextPair != nil {
					ex[i].TextPair = *in.TextPair
				}
			}
			logits, err := o.predict(cmd.Context(), l, ex)
			if err != nil {
				return err
			}
			out, err := createJSONL(output)
			if err != nil {
				return err
			}
			for _, lg := range logits {
				b, err := json.Marshal(serve.NewPrediction(l.ad.Config, lg))
				if err != nil {
					out.Abort()
					return err
				}
				if err := out.writeLine(b); err != nil {
					out.Abort()
					return err
				}
			}
			return out.Close()
		},
	}
	f := cmd.Flags()
	o.add(f)
	f.StringVar(&input, "input", "", "input JSONL")
	f.StringVar(&output, "output", "", "output JSONL")
	for _, n := range []string{"model", "adapter", "input", "output"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}
