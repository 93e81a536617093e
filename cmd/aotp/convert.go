package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/safetensors"
	"github.com/aotp/aotp/torchckpt"
)

func newConvertCmd() *cobra.Command {
	var modelName, out string
	cmd := &cobra.Command{
		Use:   "convert --model DIR [--out FILE]",
		Short: "Convert a PyTorch checkpoint (pytorch_model.bin) into model.safetensors",
		Long: `convert reads the PyTorch checkpoint of a model directory (pytorch_model.bin,
or pytorch_model.bin.index.json and its shards, as torch.save writes them in
either format) and writes its tensors as model.safetensors beside it (or to
--out), float tensors as float32. Nothing in the checkpoint is executed: only
the pickle opcodes and classes of a state dict are understood. aotp pull
converts by itself when a repository has no safetensors weights.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveModel(modelName)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(dir, safetensors.SingleFileName)
				if _, err := os.Stat(out); err == nil {
					return fmt.Errorf("%s already exists (give --out to write elsewhere)", out)
				}
			}
			n, err := convertTorch(dir, out)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%s: no %s or %s", dir, torchckpt.SingleFileName, torchckpt.IndexFileName)
			}
			fmt.Println(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelName, "model", "", "model directory or hub name in the HF cache")
	cmd.Flags().StringVar(&out, "out", "", "output file (default DIR/model.safetensors)")
	cmd.MarkFlagRequired("model")
	return cmd
}

// convertTorch writes dir's PyTorch checkpoint to out; 0 tensors when dir has
// none.
func convertTorch(dir, out string) (int, error) {
	files, err := torchckpt.Files(dir)
	if err != nil || len(files) == 0 {
		return 0, err
	}
	slog.Info("converting the PyTorch checkpoint to safetensors", "files", len(files), "out", out)
	return torchckpt.Convert(files, out)
}
