#!/bin/bash
# AVX-512 tuning data from a lent machine (prepared like run_checks.sh; devbin/
# holds gemm.test and aotp), 2 threads pinned to two otherwise idle cores:
#   - the FMA peak per vector width and each micro-kernel in cache, 1 thread
#     (kernel efficiency = BenchmarkKernel / BenchmarkPeakFMA);
#   - TestABTune: the AVX-512 kernel with and without its edge kernel, on
#     forward shapes with and without edge tiles (AB_VARIANTS adds blockings
#     "kc,mc,nc;...");
#   - PROFILE=1: CPU profiles of the forward pass and the AoT training step;
#   - F16=1: forward with --weights f32, f16 and int8 alternating (on AVX-512
#     the F16 and int8 panels are widened into L1 before the float32 kernel:
#     unmeasured), and the int8 tests on the AVX-512 kernels.
# Results under $OUT.
set -u
R=$PWD
OUT=${OUT:-/tmp/aotp-device}
mkdir -p "$OUT"
ts=""
[ "$(nproc)" -ge 4 ] && ts="taskset -c 2,3"
export GOMAXPROCS=2
G="$R/devbin/gemm.test"
cd "$R/kernels/gemm" || exit 1
AOTP_GEMM=avx512 timeout 60 $ts "$G" -test.run 'TestKernels|TestSgemm$' -test.v > "$OUT/tune_tests.log" 2>&1
echo "kernel tests rc=$?" >> "$OUT/tune_tests.log"
timeout 90 $ts "$G" -test.run XXX -test.bench 'PeakFMA|Kernel' -test.count 3 -test.cpu 1 > "$OUT/tune_kernel.log" 2>&1
AOTP_GEMM_AB=1 AOTP_GEMM_AB_BASE=avx512 AOTP_GEMM_AB_VARIANTS="noedge${AB_VARIANTS:+;$AB_VARIANTS}" \
	AOTP_GEMM_AB_SHAPES=${AB_SHAPES:-"32,768,768;32,768,3072;128,768,3072;1024,768,768;1024,768,3072;1024,3072,768"} \
	timeout 150 $ts "$G" -test.run ABTune -test.v > "$OUT/ab.log" 2>&1
cd "$R" || exit 1
if [ "${PROFILE:-0}" = 1 ]; then
	timeout 60 $ts ./devbin/aotp bench forward --shape roberta-base --batch 8 --seq 128 --iters 4 --warmup 1 \
		--threads 2 --json --cpuprofile "$OUT/fwd.pprof" > "$OUT/prof_fwd.json" 2>&1
	timeout 90 $ts ./devbin/aotp bench train --shape roberta-base --batch 16 --seq 128 --iters 3 --warmup 1 \
		--threads 2 --json --reparam fc --rank 64 --cpuprofile "$OUT/train.pprof" > "$OUT/prof_train.json" 2>&1
	tail -n 1 "$OUT/prof_fwd.json" "$OUT/prof_train.json"
fi
if [ "${F16:-0}" = 1 ]; then
	for round in 1 2; do
		for c in "1 8 40" "1 32 20" "1 128 10" "8 128 4"; do
			set -- $c
			for w in f32 f16 int8; do
				printf '%s\t%sx%s\t%s\t' "$round" "$1" "$2" "$w" >> "$OUT/f16.tsv"
				timeout 60 $ts ./devbin/aotp bench forward --shape roberta-base --batch "$1" --seq "$2" --iters "$3" \
					--threads 2 --weights "$w" --json >> "$OUT/f16.tsv" 2>&1
			done
		done
	done
	cut -c1-160 "$OUT/f16.tsv"
	(cd "$R/kernels/gemm" && AOTP_GEMM=avx512 timeout 60 $ts "$G" -test.run 'Int8|Half' -test.v) > "$OUT/int8_tests.log" 2>&1
	tail -n 1 "$OUT/int8_tests.log"
fi
tail -n 1 "$OUT/tune_tests.log"
grep -E "^(--- FAIL|FAIL)" "$OUT/tune_tests.log"
grep GFLOP "$OUT/tune_kernel.log" "$OUT/ab.log"
