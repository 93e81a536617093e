#!/usr/bin/env bash
# Side-by-side benchmark: aotp vs PyTorch (torch + oneDNN sgemm, see
# torch_bench.py) on the same shapes with random weights, run alternately in
# one invocation, medians over rounds, Markdown table on stdout.
#
#   tools/bench/compare.sh            # full run (~10 min on 2 quiet cores)
#   tools/bench/compare.sh --quick    # short run (~2 min)
#   tools/bench/compare.sh --large-train   # also the roberta-large AoT-FC train step (slow)
#   tools/bench/compare.sh --deberta-xlarge  # also the deberta-v2-xlarge b8 forward (slow: 24 x 1536)
#   tools/bench/compare.sh --only deberta    # only the cases matching the regex (mode:shape:batch:seq); no RSS step
#   tools/bench/compare.sh --cases "forward:roberta-base:1:32 forward:roberta-base:1:128"   # these cases instead
#   tools/bench/compare.sh --only forward --aotp-extra "--weights w8a8" --torch-cfg 1:qdyn:2   # int8 against int8
#   options: --rounds N  --threads N  --raw FILE  --no-rss  --torch-extra "ARGS" (appended to torch_bench.py)
#            --aotp-extra "ARGS" (appended to aotp bench)
#            --torch-cfg OMP:GEMM:THREADS (e.g. 1:aten:2; default: probe and take the fastest)
set -euo pipefail

QUICK=0 LARGE_TRAIN=0 DEB_XL=0 ONLY="" ONLY_CASES="" TORCH_EXTRA="" AOTP_EXTRA="" ROUNDS="" THREADS=2 TORCH_CFG=auto RAW="" RSS=1
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--large-train) LARGE_TRAIN=1 ;;
	--deberta-xlarge) DEB_XL=1 ;;
	--only) ONLY=$2; shift ;;
	--cases) ONLY_CASES=$2; shift ;;
	--torch-extra) TORCH_EXTRA=$2; shift ;;
	--aotp-extra) AOTP_EXTRA=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--torch-cfg) TORCH_CFG=$2; shift ;;
	--raw) RAW=$2; shift ;;
	--no-rss) RSS=0 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d /tmp/aotp-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RAW=${RAW:-$WORK/raw.tsv}
: >"$RAW"
PY=/usr/bin/python3
AOTP=$WORK/aotp

if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} FWD_ITERS=2 TRAIN_ITERS=1
	CASES="forward:roberta-base:8:128 train:roberta-base:16:128 forward:deberta-v3-base:8:128"
else
	ROUNDS=${ROUNDS:-3} FWD_ITERS=3 TRAIN_ITERS=2
	CASES="forward:roberta-base:8:128 forward:roberta-base:32:128 forward:roberta-large:8:128 train:roberta-base:16:128 forward:deberta-v3-base:8:128"
fi
[ "$LARGE_TRAIN" = 1 ] && CASES="$CASES train:roberta-large:16:128"
[ "$DEB_XL" = 1 ] && CASES="$CASES forward:deberta-v2-xlarge:8:128"
[ -n "$ONLY_CASES" ] && { CASES=$ONLY_CASES; RSS=0; }
if [ -n "$ONLY" ]; then
	CASES=$(printf '%s\n' $CASES | grep -E -- "$ONLY" | xargs || true)
	[ -n "$CASES" ] || { echo "compare.sh: --only $ONLY matches no case" >&2; exit 2; }
	RSS=0
fi

echo "building aotp and the clock probe..." >&2
go build -o "$AOTP" ./cmd/aotp
gcc -O2 -mavx2 -mfma -pthread -o "$WORK/clock" tools/bench/clock.c

# PyTorch at its best here: no OpenBLAS core-type override, OpenBLAS on 2
# threads; a configuration is OMP_NUM_THREADS:GEMM back-end:torch.set_num_threads.
PROBE_CFGS="1:aten:$THREADS 1:aten:1 $THREADS:aten:$THREADS $THREADS:dnnl:$THREADS"
torch_env() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS=$THREADS "${@:2}"; }
TORCH_PY="$PY tools/bench/torch_bench.py"
torch_run() { # cfg args...: run torch_bench.py under configuration cfg
	local omp gemm nt
	IFS=: read -r omp gemm nt <<<"$1"
	torch_env "$omp" $TORCH_PY --gemm "$gemm" --threads "$nt" "${@:2}"
}
torch_cmdline() { # cfg args...: the same, as text
	local omp gemm nt
	IFS=: read -r omp gemm nt <<<"$1"
	echo "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=$THREADS $TORCH_PY --gemm $gemm --threads $nt ${*:2}"
}

