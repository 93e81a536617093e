package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/hub"
	"github.com/aotp/aotp/safetensors"
)

func newPullCmd() *cobra.Command {
	var revision string
	cmd := &cobra.Command{
		Use:   "pull NAME [--revision R]",
		Short: "Download a model from the Hugging Face Hub into the standard HF cache",
		Long: `pull downloads config, safetensors weights and tokenizer files of a Hub model
into the Hugging Face cache layout (HF_HOME / HF_HUB_CACHE), honouring
HF_ENDPOINT and HF_TOKEN. Every --model flag then accepts NAME. A repository
without safetensors weights has its PyTorch checkpoint (pytorch_model.bin)
downloaded and converted to model.safetensors in the snapshot (aotp convert).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := hub.OptionsFromEnv()
			if revision != "" {
				opt.Revision = revision
			}
			last := map[string]int64{}
			opt.Progress = func(file string, done, total int64) {
				// one log line per file per 10%
				if total > 0 && (done == total || done*10/total != last[file]*10/total) {
					slog.Info("downloading", "file", file, "done_mib", done>>20, "total_mib", total>>20)
				}
				last[file] = done
			}
			dir, err := hub.Pull(cmd.Context(), args[0], opt)
			if err != nil {
				return err
			}
			if !safetensors.HasModel(dir) {
				// the repository ships a PyTorch checkpoint only
				if _, err := convertTorch(dir, filepath.Join(dir, safetensors.SingleFileName)); err != nil {
					return err
				}
			}
			fmt.Println(dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "branch, tag or commit (default main)")
	return cmd
}
