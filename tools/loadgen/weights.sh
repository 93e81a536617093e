#!/usr/bin/env bash
# aotp serve on a random roberta-base (12 × 768, the real roberta-base
# tokenizer) with N AoT-FC tasks, once per --weights value, alternating:
# saturation throughput (64 requests in flight at most) and latency at a
# fixed Poisson rate, one JSON line per (round, weights) on stdout.
#
#   tools/loadgen/weights.sh            # from the repository root, ~3 minutes
#
# Knobs: WEIGHTS ["f32 w8a8"]  ROUNDS [2]  TASKS [10]  RATE [15]  SAT_S [8]  RATE_S [10]
#   PORT [18490]  TOKENIZER [/work/shared/data/tokenizers/roberta-base]
#   TEXTS [/work/shared/data/glue/SST-2/dev.tsv]
set -euo pipefail
WEIGHTS=${WEIGHTS:-"f32 w8a8"} ROUNDS=${ROUNDS:-2} TASKS=${TASKS:-10} RATE=${RATE:-15}
SAT_S=${SAT_S:-8} RATE_S=${RATE_S:-10} PORT=${PORT:-18490}
TOKENIZER=${TOKENIZER:-/work/shared/data/tokenizers/roberta-base}
TEXTS=${TEXTS:-/work/shared/data/glue/SST-2/dev.tsv}
URL="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
go build -o "$WORK/aotp" ./cmd/aotp
go build -o "$WORK/loadgen" ./tools/loadgen
go build -o "$WORK/fixture" ./tools/loadgen/fixture
"$WORK/fixture" --out "$WORK/fx" --tokenizer "$TOKENIZER" --layers 12 --hidden 768 --heads 12 \
	--intermediate 3072 --tasks "$TASKS" --rank 16 >&2
python3 tools/loadgen/texts.py "$TEXTS" "$WORK/texts.jsonl"
load() { "$WORK/loadgen" --url "$URL" --tasks "@$TASKS" --texts "$WORK/texts.jsonl" --timeout 30s "$@"; }
for r in $(seq 1 "$ROUNDS"); do
	for w in $WEIGHTS; do
		"$WORK/aotp" serve --model "$WORK/fx/backbone" --tasks-dir "$WORK/fx/tasks" --addr "127.0.0.1:$PORT" \
			--weights "$w" >"$WORK/server.log" 2>&1 &
		PID=$!
		for _ in $(seq 1 300); do curl -sf "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
		load --rate 20 --duration 2s >/dev/null # warm-up
		sat=$(load --rate 2000 --duration "${SAT_S}s" --max-in-flight 64)
		lat=$(load --rate "$RATE" --duration "${RATE_S}s")
		echo "{\"round\":$r,\"weights\":\"$w\",\"saturation\":$sat,\"at_rate\":$lat}"
		kill "$PID"
		wait "$PID" 2>/dev/null || true
		PID=""
	done
done