aotp_cmd() { # mode shape batch seq iters
	if [ "$1" = forward ]; then
		echo "$AOTP bench forward --shape $2 --batch $3 --seq $4 --iters $5 --warmup 1 --threads $THREADS --json $AOTP_EXTRA"
	else
		echo "$AOTP bench train --shape $2 --batch $3 --seq $4 --reparam fc --rank 64 --iters $5 --warmup 1 --threads $THREADS --json $AOTP_EXTRA"
	fi
}
torch_args() { echo "--mode $1 --shape $2 --batch $3 --seq $4 --iters $5 --warmup 1 $TORCH_EXTRA"; }

record() { # side case round json
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"
}

# ---------------------------------------------------------------- machine
{
	printf 'meta\tdate\t0\t"%s"\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'meta\tuptime_start\t0\t"%s"\n' "$(uptime | sed 's/.*load/load/')"
	printf 'meta\tcpu\t0\t"%s, %s cores, flags: %s"\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" \
		"$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f)$' | sort | xargs) (no avx512f unless listed)"
	printf 'meta\tgo\t0\t"%s"\n' "$(go version)"
	printf 'meta\tgit\t0\t"%s"\n' "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')"
	printf 'meta\tclock\t0\t%s\n' "$("$WORK/clock" "$THREADS")"
	printf 'meta\tlibblas\t0\t"%s"\n' "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
	printf 'meta\ttorch_gemm_probe\t0\t%s\n' "$(torch_run "1:dnnl:$THREADS" --mode gemm-probe)"
} >>"$RAW"

# ---------------------------------------------------------------- torch config
if [ "$TORCH_CFG" = auto ]; then
	echo "probing torch configurations $PROBE_CFGS (roberta-base b8 forward)..." >&2
	for r in $(seq 1 "$ROUNDS"); do
		for cfg in $PROBE_CFGS; do
			record "torchcfg" "$cfg" "$r" "$(torch_run "$cfg" $(torch_args forward roberta-base 8 128 2))"
		done
	done
	TORCH_CFG=$($PY - "$RAW" <<'EOF'
import json, statistics, sys
ms = {}
for l in open(sys.argv[1]):
    side, cfg, _, js = l.rstrip("\n").split("\t", 3)
    if side == "torchcfg":
        ms.setdefault(cfg, []).append(json.loads(js)["ms_per_batch"])
print(min(ms, key=lambda c: statistics.median(ms[c])))
EOF
)
fi
printf 'meta\ttorch_cfg\t0\t"%s"\n' "$TORCH_CFG" >>"$RAW"

# ---------------------------------------------------------------- cases
for c in $CASES; do
	IFS=: read -r mode shape batch seq <<<"$c"
	iters=$FWD_ITERS
	# small batches: as many tokens per timed run as batch 8 × 128 (at most 30 iterations)
	[ $((batch * seq)) -lt 1024 ] && iters=$((FWD_ITERS * 1024 / (batch * seq) < 30 ? FWD_ITERS * 1024 / (batch * seq) : 30))
	[ "$mode" = train ] && iters=$TRAIN_ITERS
	rounds=$ROUNDS
	[ "$shape" = roberta-large ] && [ "$mode" = train ] && { rounds=1; iters=1; }
	ac=$(aotp_cmd "$mode" "$shape" "$batch" "$seq" "$iters")
	ta=$(torch_args "$mode" "$shape" "$batch" "$seq" "$iters")
	printf 'cmd\t%s\taotp\t"%s"\n' "$c" "${ac/$AOTP/aotp}" >>"$RAW"
	printf 'cmd\t%s\ttorch\t"%s"\n' "$c" "$(torch_cmdline "$TORCH_CFG" $ta)" >>"$RAW"
	for r in $(seq 1 "$rounds"); do
		echo "$c round $r/$rounds ($(uptime | sed 's/.*load/load/'))" >&2
		# alternate which side goes first
		if [ $((r % 2)) = 1 ]; then order="aotp torch"; else order="torch aotp"; fi
		for side in $order; do
			if [ "$side" = aotp ]; then
				record aotp "$c" "$r" "$($ac)"
			else
				record torch "$c" "$r" "$(torch_run "$TORCH_CFG" $ta)"
			fi
		done
	done
done

# ---------------------------------------------------------------- RSS after load
if [ "$RSS" = 1 ]; then
	echo "resident memory after load (random roberta-base checkpoint)..." >&2
	go run ./tools/bench/mkcheckpoint --shape roberta-base --out "$WORK/ckpt"
	printf 'meta\tckpt_bytes\t0\t%s\n' "$(stat -c %s "$WORK/ckpt/model.safetensors")" >>"$RAW"
	record rss load 1 "$("$AOTP" bench forward --model "$WORK/ckpt" --batch 1 --seq 8 --iters 3 --warmup 1 --threads "$THREADS" --json)"
fi
printf 'meta\tuptime_end\t0\t"%s"\n' "$(uptime | sed 's/.*load/load/')" >>"$RAW"

$PY tools/bench/summarize.py "$RAW"
