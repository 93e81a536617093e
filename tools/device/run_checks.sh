#!/bin/bash
# One prepared run of aotp's checks on a lent machine that has what this one
# lacks: the real transformers + PEFT (hf_check.py) and an AVX-512 CPU (the
# AVX-512 kernels are never executed here). Nothing here needs the GPU.
#
# Prepare on the development machine (no Go on the lent machine):
#   tools/device/prepare.sh            # test binaries + aotp-written LoRA dirs into devbin/
# then run, with devbin carried:  bash tools/device/run_checks.sh   (results under $OUT)
set -u
R=$PWD
OUT=${OUT:-/tmp/aotp-device}
mkdir -p "$OUT"
{ lscpu; echo; grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; } > "$OUT/cpu.txt" 2>&1
export AOTP_TESTDATA=$R/testdata GOMAXPROCS=4 OMP_NUM_THREADS=4
run() { # name dir command...
	local name=$1 dir=$2
	shift 2
	(cd "$R/$dir" && timeout 180 "$@") > "$OUT/$name.log" 2>&1
	echo "$name rc=$?" >> "$OUT/summary.txt"
}
run gemm kernels/gemm "$R/devbin/gemm.test" -test.v -test.count=1 &
run vec kernels/vec "$R/devbin/vec.test" -test.v &
run model model "$R/devbin/model.test" &
run peft peft "$R/devbin/peft.test" &
wait
run train train "$R/devbin/train.test" &
(timeout 300 python3 -u tools/device/hf_check.py --export devbin/lora-export --json "$OUT/hf_check.json" > "$OUT/hf_check.log" 2>&1
	echo "hf_check rc=$?" >> "$OUT/summary.txt") &
wait
# GEMM on 2 cores, AVX-512 against AVX2 on the same CPU
for impl in avx512 avx2; do
	echo "== AOTP_GEMM=$impl" >> "$OUT/bench.log"
	(cd "$R/kernels/gemm" && AOTP_GEMM=$impl GOMAXPROCS=2 timeout 100 "$R/devbin/gemm.test" -test.run XXX \
		-test.bench 'LinearPacked/M(1024|4096)_K(768|3072)_N(768|3072)$' -test.benchtime 10x -test.cpu 2) >> "$OUT/bench.log" 2>&1
done
cat "$OUT/summary.txt" "$OUT/cpu.txt"
grep -E "^(ok|FAIL) |checks," "$OUT/hf_check.log"
grep -E "GFLOP|==" "$OUT/bench.log"
