package model

// RoBERTa is BERT's architecture with three differences that matter here:
//   - position ids start after the padding index and skip pad tokens
//     (transformers' create_position_ids_from_input_ids), so the usable
//     length is max_position_embeddings - pad_token_id - 1 (514 -> 512);
//   - one token type (type_vocab_size 1) and LayerNorm eps 1e-5 in the
//     released checkpoints (both come from config.json);
//   - weights saved under the `roberta.` prefix by task models.
// Everything else is BertLayer (HF's RobertaLayer is "Copied from" it).

// robertaPositionIDs fills pos[N]: non-pad tokens of each sequence get
// padding_idx+1, padding_idx+2, ... in order; pad tokens get padding_idx.
func robertaPositionIDs(pos []int32, b *Batch, pad int32) {
	for s := 0; s < b.B(); s++ {
		lo, hi := b.Seq(s)
		n := pad
		for i := lo; i < hi; i++ {
			if b.IDs[i] == pad {
				pos[i] = pad
				continue
			}
			n++
			pos[i] = n
		}
	}
}
