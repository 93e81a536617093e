package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/aotp/aotp/model"
)

// Real-length benchmarks (--lengths FILE): speed on fixed shapes (B
// sequences of exactly T tokens) hides what packing saves on real data,
// where a padded batch computes every sequence at the batch's longest
// length. A lengths file holds one token count per line (e.g. a GLUE dev
// set tokenized with the model's tokenizer, tools/bench/lengths.sh); the
// bench forms batches of --batch consecutive sequences of those lengths
// with random ids, and an iteration is one pass over them all.

// readLengths reads a lengths file: at most max batches of batch sequences
// (0: all), each length in [1, maxLen].
func readLengths(path string, batch, maxBatches, maxLen int) ([][]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var batches [][]int
	var cur []int
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxLen {
			return nil, fmt.Errorf("%s:%d: %q is not a length in [1, %d]", path, n, s, maxLen)
		}
		cur = append(cur, v)
		if len(cur) == batch {
			batches, cur = append(batches, cur), nil
			if maxBatches > 0 && len(batches) == maxBatches {
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cur) > 0 && (maxBatches == 0 || len(batches) < maxBatches) {
		batches = append(batches, cur)
	}
	if len(batches) == 0 {
		return nil, fmt.Errorf("%s: no lengths", path)
	}
	return batches, nil
}

// randomBatch is a batch of random ids (never the pad id) of the given lengths.
func randomBatch(r *rand.Rand, cfg *model.Config, lens []int) [][]int32 {
	ids := make([][]int32, len(lens))
	for b, n := range lens {
		ids[b] = make([]int32, n)
		for t := range ids[b] {
			ids[b][t] = int32(cfg.PadTokenID+1+r.IntN(cfg.VocabSize-cfg.PadTokenID-1)) % int32(cfg.VocabSize)
		}
	}
	return ids
}

// lengthStats returns the number of sequences and tokens in batches, and
// the tokens a padded batch would compute (each batch at its longest).
func lengthStats(batches [][]int) (seqs, tokens, padded int) {
	for _, b := range batches {
		longest := 0
		for _, n := range b {
			seqs++
			tokens += n
			longest = max(longest, n)
		}
		padded += longest * len(b)
	}
	return
}
