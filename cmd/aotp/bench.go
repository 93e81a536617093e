package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure speed (forward pass, ...)",
	}
	cmd.AddCommand(newBenchForwardCmd(), newBenchTrainCmd(), newBenchOverheadCmd())
	return cmd
}

// forwardFLOPs counts the multiply-adds (×2) of one forward pass over B
// sequences of T tokens: the linear layers and the two attention matmuls.
func forwardFLOPs(cfg *model.Config, B, T int) float64 {
	C, I, L := float64(cfg.HiddenSize), float64(cfg.IntermediateSize), float64(cfg.NumHiddenLayers)
	N := float64(B * T)
	linear := 2 * N * (4*C*C + 2*C*I)
	attention := 2 * 2 * float64(B) * float64(T) * float64(T) * C
	return L * (linear + attention)
}

type benchResult struct {
	Model        string  `json:"model"`
	Batch        int     `json:"batch"`
	Seq          int     `json:"seq"`
	Threads      int     `json:"threads"`
	GemmImpl     string  `json:"gemm_impl"`
	Iters        int     `json:"iters"`
	MsPerBatch   float64 `json:"ms_per_batch"`
	MsMin        float64 `json:"ms_min"`
	TokensPerS   float64 `json:"tokens_per_s"`
	GFLOPs       float64 `json:"gflop_per_s"`
	GFLOPPerIter float64 `json:"gflop_per_batch"`
	// the FMA peak measured right after the timed iterations (a
	// register-only loop on the same threads, gemm.PeakGFLOPS), and
	// gflop_per_s as a share of it; absent without an assembly kernel
	PeakGFLOPs  float64 `json:"fma_peak_gflop_per_s,omitempty"`
	PctPeak     float64 `json:"pct_fma_peak,omitempty"`
	RSSMiB      float64 `json:"rss_mib,omitempty"`
	Method      string  `json:"method"`
	Tasks       int     `json:"tasks,omitempty"`
	AdapterMiB  float64 `json:"adapter_mib,omitempty"`
	Packed      bool    `json:"packed"`
	Weights     string  `json:"weights"`                // --weights: f32, f16, int8 or w8a8
	A8Kernel    string  `json:"a8_kernel,omitempty"`    // w8a8: gemm.A8Kernel (avx2, sdot or go)
	FirstTokens bool    `json:"first_tokens,omitempty"` // last layer at the first tokens only (as serving)
	// --lengths: an iteration is one pass over these batches (ms_per_batch is per pass)
	Lengths *lengthsInfo `json:"lengths,omitempty"`
}

type lengthsInfo struct {
	File         string `json:"file"`
	Batches      int    `json:"batches"`
	Sequences    int    `json:"sequences"`
	Tokens       int    `json:"tokens"`
	PaddedTokens int    `json:"padded_tokens"` // what batches padded to their longest sequence hold
}

