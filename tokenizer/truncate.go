package tokenizer

import "fmt"

// EncodeTruncated encodes text (and pair, when hasPair) with the model's
// template and at most maxLen tokens in all, as HF's
// tokenizer(text, pair, truncation=True, max_length=maxLen): the
// "longest_first" strategy removes tokens from the end of the longer
// sequence one at a time (the second on ties) until the sequences and the
// template's special tokens fit.
func EncodeTruncated(t Tokenizer, text, pair string, hasPair bool, maxLen int) (Encoding, error) {
	tk, ok := t.(*tok)
	if !ok {
		return Encoding{}, fmt.Errorf("tokenizer: truncation is not supported by %T", t)
	}
	if err := checkUTF8(text, "text"); err != nil {
		return Encoding{}, err
	}
	a := tk.ids(text, nil)
	var b []int32
	if hasPair {
		if err := checkUTF8(pair, "text_pair"); err != nil {
			return Encoding{}, err
		}
		b = tk.ids(pair, nil)
	}
	special := len(tk.apply(nil, nil, hasPair).IDs)
	budget := maxLen - special
	if budget < 0 || (hasPair && budget < 2) || budget < 1 {
		return Encoding{}, fmt.Errorf("tokenizer: max length %d leaves no room for text after %d special tokens", maxLen, special)
	}
	if excess := len(a) + len(b) - budget; excess > 0 {
		if !hasPair {
			a = a[:budget]
		} else {
			na, nb := len(a), len(b)
			for ; excess > 0; excess-- {
				if na > nb {
					na--
				} else {
					nb--
				}
			}
			a, b = a[:na], b[:nb]
		}
	}
	return tk.apply(a, b, hasPair), nil
}
