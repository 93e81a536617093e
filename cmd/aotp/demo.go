package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/demo"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/serve"
	"github.com/aotp/aotp/tokenizer"
	"github.com/aotp/aotp/train"
)

func newDemoCmd() *cobra.Command {
	var out string
	var epochs, threads int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run AoT P-Tuning end to end on a built-in backbone and two built-in tasks (no download)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			setThreads(threads)
			start := time.Now()
			if out == "" {
				d, err := os.MkdirTemp("", "aotp-demo-")
				if err != nil {
					return err
				}
				out = d
			}
			say := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
			backbone := filepath.Join(out, "backbone")
			say("aotp demo: AoT P-Tuning on a frozen encoder, end to end, in %s\n", out)
			say("1. writing a small BERT-shaped backbone (%d layers, width %d, random weights) in Hugging Face layout to %s",
				demo.Backbone.NumHiddenLayers, demo.Backbone.HiddenSize, backbone)
			if err := demo.WriteBackbone(backbone, 1); err != nil {
				return err
			}
			ts := demo.Tasks(7)
			var adapters []string
			for i, t := range ts {
				data := filepath.Join(out, "data", t.Name)
				if err := demo.WriteTask(data, t); err != nil {
					return err
				}
				run := filepath.Join(out, "runs", t.Name)
				say("\n%d. training an AoT-FC adapter for task %q (%d train / %d dev examples, labels %v); the backbone stays frozen",
					i+2, t.Name, len(t.Train), len(t.Dev), t.Labels)
				f := trainFlags{model: backbone, method: "aot", task: "custom", out: run, maxSeqLen: 32, dropout: 0, weights: "f32",
					trainFile: filepath.Join(data, "train.jsonl"), devFile: filepath.Join(data, "dev.jsonl"),
					aot: peft.AoTConfig{Reparam: "fc", Rank: 16, Activation: "relu"},
					opt: train.Options{Epochs: epochs, BatchSize: 16, LR: 1e-2, WarmupRatio: 0.06, Schedule: "linear", Seed: 42, Shuffle: true, LogEvery: 5}}
				if err := runTrain(cmd, &f); err != nil {
					return err
				}
				adapters = append(adapters, run)
			}
			say("\n%d. one mixed batch: both tasks in a single forward pass of the shared backbone (fused tables)", len(ts)+2)
			if err := mixedBatchDemo(backbone, ts, adapters); err != nil {
				return err
			}
			say("\ndone in %.1fs. Files: backbone %s, adapters %s, metrics and plots beside them.", time.Since(start).Seconds(), backbone, strings.Join(adapters, ", "))
			say(`
The same on a real checkpoint and real GLUE data:
  aotp pull roberta-base
  aotp train --model roberta-base --method aot --task sst2 --data ../shared/data/glue/SST-2 --out runs/sst2
  aotp eval  --model roberta-base --adapter runs/sst2 --task sst2 --data ../shared/data/glue/SST-2
  aotp predict --model roberta-base --adapter runs/sst2 --input in.jsonl --output out.jsonl`)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder for the demo's files (default: a new temporary folder)")
	cmd.Flags().IntVar(&epochs, "epochs", 4, "training epochs per task")
	cmd.Flags().IntVar(&threads, "threads", 0, "threads (default: all cores)")
	return cmd
}

// mixedBatchDemo runs sentences of every task in one batch, each sequence
// with its own task's fused AoT table and head, and checks the result
// against running each task alone.
func mixedBatchDemo(backbone string, ts []demo.Task, adapters []string) error {
	enc, err := model.Load(backbone)
	if err != nil {
		return err
	}
	defer enc.Close()
	tok, err := tokenizer.Load(backbone)
	if err != nil {
		return err
	}
	var ads []*peft.Adapter
	for _, dir := range adapters {
		ad, err := peft.Load(enc, dir)
		if err != nil {
			return err
		}
		if err := ad.Fuse("f32"); err != nil {
			return err
		}
		ads = append(ads, ad)
	}
	inputs := []struct {
		task int
		text string
	}{
		{0, "the acting was brilliant and fun"}, {1, "the chef made soup in the kitchen"},
		{0, "this film felt tedious and bland"}, {1, "a new telescope changed the theory"},
		{1, "the coach was about the league"}, {0, "the soundtrack seemed superb"},
	}
	var ids, types [][]int32
	mixed := &peft.Mixed{}
	for _, in := range inputs {
		e, err := tok.Encode(in.text)
		if err != nil {
			return err
		}
		ids, types = append(ids, e.IDs), append(types, e.TypeIDs)
		mixed.Seq = append(mixed.Seq, ads[in.task].AoT)
	}
	b := model.NewBatch(ids, types)
	out, err := enc.Forward(context.Background(), b, &model.Workspace{}, mixed)
	if err != nil {
		return err
	}
	C := enc.Config.HiddenSize
	fmt.Fprintf(os.Stderr, "   %-10s %-40s %-10s %s\n", "task", "text", "label", "score")
	for s, in := range inputs {
		ad := ads[in.task]
		// this sequence's head on its own slice of the shared output
		one := model.NewBatch([][]int32{ids[s]}, [][]int32{types[s]})
		lo, hi := b.Seq(s)
		o := model.Output{LastHiddenState: out.LastHiddenState[lo*C : hi*C]}
		if out.PoolerOutput != nil {
			o.PoolerOutput = out.PoolerOutput[s*C : (s+1)*C]
		}
		logits, err := ad.Head.Forward(o, one, nil)
		if err != nil {
			return err
		}
		logits = append([]float32(nil), logits...) // the head reuses its buffer
		// the same sequence alone, with only its task's adapter
		alone, err := enc.Forward(context.Background(), one, &model.Workspace{}, ad.Method)
		if err != nil {
			return err
		}
		ref, err := ad.Head.Forward(alone, one, nil)
		if err != nil {
			return err
		}
		for k := range logits {
			if math.Abs(float64(logits[k]-ref[k])) > 1e-5 {
				return fmt.Errorf("mixed batch differs from running task %q alone: %v vs %v", ts[in.task].Name, logits, ref)
			}
		}
		p := serve.NewPrediction(ad.Config, logits)
		fmt.Fprintf(os.Stderr, "   %-10s %-40q %-10s %.3f\n", ts[in.task].Name, in.text, *p.Label, p.Score)
	}
	fmt.Fprintf(os.Stderr, "   (each row equals running its task alone)\n")
	return nil
}
