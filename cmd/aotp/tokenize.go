package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/tokenizer"
)

func newTokenizeCmd() *cobra.Command {
	var modelName, input, output string
	cmd := &cobra.Command{
		Use:   "tokenize --model DIR --input IN.jsonl --output OUT.jsonl",
		Short: "Turn {\"text\", \"text_pair\"} lines into input ids, special tokens included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveModel(modelName)
			if err != nil {
				return err
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				return err
			}
			inputs, err := readTextInputs(input)
			if err != nil {
				return err
			}
			out, err := createJSONL(output)
			if err != nil {
				return err
			}
			var line []byte
			for i, in := range inputs {
				if in.Text == nil {
					out.Abort()
					return fmt.Errorf("%s: input %d: \"text\" is required", input, i+1)
				}
				enc, err := encodeText(tok, in)
				if err != nil {
					out.Abort()
					return fmt.Errorf("%s: input %d: %w", input, i+1, err)
				}
				line = appendInts(append(line[:0], `{"input_ids":`...), enc.IDs)
				line = append(line, '}')
				if err := out.writeLine(line); err != nil {
					out.Abort()
					return err
				}
			}
			return out.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "model directory or hub name in the HF cache (its tokenizer files are used)")
	f.StringVar(&input, "input", "", "input JSONL: {\"text\": ..., \"text_pair\": ...} per line (- for stdin)")
	f.StringVar(&output, "output", "", "output JSONL: {\"input_ids\": [...]} per line")
	cmd.MarkFlagRequired("input")
	cmd.MarkFlagRequired("output")
	return cmd
}

// encodeText tokenizes one text input with the model's template.
func encodeText(tok tokenizer.Tokenizer, in textInput) (tokenizer.Encoding, error) {
	if in.TextPair != nil {
		return tok.EncodePair(*in.Text, *in.TextPair)
	}
	return tok.Encode(*in.Text)
}
