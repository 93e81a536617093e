#!/bin/bash
# aotp against PyTorch side by side on a lent machine's CPU (AVX-512), 2
# threads each, alternating processes per round (tools/bench/compare.sh's
# protocol, reduced). Needs devbin/aotp (go build -o devbin/aotp ./cmd/aotp)
# and the machine's own torch (stock F.linear: its MKL / oneDNN).
# CASES="mode shape batch seq iters;..." replaces the default cases.
set -u
OUT=${OUT:-/tmp/aotp-device}
mkdir -p "$OUT"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 GOMAXPROCS=2
ROUNDS=${ROUNDS:-2}
python3 tools/bench/torch_bench.py --mode config > "$OUT/torch_config.json" 2>&1
taskset_cmd=""
[ "$(nproc)" -ge 4 ] && taskset_cmd="taskset -c 2,3" # two otherwise idle cores
one() { # side case args...
	local side=$1 case=$2
	shift 2
	local t0=$(date +%s%N)
	local j
	j=$($taskset_cmd "$@" 2>>"$OUT/bench_err.log" | tail -1)
	printf '%s\t%s\t%s\t%s\n' "$side" "$case" "$(( ($(date +%s%N) - t0) / 1000000 ))ms" "$j" >> "$OUT/bench.tsv"
}
for r in $(seq 1 "$ROUNDS"); do
	IFS=';' read -ra cases <<< "${CASES:-forward roberta-base 8 128 5;forward deberta-v3-base 8 128 4;train roberta-base 16 128 2}"
	for c in "${cases[@]}"; do
		set -- $c
		mode=$1 shape=$2 B=$3 T=$4 it=$5
		extra=""
		[ "$mode" = train ] && extra="--reparam fc --rank 64"
		a=(./devbin/aotp bench "$mode" --shape "$shape" --batch "$B" --seq "$T" --iters "$it" --warmup 1 --threads 2 --json $extra)
		tb=(python3 tools/bench/torch_bench.py --mode "$mode" --shape "$shape" --batch "$B" --seq "$T" --iters "$it" --warmup 1 --threads 2 --gemm aten)
		if [ $((r % 2)) = 1 ]; then one aotp "$mode-$shape-b$B-s$T" "${a[@]}"; one torch "$mode-$shape-b$B-s$T" "${tb[@]}"
		else one torch "$mode-$shape-b$B-s$T" "${tb[@]}"; one aotp "$mode-$shape-b$B-s$T" "${a[@]}"; fi
	done
done
cut -f1,2,4 "$OUT/bench.tsv"
