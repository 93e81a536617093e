// Command aotp trains, evaluates, fuses and serves AoT P-Tuning adapters on
// frozen Hugging Face encoders. Each subcommand lives in its own file and is
// a thin layer over the library packages.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/kernels/gemm"
	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/serve"
)

func main() {
	if os.Getenv("AOTP_MEMPROFILE_RATE") != "" {
		fmt.Sscan(os.Getenv("AOTP_MEMPROFILE_RATE"), &runtime.MemProfileRate)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "aotp:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var verbose, quiet bool
	root := &cobra.Command{
		Use:           "aotp",
		Short:         "Ahead-of-Time P-Tuning for frozen transformer encoders",
		Long:          "aotp fine-tunes BERT, RoBERTa and DeBERTa encoders with AoT P-Tuning (per-token bias tables on a frozen backbone), or with the baselines (LoRA, BitFit, Adapters, P-Tuning v2, full fine-tuning), and serves many tasks from one backbone.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			if quiet {
				level = slog.LevelWarn
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	root.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "only warnings and errors")
	root.AddCommand(newDemoCmd(), newTokenizeCmd(), newEncodeCmd(), newTrainCmd(), newEvalCmd(), newPredictCmd(), newFuseCmd(), newBenchCmd(), newPullCmd(), newConvertCmd(), newServeCmd(), newSweepCmd())
	return root
}

// versionString is what --version prints: the release, the commit the
// binary was built from (when built in a checkout), Go, and the GEMM kernel
// this CPU selected: what a bug report needs.
func versionString() string {
	v := serve.Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (" + rev + modified + ")"
		}
	}
	return fmt.Sprintf("%s, %s %s/%s, gemm kernel %s (%d threads)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, gemm.Impl(), parallel.Threads())
}
