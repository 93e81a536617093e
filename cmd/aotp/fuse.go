package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/peft"
)

func newFuseCmd() *cobra.Command {
	var modelName, adapter, out, dtype string
	cmd := &cobra.Command{
		Use:   "fuse --model DIR --adapter DIR --out DIR [--dtype f32|f16|bf16|int8]",
		Short: "Compute every layer's AoT table once and write a fused adapter",
		Long: `fuse turns an AoT adapter's factors (FC or Kronecker) into full per-layer
tables [vocab, hidden], stored as f32, f16, bf16 or int8 with a per-row scale.
Inference with a fused adapter is a gather and an add per layer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, enc, err := loadModel(modelName, false)
			if err != nil {
				return err
			}
			defer enc.Close()
			ad, err := peft.Load(enc, adapter)
			if err != nil {
				return err
			}
			defer ad.Close()
			if err := ad.Fuse(dtype); err != nil {
				return err
			}
			if err := ad.SaveFused(out); err != nil {
				return err
			}
			c := enc.Config
			slog.Info("fused", "layers", c.NumHiddenLayers, "vocab", c.VocabSize, "hidden", c.HiddenSize, "dtype", dtype, "out", out)
			fmt.Println(out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "backbone: model directory or hub name")
	f.StringVar(&adapter, "adapter", "", "AoT adapter directory")
	f.StringVar(&out, "out", "", "output adapter directory")
	f.StringVar(&dtype, "dtype", "f32", "table dtype: f32, f16, bf16, int8")
	for _, n := range []string{"model", "adapter", "out"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}