func newBenchForwardCmd() *cobra.Command {
	var modelName, shape, method, reparam, weights string
	var batch, seq, iters, warmup, threads, tasks, rank int
	var asJSON, noPack, firstTokens bool
	var cpuProfile, lengthsFile string
	var maxBatches int
	cmd := &cobra.Command{
		Use:   "forward (--model DIR | --shape NAME) --batch B --seq T",
		Short: "Time the encoder's forward pass (median over timed iterations after warm-up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if threads > 0 {
				parallel.SetThreads(threads)
			}
			var enc *model.Encoder
			var err error
			name := shape
			switch {
			case modelName != "" && shape != "":
				return fmt.Errorf("give --model or --shape, not both")
			case shape != "":
				cfg, err2 := model.ShapeConfig(shape)
				if err2 != nil {
					return err2
				}
				enc, err = randomEncoder(cfg)
			case modelName != "":
				var dir string
				if dir, err = resolveModel(modelName); err == nil {
					enc, err = model.LoadWith(dir, loadOptions(true))
				}
				name = modelName
			default:
				return fmt.Errorf("--model or --shape is required")
			}
			if err != nil {
				return err
			}
			defer enc.Close()
			if noPack && weights != "f32" {
				return fmt.Errorf("--no-pack keeps float32 weights: it cannot be combined with --weights %s", weights)
			}
			if !noPack {
				if err := packWeights(enc, weights, true); err != nil {
					return err
				}
			}
			cfg := enc.Config
			if seq > cfg.MaxSequenceLength() {
				return fmt.Errorf("--seq %d exceeds the model's %d positions", seq, cfg.MaxSequenceLength())
			}
			if batch < 1 || seq < 1 || iters < 1 || warmup < 0 {
				return fmt.Errorf("--batch, --seq and --iters must be positive, --warmup not negative")
			}
			r := rand.New(rand.NewPCG(7, 7))
			lengths := [][]int{make([]int, batch)}
			for b := range lengths[0] {
				lengths[0][b] = seq
			}
			if lengthsFile != "" {
				if lengths, err = readLengths(lengthsFile, batch, maxBatches, cfg.MaxSequenceLength()); err != nil {
					return err
				}
			}
			var batches [][][]int32
			for _, lens := range lengths {
				batches = append(batches, randomBatch(r, cfg, lens))
			}
			ws := &model.Workspace{FirstTokensOnly: firstTokens}
			hook, tableBytes, err := benchHook(enc, method, reparam, rank, tasks, batch)
			if err != nil {
				return err
			}
			forward := func() error {
				for _, ids := range batches {
					// a new batch each time, as a server forms them (per-batch work is timed)
					b := model.NewBatch(ids, nil)
					var err error
					if hook == nil {
						_, err = enc.Forward(cmd.Context(), b, ws, nil)
					} else {
						_, err = enc.Forward(cmd.Context(), b, ws, hook)
					}
					if err != nil {
						return err
					}
				}
				return nil
			}
			for i := 0; i < warmup; i++ {
				if err := forward(); err != nil {
					return err
				}
			}
			times, err := timeIters(iters, cpuProfile, forward)
			if err != nil {
				return err
			}
			med := median(times)
			flops := sumOverSequences(lengths, func(T int) float64 { return forwardFLOPs(cfg, 1, T) })
			nseq, tokens, padded := lengthStats(lengths)
			res := benchResult{
				Model: name, Batch: batch, Seq: seq, Threads: parallel.Threads(), GemmImpl: gemm.Impl(),
				Iters: iters, MsPerBatch: med * 1e3, MsMin: slices.Min(times) * 1e3,
				TokensPerS: float64(tokens) / med, GFLOPs: flops / med / 1e9, GFLOPPerIter: flops / 1e9,
				RSSMiB: rssMiB(), Method: methodName(method), Tasks: tasks, AdapterMiB: float64(tableBytes) / (1 << 20),
				Packed: !noPack, Weights: weights, FirstTokens: firstTokens,
			}
			res.PeakGFLOPs, res.PctPeak = fmaPeakShare(res.GFLOPs, res.Threads)
			if weights == "w8a8" {
				res.A8Kernel = gemm.A8Kernel()
			}
			if lengthsFile != "" {
				res.Lengths = &lengthsInfo{File: lengthsFile, Batches: len(lengths), Sequences: nseq, Tokens: tokens, PaddedTokens: padded}
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(res)
			}
			fmt.Printf("%s  batch %d  seq %d  threads %d (%s, %s weights)\n", name, batch, seq, res.Threads, res.GemmImpl, weights)
			fmt.Printf("  %.2f ms/batch (median of %d, min %.2f)  %.0f tokens/s  %.1f GFLOP/s\n", res.MsPerBatch, iters, res.MsMin, res.TokensPerS, res.GFLOPs)
			printPeakShare("", res.PctPeak, res.PeakGFLOPs, res.Threads, res.Weights)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "model directory or hub name in the HF cache")
	f.StringVar(&shape, "shape", "", "random weights of a named real shape ("+shapeNames()+")")
	f.StringVar(&method, "method", "none", "none (backbone alone), aot-fused (f32 tables), aot-fused-f16, aot-compact (rows from the factors per batch)")
	f.IntVar(&tasks, "tasks", 1, "AoT: number of tasks; sequence i uses task i mod tasks (multi-task serving form)")
	f.StringVar(&reparam, "reparam", "fc", "AoT reparametrisation of the random adapters: fc | kron")
	f.IntVar(&rank, "rank", 64, "AoT rank of the random adapters")
	f.IntVar(&batch, "batch", 8, "sequences per batch")
	f.IntVar(&seq, "seq", 128, "tokens per sequence")
	f.IntVar(&iters, "iters", 10, "timed iterations")
	f.IntVar(&warmup, "warmup", 2, "untimed iterations first")
	f.IntVar(&threads, "threads", 0, "threads (default: GOMAXPROCS)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	addWeightsFlag(f, &weights)
	f.BoolVar(&noPack, "no-pack", false, "do not pre-pack the weights (pack B on every GEMM call, as training does)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the timed iterations to this file (go tool pprof)")
	f.StringVar(&lengthsFile, "lengths", "", "real lengths: a file of one token count per line; batches of --batch consecutive sequences, an iteration is one pass over them (--seq ignored)")
	f.IntVar(&maxBatches, "max-batches", 0, "with --lengths: use at most this many batches (0: all)")
	f.BoolVar(&firstTokens, "first-tokens", false, "run the last layer at each sequence's first token only, as predict, eval and serve do (a task head reads nothing else)")
	return cmd
}

func methodName(m string) string {
	if m == "" {
		return "none"
	}
	return m
}

