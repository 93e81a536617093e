#!/bin/bash
# AVX-512 tuning data from a lent machine (prepared like run_checks.sh, with
# devbin/aotp built too): the edge kernel A/B on the shapes that leave edge
# tiles, and CPU profiles of the forward pass and the AoT training step,
# 2 threads on two otherwise idle cores. Results under $OUT.
set -u
R=$PWD
OUT=${OUT:-/tmp/aotp-device}
mkdir -p "$OUT"
ts=""
[ "$(nproc)" -ge 4 ] && ts="taskset -c 2,3"
export GOMAXPROCS=2
(cd "$R/kernels/gemm" && AOTP_GEMM_AB=1 AOTP_GEMM_AB_BASE=avx512 AOTP_GEMM_AB_VARIANTS=noedge \
	AOTP_GEMM_AB_SHAPES="32,768,768;32,768,3072;32,3072,768;128,768,768;128,768,3072;1024,768,3072" \
	timeout 120 $ts "$R/devbin/gemm.test" -test.run ABTune -test.v) > "$OUT/ab_edge.log" 2>&1
timeout 60 $ts ./devbin/aotp bench forward --shape roberta-base --batch 8 --seq 128 --iters 4 --warmup 1 \
	--threads 2 --json --cpuprofile "$OUT/fwd.pprof" > "$OUT/prof_fwd.json" 2>&1
timeout 90 $ts ./devbin/aotp bench train --shape roberta-base --batch 16 --seq 128 --iters 3 --warmup 1 \
	--threads 2 --json --reparam fc --rank 64 --cpuprofile "$OUT/train.pprof" > "$OUT/prof_train.json" 2>&1
grep GFLOP "$OUT/ab_edge.log"
tail -1 "$OUT/prof_fwd.json" "$OUT/prof_train.json"
