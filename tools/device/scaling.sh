#!/bin/bash
# Thread scaling on a lent machine's CPU: aotp and PyTorch side by side at
# 2..16 threads (THREADS="2 4 8 16"), the roberta-base forward b8 s128 and
# b32 s128, processes alternating; both sides pinned to the same first N cores.
# AOTP_VARIANTS="base AOTP_GEMM_GRID=tiles" also runs aotp under each listed
# environment setting (base: none), e.g. to A/B gemm's split of C.
# Needs devbin/aotp (tools/device/prepare.sh). Results under $OUT/scaling.tsv.
set -u
OUT=${OUT:-/tmp/aotp-device}
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-1}
for r in $(seq 1 "$ROUNDS"); do
	for th in ${THREADS:-2 4 8 16}; do
		[ "$th" -gt "$(nproc)" ] && continue
		cores="0-$((th - 1))"
		for c in ${CASES:-8:128:6 32:128:3}; do
			IFS=: read -r B T it <<< "$c"
			a=(./devbin/aotp bench forward --shape roberta-base --batch "$B" --seq "$T" --iters "$it" --warmup 1 --threads "$th" --json)
			t=(python3 tools/bench/torch_bench.py --mode forward --shape roberta-base --batch "$B" --seq "$T" --iters "$it" --warmup 1 --threads "$th" --gemm aten)
			for side in ${AOTP_VARIANTS:-base} torch; do
				if [ $side = torch ]; then cmd=("${t[@]}"); else cmd=("${a[@]}"); fi
				ev=()
				case $side in base | torch) ;; *) ev=("$side") ;; esac
				[ $side = base ] && side=aotp
				[ ${#ev[@]} -gt 0 ] && side="aotp[$side]"
				j=$(env "${ev[@]}" OMP_NUM_THREADS=$th MKL_NUM_THREADS=$th GOMAXPROCS=$th taskset -c "$cores" "${cmd[@]}" 2>>"$OUT/scaling_err.log" | tail -n 1)
				printf '%s\t%s\t%s\t%s\n' "$side" "$th" "b$B-s$T" "$j" >> "$OUT/scaling.tsv"
			done
		done
	done
done
python3 - "$OUT/scaling.tsv" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    side, th, case, j = line.rstrip("\n").split("\t", 3)
    try:
        rows.setdefault((int(th), case), {}).setdefault(side, []).append(json.loads(j)["ms_per_batch"])
    except Exception:
        pass
for (th, case), d in sorted(rows.items()):
    t = d.get("torch", [])
    for side, a in sorted(d.items()):
        if side == "torch":
            continue
        ratio = " ".join("%.2f" % (y / x) for x, y in zip(a, t))
        print("threads %2d %-9s %s %s ms  torch %s ms  ratio %s" % (th, case, side, a, t, ratio))
PY
