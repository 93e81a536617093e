package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/train"
)

type benchTrainResult struct {
	Model      string  `json:"model"`
	Method     string  `json:"method"`
	Reparam    string  `json:"reparam"`
	Rank       int     `json:"rank"`
	Batch      int     `json:"batch"`
	Seq        int     `json:"seq"`
	Threads    int     `json:"threads"`
	GemmImpl   string  `json:"gemm_impl"`
	Iters      int     `json:"iters"`
	MsPerStep  float64 `json:"ms_per_step"`
	StepsPerS  float64 `json:"steps_per_s"`
	TokensPerS float64 `json:"tokens_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Trainable  int     `json:"trainable_params"`
	// approximate model FLOPs a second (trainFLOPs) and their share of the
	// FMA peak measured after the timed steps (gemm.PeakGFLOPS)
	GFLOPs     float64 `json:"gflop_per_s_approx,omitempty"`
	PeakGFLOPs float64 `json:"fma_peak_gflop_per_s,omitempty"`
	PctPeak    float64 `json:"pct_fma_peak_approx,omitempty"`
	// heap allocated per step (should be ~0: buffers are reused)
	AllocMiBPerStep float64 `json:"alloc_mib_per_step"`
	FirstTokens     bool    `json:"first_tokens"` // last layer at the first tokens only (the default)
	MicroBatch      int     `json:"micro_batch,omitempty"`
	Weights         string  `json:"weights"`
	// --lengths: an iteration (ms_per_step) is one pass, a step per batch
	Lengths *lengthsInfo `json:"lengths,omitempty"`
}

func newBenchTrainCmd() *cobra.Command {
	var shape, modelName string
	var batch, seq, iters, warmup, threads int
	var aot peft.AoTConfig
	var asJSON, fullLast bool
	var memprofile, cpuProfile, lengthsFile string
	var maxBatches, micro int
	weights := "f32"
	cmd := &cobra.Command{
		Use:   "train (--shape NAME | --model DIR) --batch B --seq T",
		Short: "Time one AoT training step (forward, backward, AdamW) on random weights of a real shape, or a checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || seq < 1 || iters < 1 || micro < 0 || warmup < 0 {
				return fmt.Errorf("--batch, --seq and --iters must be positive, --micro-batch and --warmup not negative")
			}
			setThreads(threads)
			var enc *model.Encoder
			var err error
			name := shape
			if modelName != "" && cmd.Flags().Changed("shape") {
				return fmt.Errorf("give --model or --shape, not both")
			}
			if modelName != "" {
				var dir string
				if dir, err = resolveModel(modelName); err == nil {
					enc, err = model.LoadWith(dir, loadOptions(true))
				}
				name = modelName
			} else {
				var cfg *model.Config
				if cfg, err = model.ShapeConfig(shape); err == nil {
					enc, err = randomEncoder(cfg)
				}
			}
			if err != nil {
				return err
			}
			defer enc.Close()
			cfg := enc.Config
			ad, err := peft.New(enc, &peft.AdapterConfig{Method: "aot", AoTConfig: aot, ProblemType: model.SingleLabel, NumLabels: 2}, 1)
			if err != nil {
				return err
			}
			if err := packFrozenBackbone(enc, weights, false); err != nil { // as aotp train does
				return err
			}
			// a non-zero last factor so the step does the full work
			for _, p := range ad.Method.Params() {
				for i := range p.Data {
					if p.Data[i] == 0 {
						p.Data[i] = 1e-3
					}
				}
			}
			r := rand.New(rand.NewPCG(3, 3))
			lengths := [][]int{make([]int, batch)}
			for i := range lengths[0] {
				lengths[0][i] = seq
			}
			if lengthsFile != "" {
				if lengths, err = readLengths(lengthsFile, batch, maxBatches, cfg.MaxSequenceLength()); err != nil {
					return err
				}
			}
			var lbs []*train.LabeledBatch
			for _, lens := range lengths {
				var items []train.Item
				for _, ids := range randomBatch(r, cfg, lens) {
					items = append(items, train.Item{IDs: [][]int32{ids}, Label: r.IntN(2)})
				}
				lbs = append(lbs, train.MakeBatch(items, false))
			}
			st := &train.Stepper{Enc: enc, Method: ad.Method, Head: ad.Head, FullLastLayer: fullLast, MicroBatch: micro}
			params := st.Params()
			opt := train.NewAdamW(params, 0)
			step := func() error { // one optimizer step per batch (one pass with --lengths)
				for _, lb := range lbs {
					for _, p := range params {
						p.ZeroGrad()
					}
					if _, _, err := st.LossAndGrad(cmd.Context(), lb, model.TrainOptions{Dropout: cfg.HiddenDropoutProb, Seed: 1}); err != nil {
						return err
					}
					opt.Update(params, 1e-4)
				}
				return nil
			}
			for i := 0; i < warmup; i++ {
				if err := step(); err != nil {
					return err
				}
			}
			if memprofile != "" {
				// two snapshots: compare with go tool pprof -base FILE.base FILE
				writeProf := func(path string) {
					runtime.GC()
					if f, err := os.Create(path); err == nil {
						pprof.Lookup("allocs").WriteTo(f, 0)
						f.Close()
					}
				}
				writeProf(memprofile + ".base")
				defer writeProf(memprofile)
			}
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			times, err := timeIters(iters, cpuProfile, step)
			if err != nil {
				return err
			}
			var ms1 runtime.MemStats
			runtime.ReadMemStats(&ms1)
			allocPerStep := float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(iters)
			med := median(times)
			n := 0
			for _, p := range ad.Method.Params() {
				n += p.Numel()
			}
			nseq, tokens, padded := lengthStats(lengths)
			res := benchTrainResult{Model: name, Method: "aot", Reparam: ad.Config.Reparam, Rank: ad.Config.Rank,
				Batch: batch, Seq: seq, Threads: parallel.Threads(), GemmImpl: gemm.Impl(), Iters: iters,
				MsPerStep: med * 1e3, StepsPerS: 1 / med, TokensPerS: float64(tokens) / med, PeakRSSMiB: peakRSSMiB(), Trainable: n,
				AllocMiBPerStep: allocPerStep / (1 << 20), FirstTokens: !fullLast, MicroBatch: micro, Weights: weights}
			if res.Reparam == "fc" {
				flops := sumOverSequences(lengths, func(T int) float64 { return trainFLOPs(cfg, T, res.Rank) })
				res.GFLOPs = flops / med / 1e9
				res.PeakGFLOPs, res.PctPeak = fmaPeakShare(res.GFLOPs, res.Threads)
			}
			if lengthsFile != "" {
				res.Lengths = &lengthsInfo{File: lengthsFile, Batches: len(lengths), Sequences: nseq, Tokens: tokens, PaddedTokens: padded}
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(res)
			}
			pieces := ""
			if micro > 0 && micro < batch {
				pieces = fmt.Sprintf(" (pieces of %d)", micro)
			}
			fmt.Printf("%s AoT-%s r=%d  batch %d%s  seq %d  threads %d (%s)\n", name, res.Reparam, res.Rank, batch, pieces, seq, res.Threads, res.GemmImpl)
			fmt.Printf("  %.1f ms/step  %.2f steps/s  %.0f tokens/s  peak RSS %.0f MiB\n", res.MsPerStep, res.StepsPerS, res.TokensPerS, res.PeakRSSMiB)
			printPeakShare(fmt.Sprintf("≈ %.1f GFLOP/s, ", res.GFLOPs), res.PctPeak, res.PeakGFLOPs, res.Threads, res.Weights)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&shape, "shape", "roberta-base", "random weights of a named real shape ("+shapeNames()+")")
	f.StringVar(&modelName, "model", "", "a checkpoint instead: model directory or hub name in the HF cache")
	f.IntVar(&batch, "batch", 16, "sequences per step")
	f.IntVar(&seq, "seq", 128, "tokens per sequence")
	f.IntVar(&iters, "iters", 5, "timed steps")
	f.IntVar(&warmup, "warmup", 1, "untimed steps first")
	f.IntVar(&threads, "threads", 0, "threads (default: GOMAXPROCS)")
	f.StringVar(&aot.Reparam, "reparam", "fc", "fc | kron")
	f.IntVar(&aot.Rank, "rank", 64, "rank")
	f.StringVar(&aot.Activation, "activation", "relu", "FC activation")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&memprofile, "memprofile", "", "write an allocation profile of the timed steps")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the timed steps to this file (go tool pprof)")
	f.StringVar(&lengthsFile, "lengths", "", "real lengths: a file of one token count per line; a step per batch of --batch consecutive sequences, an iteration is one pass (--seq ignored)")
	f.IntVar(&maxBatches, "max-batches", 0, "with --lengths: use at most this many batches (0: all)")
	f.Var((*weightsValue)(&weights), "weights", "the frozen backbone's weights in both passes: f32, f16, int8 or w8a8 (as aotp train --weights)")
	f.IntVar(&micro, "micro-batch", 0, "run each step in pieces of at most this many sequences (gradient accumulation; 0: whole batches)")
	f.BoolVar(&fullLast, "full-last-layer", false, "compute the last layer at every token (by default only at the first tokens the head reads: the same loss, less work)")
	return cmd
}

// peakRSSMiB reads VmHWM (peak resident set) from /proc (0 where unavailable).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), &kb)
			return kb / 1024
		}
	}
	return 0
}

// trainFLOPs approximates the multiply-adds (×2) of one AoT-FC training step
// for a sequence of T tokens, as tools/bench/summarize.py counts them: the
// forward, the activation-only backward through the frozen encoder (every
// Linear once more for dX, the attention products twice more), and the FC
// reparametrisation (two rank-r products, three passes) for every token.
// It counts the whole last layer, so with first tokens only (the default)
// it is a little above the work done.
func trainFLOPs(cfg *model.Config, T, rank int) float64 {
	C, L, N := float64(cfg.HiddenSize), float64(cfg.NumHiddenLayers), float64(T)
	attention := 4 * N * N * C // forwardFLOPs' attention term
	aot := 3 * 2 * 2 * N * C * float64(rank)
	return 2*forwardFLOPs(cfg, 1, T) + L*(attention+aot)
}
