#!/usr/bin/env bash
# aotp vs PyTorch on the token lengths of real GLUE dev sets, batch 32:
# aotp packs each batch (no padding), PyTorch pads it to its longest
# sequence with an attention mask (HF's DataCollatorWithPadding, the default
# of transformers' Trainer). Same sequences, same random weights of the
# shape, 2 threads each, processes alternating per round; ratio = torch ms /
# aotp ms per pass over the batches. The fixed-shape comparison is
# compare.sh; this one shows what packing is worth on real data.
#
#   tools/bench/compare_lengths.sh [ROUNDS] [MAX_BATCHES] [RAW_TSV]   (default 2 rounds, 4 batches;
#   about 5 minutes a round on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2} maxb=${2:-4}
data=../shared/data
PY=/usr/bin/python3
AOTP=/tmp/aotp-lengths
go build -o "$AOTP" ./cmd/aotp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in SST-2 RTE; do
	tools/bench/lengths.sh "$data/tokenizers/roberta-base" "$data/glue/$t/dev.tsv" > "$work/$t.len"
done
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
raw=${3:-$work/raw.tsv}
: > "$raw"
for r in $(seq 1 "$rounds"); do
	for t in SST-2 RTE; do
		for mode in forward train; do
			a=("$AOTP" bench "$mode" --shape roberta-base --batch 32 --lengths "$work/$t.len" --max-batches "$maxb" --iters 1 --warmup 1 --threads 2 --json)
			[ "$mode" = train ] && a+=(--reparam fc --rank 64)
			p=("$PY" tools/bench/torch_bench.py --gemm dnnl --threads 2 --mode "$mode" --shape roberta-base --batch 32 --lengths "$work/$t.len" --max-batches "$maxb" --iters 1 --warmup 1)
			if [ $((r % 2)) = 1 ]; then
				printf 'aotp\t%s\t%s\t%s\n' "$t" "$mode" "$("${a[@]}" | tail -1)" >> "$raw"
				printf 'torch\t%s\t%s\t%s\n' "$t" "$mode" "$("${p[@]}" 2>/dev/null | tail -1)" >> "$raw"
			else
				printf 'torch\t%s\t%s\t%s\n' "$t" "$mode" "$("${p[@]}" 2>/dev/null | tail -1)" >> "$raw"
				printf 'aotp\t%s\t%s\t%s\n' "$t" "$mode" "$("${a[@]}" | tail -1)" >> "$raw"
			fi
		done
	done
	echo "round $r done" >&2
done
python3 - "$raw" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, task, mode, js = line.rstrip("\n").split("\t", 3)
    d = json.loads(js)
    ms = d.get("ms_per_step", d.get("ms_per_batch"))
    rows.setdefault((task, mode), {}).setdefault(side, []).append((ms, d["lengths"]))
print("| task (dev) | mode | batches | sequences | real tokens | padded tokens | aotp ms/pass | torch ms/pass | ratio | per-round ratios |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (task, mode), v in rows.items():
    a = [m for m, _ in v["aotp"]]; t = [m for m, _ in v["torch"]]
    L = v["aotp"][0][1]
    ratios = " ".join("%.2f" % (y / x) for x, y in zip(a, t))
    print("| %s | %s | %d | %d | %d | %d | %.0f | %.0f | **%.2f** | %s |" % (task, mode if mode == "forward" else "train AoT-FC r64",
          L["batches"], L["sequences"], L["tokens"], L["padded_tokens"], statistics.median(a), statistics.median(t),
          statistics.median(t) / statistics.median(a), ratios))
PY
