package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/tokenizer"
)

func newEncodeCmd() *cobra.Command {
	var modelName, adapterDir, input, output, weights string
	var batchTokens int
	var truncate bool
	cmd := &cobra.Command{
		Use:   "encode --model DIR [--adapter DIR] --input IN.jsonl --output OUT.jsonl",
		Short: "Run the encoder and write each input's last hidden state",
		Long: `encode runs the encoder over text ({"text", "text_pair"}) or token id
({"input_ids", "token_type_ids"}) lines and writes {"input_ids", "last_hidden_state"}
per line. Inputs are batched without padding, so each line's result equals
running it alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, enc, err := loadModel(modelName, false)
			if err != nil {
				return err
			}
			defer enc.Close()
			var ad *peft.Adapter
			var hooks model.Hooks
			runEnc := enc
			virtual := 0
			if adapterDir != "" {
				if ad, err = peft.Load(enc, adapterDir); err != nil {
					return err
				}
				defer ad.Close()
				hooks = ad.Method
				if o, ok := ad.Method.(peft.OwnEncoder); ok {
					runEnc = o.Encoder()
				}
				if vt, ok := ad.Method.(peft.VirtualTokenizer); ok {
					virtual = len(vt.VirtualTokens())
				}
			}
			if err := packWeights(runEnc, weights, false); err != nil {
				return err
			}
			inputs, err := readTextInputs(input)
			if err != nil {
				return err
			}
			seqs, err := inputsToIDs(dir, inputs, enc.Config.MaxSequenceLength()-virtual, truncate, input)
			if err != nil {
				return err
			}
			out, err := createJSONL(output)
			if err != nil {
				return err
			}
			ws := &model.Workspace{}
			C := enc.Config.HiddenSize
			var line []byte
			for lo := 0; lo < len(seqs); {
				hi, n := lo, 0
				for hi < len(seqs) && (hi == lo || n+len(seqs[hi].ids) <= batchTokens) {
					n += len(seqs[hi].ids)
					hi++
				}
				ids, types := make([][]int32, 0, hi-lo), make([][]int32, 0, hi-lo)
				for _, s := range seqs[lo:hi] {
					ids, types = append(ids, s.ids), append(types, s.types)
				}
				orig := model.NewBatch(ids, types)
				b := orig
				if ad != nil {
					ids, types = peft.Expand(ad.Method, ids, types) // prompt tuning's soft tokens
					b = model.NewBatch(ids, types)
				}
				res, err := runEnc.Forward(cmd.Context(), b, ws, hooks)
				if err != nil {
					out.Abort()
					return fmt.Errorf("%s: inputs %d-%d: %w", input, lo+1, hi, err)
				}
				var logits []float32
				if ad != nil && ad.Head != nil {
					if logits, err = ad.Head.Forward(res, b, nil); err != nil {
						out.Abort()
						return err
					}
				}
				for i := 0; i < b.B(); i++ {
					t0, t1 := b.Seq(i)
					o0, o1 := orig.Seq(i)
					t0 += virtual // outputs drop the soft tokens' positions
					line = appendInts(append(line[:0], `{"input_ids":`...), orig.IDs[o0:o1])
					line = append(line, `,"last_hidden_state":[`...)
					for t := t0; t < t1; t++ {
						if t > t0 {
							line = append(line, ',')
						}
						if line, err = appendFloats(line, res.LastHiddenState[t*C:(t+1)*C]); err != nil {
							out.Abort()
							return fmt.Errorf("%s: input %d: %w", input, lo+i+1, err)
						}
					}
					line = append(line, ']')
					if logits != nil {
						K := len(logits) / b.B()
						line = append(line, `,"logits":`...)
						if line, err = appendFloats(line, logits[i*K:(i+1)*K]); err != nil {
							out.Abort()
							return fmt.Errorf("%s: input %d: %w", input, lo+i+1, err)
						}
					}
					line = append(line, '}')
					if err := out.writeLine(line); err != nil {
						out.Abort()
						return err
					}
				}
				lo = hi
			}
			return out.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelName, "model", "", "model directory or hub name in the HF cache")
	f.StringVar(&adapterDir, "adapter", "", "adapter directory: apply its method, and add \"logits\" when it has a head")
	addWeightsFlag(f, &weights)
	f.StringVar(&input, "input", "", "input JSONL (- for stdin)")
	f.StringVar(&output, "output", "", "output JSONL")
	f.IntVar(&batchTokens, "batch-tokens", 8192, "tokens per forward batch")
	f.BoolVar(&truncate, "truncate", false, "truncate inputs longer than the model's positions instead of failing")
	cmd.MarkFlagRequired("input")
	cmd.MarkFlagRequired("output")
	return cmd
}

type tokenSeq struct{ ids, types []int32 }

// inputsToIDs tokenizes text lines (loading the tokenizer only if needed)
// and checks lengths against the model's positions.
func inputsToIDs(dir string, inputs []textInput, maxLen int, truncate bool, file string) ([]tokenSeq, error) {
	var tok tokenizer.Tokenizer
	seqs := make([]tokenSeq, len(inputs))
	for i, in := range inputs {
		s := tokenSeq{ids: in.InputIDs, types: in.TokenTypeIDs}
		if in.Text != nil {
			if tok == nil {
				var err error
				if tok, err = tokenizer.Load(dir); err != nil {
					return nil, err
				}
			}
			enc, err := encodeText(tok, in)
			if err != nil {
				return nil, fmt.Errorf("%s: input %d: %w", file, i+1, err)
			}
			s = tokenSeq{ids: enc.IDs, types: enc.TypeIDs}
		}
		if len(s.ids) == 0 {
			return nil, fmt.Errorf("%s: input %d: no tokens", file, i+1)
		}
		if len(s.ids) > maxLen {
			if !truncate {
				return nil, fmt.Errorf("%s: input %d: %d tokens, more than the model's %d positions (use --truncate)", file, i+1, len(s.ids), maxLen)
			}
			s.ids = truncateKeepLast(s.ids, maxLen)
			if s.types != nil {
				s.types = truncateKeepLast(s.types, maxLen)
			}
		}
		seqs[i] = s
	}
	return seqs, nil
}

// truncateKeepLast keeps the first n-1 entries and the last one, so the
// closing special token (</s>, [SEP]) survives truncation.
func truncateKeepLast(xs []int32, n int) []int32 {
	out := make([]int32, n)
	copy(out, xs[:n-1])
	out[n-1] = xs[len(xs)-1]
	return out
}
