package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/hub"
)

func newPullCmd() *cobra.Command {
	var revision string
	cmd := &cobra.Command{
		Use:   "pull NAME [--revision R]",
		Short: "Download a model from the Hugging Face Hub into the standard HF cache",
		Long: `pull downloads config, safetensors weights and tokenizer files of a Hub model
into the Hugging Face cache layout (HF_HOME / HF_HUB_CACHE), honouring
HF_ENDPOINT and HF_TOKEN. Every --model flag then accepts NAME.`,
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
			fmt.Println(dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "branch, tag or commit (default main)")
	return cmd
}