// benchHook builds `tasks` random AoT adapters in the requested serving form
// and a mixed-task hook that gives sequence i task i mod tasks. It returns
// the adapters' memory in bytes.
func benchHook(enc *model.Encoder, method, reparam string, rank, tasks, batch int) (model.LayerHook, int64, error) {
	if method == "" || method == "none" {
		return nil, 0, nil
	}
	if tasks < 1 {
		return nil, 0, fmt.Errorf("--tasks must be positive")
	}
	if tasks > batch {
		// the rest would be built (roberta-base's fused f32 tables: 1.7 GiB a task) and never used
		return nil, 0, fmt.Errorf("--tasks %d exceeds --batch %d: sequence i of a batch uses task i mod tasks", tasks, batch)
	}
	dtype := ""
	switch method {
	case "aot-fused":
		dtype = "f32"
	case "aot-fused-f16":
		dtype = "f16"
	case "aot-compact":
	default:
		return nil, 0, fmt.Errorf("--method %q: use none, aot-fused, aot-fused-f16 or aot-compact", method)
	}
	var bytes int64
	aots := make([]*peft.AoT, tasks)
	for t := range aots {
		a, err := peft.NewAoT(enc, peft.AoTConfig{Reparam: reparam, Rank: rank}, uint64(t+1))
		if err != nil {
			return nil, 0, err
		}
		for _, p := range a.Params() {
			for i := range p.Data {
				if p.Data[i] == 0 {
					p.Data[i] = 1e-3 * float32(i%7-3)
				}
			}
			bytes += int64(4 * p.Numel())
		}
		if dtype != "" {
			if err := a.Fuse(dtype); err != nil {
				return nil, 0, err
			}
		}
		aots[t] = a
	}
	if dtype != "" {
		bytes = 0
		for _, a := range aots {
			bytes += a.TableBytes()
		}
	}
	mixed := &peft.Mixed{}
	for i := 0; i < batch; i++ {
		mixed.Seq = append(mixed.Seq, aots[i%tasks])
	}
	return mixed, bytes, nil
}

// randomEncoder builds random weights of cfg's shape the way a real
// checkpoint loads (mapped from a scratch file, model.NewRandomMapped), so
// resident memory reads as it would with real weights; on the heap when no
// file can be used (then the packed copy comes on top of it).
func randomEncoder(cfg *model.Config) (*model.Encoder, error) {
	enc, err := model.NewRandomMapped(cfg, 1, "")
	if errors.Is(err, model.ErrNoMappedRandom) {
		slog.Warn("random weights kept on the heap: resident memory counts them besides the packed copy", "reason", err)
		return model.NewRandom(cfg, 1)
	}
	return enc, err
}

func shapeNames() string {
	names := make([]string, 0, len(model.Shapes))
	for n := range model.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// rssMiB reads the resident set size from /proc (0 where unavailable).
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(data), &size, &rss); err != nil {
		return 0
	}
	return float64(rss*int64(os.Getpagesize())) / (1 << 20)
}

// startCPUProfile starts a CPU profile into path (none when empty) and
// returns the function that stops it: benches profile their timed
// iterations only, after load and warm-up.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// timeIters runs f iters times, under a CPU profile into cpuProfile when it
// is not empty, and returns each run's seconds.
func timeIters(iters int, cpuProfile string, f func() error) ([]float64, error) {
	stop, err := startCPUProfile(cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	times := make([]float64, iters)
	for i := range times {
		t0 := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		times[i] = time.Since(t0).Seconds()
	}
	return times, nil
}

// median is the middle of xs (the mean of the two middle values for an
// even count), xs unchanged; 0 for none.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sumOverSequences adds f(T) over every sequence length of the batches.
func sumOverSequences(lengths [][]int, f func(T int) float64) float64 {
	var s float64
	for _, lens := range lengths {
		for _, T := range lens {
			s += f(T)
		}
	}
	return s
}

// fmaPeakShare measures this CPU's FMA peak on threads threads right after
// the timed iterations (gemm.PeakGFLOPS) and returns it with gflops as a
// percentage of it; zeros where there is no assembly kernel.
func fmaPeakShare(gflops float64, threads int) (peak, pct float64) {
	peak = gemm.PeakGFLOPS(threads, 150*time.Millisecond)
	if peak <= 0 {
		return 0, 0
	}
	return peak, 100 * gflops / peak
}

// printPeakShare prints fmaPeakShare's result (nothing when there is none),
// after prefix; with W8A8 weights it says that the float32 peak is not
// theirs (byte products run up to twice as many a cycle on AVX2).
func printPeakShare(prefix string, pct, peak float64, threads int, weights string) {
	if peak <= 0 {
		return
	}
	note := ""
	if weights == "w8a8" {
		note = "; the w8a8 products are bytes, up to 2× this float32 peak on AVX2"
	}
	fmt.Printf("  %s%.0f%% of the FMA peak measured here (%.0f GFLOP/s on %d threads%s)\n", prefix, pct, peak, threads, note)
}
