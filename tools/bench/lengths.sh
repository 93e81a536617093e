#!/usr/bin/env bash
# Token counts of a GLUE dev set, one per line, for `aotp bench forward|train
# --lengths` and `torch_bench.py --lengths`: the sentence (pair) of each row
# tokenized with the model's tokenizer, special tokens included, truncated
# at 128 as aotp train's default --max-seq-len.
#
#   tools/bench/lengths.sh TOKENIZER_DIR GLUE_TSV > lengths.txt
#   e.g. tools/bench/lengths.sh ../shared/data/tokenizers/roberta-base ../shared/data/glue/SST-2/dev.tsv
set -euo pipefail
tok=$1 tsv=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$tsv" > "$work/in.jsonl" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
head, rows = rows[0], rows[1:]
cols = [c for c in ("sentence", "sentence1", "question", "question1", "#1 String") if c in head]
pair = [c for c in ("sentence2", "question2", "#2 String") if c in head]
for r in rows:
    d = {"text": r[head.index(cols[0])]}
    if pair and head.index(pair[0]) < len(r):
        d["text_pair"] = r[head.index(pair[0])]
    print(json.dumps(d))
PY
go run ./cmd/aotp tokenize --model "$tok" --input "$work/in.jsonl" --output "$work/ids.jsonl"
python3 -c 'import json,sys
for l in open(sys.argv[1]): print(min(128, len(json.loads(l)["input_ids"])))' "$work/ids.jsonl"
