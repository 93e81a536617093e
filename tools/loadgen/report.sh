#!/usr/bin/env bash
# Serving load report: throughput and p50/p99 latency of `aotp serve` with
# N = 1, 10, 100, 1000 AoT tasks at three request rates, against the plain
# backbone, written to docs/serving-report/ (report.md, latency.png).
#
#   tools/loadgen/report.sh            # from the repository root, ~10 minutes
#
# Everything it builds and generates (binaries, a random small RoBERTa with
# the real roberta-base tokenizer files, 1000 random AoT adapters, raw
# results) lives in a temp directory that is removed at the end. The server
# listens on 127.0.0.1 only. Environment knobs (defaults in brackets):
#   NS ["1 10 100 1000"]  FRACS ["0.25 0.5 0.9"]  SAT_S [6]  RATE_S [12]
#   BUDGET [2GiB]  LAYERS [4]  HIDDEN [256]  RANK [16]  PORT [18473]
#   TOKENIZER [/work/shared/data/tokenizers/roberta-base]
#   TEXTS [/work/shared/data/glue/SST-2/dev.tsv]  OUT [docs/serving-report]
set -euo pipefail

NS=${NS:-"1 10 100 1000"}
FRACS=${FRACS:-"0.25 0.5 0.9"}
SAT_S=${SAT_S:-6}
RATE_S=${RATE_S:-12}
BUDGET=${BUDGET:-2GiB}
LAYERS=${LAYERS:-4}
HIDDEN=${HIDDEN:-256}
RANK=${RANK:-16}
PORT=${PORT:-18473}
TOKENIZER=${TOKENIZER:-/work/shared/data/tokenizers/roberta-base}
TEXTS=${TEXTS:-/work/shared/data/glue/SST-2/dev.tsv}
OUT=${OUT:-docs/serving-report}
URL="http://127.0.0.1:$PORT"

MAXN=0
for n in $NS; do ((n > MAXN)) && MAXN=$n; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aotp-report.XXXXXX")
SERVER_PID=""
cleanup() {
	if [[ -n "$SERVER_PID" ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "report: $*" >&2; }
T0=$(date +%s)

log "building into $WORK/bin"
go build -o "$WORK/bin/aotp" ./cmd/aotp
go build -o "$WORK/bin/loadgen" ./tools/loadgen
go build -o "$WORK/bin/fixture" ./tools/loadgen/fixture
go build -o "$WORK/bin/summarize" ./tools/loadgen/summarize

log "writing the backbone and $MAXN adapters"
"$WORK/bin/fixture" --out "$WORK/fx" --tokenizer "$TOKENIZER" --layers "$LAYERS" --hidden "$HIDDEN" \
	--heads $((HIDDEN / 64)) --intermediate $((HIDDEN * 4)) --tasks "$MAXN" --rank "$RANK"

TEXTS_FLAG=()
if [[ -f "$TEXTS" ]]; then
	# first column of a GLUE TSV (header skipped) as loadgen's JSONL
	python3 - "$TEXTS" "$WORK/texts.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    next(f)
    for line in f:
        text = line.rstrip("\n").split("\t")[0].strip()
        if text:
            out.write(json.dumps({"text": text}) + "\n")
EOF
	TEXTS_FLAG=(--texts "$WORK/texts.jsonl")
	TEXTS_DESC="the $(wc -l <"$WORK/texts.jsonl") sentences of $(basename "$(dirname "$TEXTS")") $(basename "$TEXTS"), drawn uniformly"
else
	TEXTS_DESC="loadgen's 8 built-in sentences"
fi

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
RSS_ROWS=""

start_server() { # N
	local n=$1 dir="$WORK/tasks-$1"
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do ln -s "$WORK/fx/tasks/task-$i" "$dir/task-$i"; done
	"$WORK/bin/aotp" serve --model "$WORK/fx/backbone" --tasks-dir "$dir" --baseline "base=$WORK/fx/tasks/task-0" \
		--memory-budget "$BUDGET" --addr "127.0.0.1:$PORT" >"$WORK/server-$n.log" 2>&1 &
	SERVER_PID=$!
	local i
	for ((i = 0; i < 600; i++)); do
		if curl -sf "$URL/readyz" >/dev/null 2>&1; then return 0; fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
		sleep 0.2
	done
	log "server with $n tasks did not come up:"
	tail -5 "$WORK/server-$n.log" >&2
	exit 1
}

stop_server() {
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

run_load() { # N KIND PHASE FRAC TASKS RATE DURATION [extra loadgen flags]
	local n=$1 kind=$2 phase=$3 frac=$4 tasks=$5 rate=$6 dur=$7
	shift 7
	local r
	r=$("$WORK/bin/loadgen" --url "$URL" --tasks "$tasks" --rate "$rate" --duration "${dur}s" --timeout 20s "${TEXTS_FLAG[@]}" "$@")
	echo "{\"n\":$n,\"kind\":\"$kind\",\"phase\":\"$phase\",\"frac\":$frac,\"r\":$r}" >>"$RESULTS"
	echo "$r"
}

for n in $NS; do
	start_server "$n"
	rss_loaded=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
	forms=$(curl -sf "$URL/v1/tasks" | jq -r '[.tasks[].form] | group_by(.) | map("\(length) \(.[0])") | join(", ")')
	# warm up (first batches allocate the workspace)
	run_load "$n" warmup warmup 0 "@$n" 50 2 >/dev/null
	# saturation: a client capped at 128 requests in flight keeps the server
	# busy without flooding it with requests it must refuse
	sat=$(run_load "$n" aot sat 0 "@$n" 5000 "$SAT_S" --max-in-flight 128 | jq .achieved_rps)
	satb=$(run_load "$n" backbone sat 0 base 5000 "$SAT_S" --max-in-flight 128 | jq .achieved_rps)
	log "N=$n: saturation $sat rps with AoT tasks, $satb rps on the backbone"
	for f in $FRACS; do
		rate=$(jq -n "$sat * $f")
		a=$(run_load "$n" aot rate "$f" "@$n" "$rate" "$RATE_S")
		b=$(run_load "$n" backbone rate "$f" base "$rate" "$RATE_S")
		log "N=$n at $f: AoT p50/p99 $(jq -r '"\(.p50_ms|floor)/\(.p99_ms|floor) ms"' <<<"$a"), backbone $(jq -r '"\(.p50_ms|floor)/\(.p99_ms|floor) ms"' <<<"$b")"
	done
	rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
	RSS_ROWS+="| $n | $forms | $((rss_loaded / 1024)) | $((rss_peak / 1024)) |"$'\n'
	stop_server
done

CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
cat >"$WORK/setup.md" <<EOF
Generated by \`tools/loadgen/report.sh\` on $(date -u +%Y-%m-%d) in $(($(date +%s) - T0)) s.

## Setup

- **Machine**: $(nproc) cores ($CPU), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(go version | awk '{print $3}'); shared with other work, so numbers are noisy.
- **Backbone**: a RoBERTa with **random weights** of a reduced shape — $LAYERS layers, width $HIDDEN, $((HIDDEN / 64)) heads, FFN $((HIDDEN * 4)), vocabulary 50265 — with the real roberta-base tokenizer (vocab.json, merges.txt copied into a temp directory). roberta-base itself (12 × 768) is too slow for 1000 tasks × several rates on this machine in the time; the comparison *AoT vs backbone* is what carries over, not the absolute numbers.
- **Tasks**: N AoT-FC adapters of rank $RANK, factors and classification heads random and non-zero (every task adds rows of its own), served by one \`aotp serve\` on 127.0.0.1 with \`--tasks-dir\` and \`--memory-budget $BUDGET\` (forms below), default batching (\`--max-batch-tokens 8192 --max-wait 5ms\`).
- **Backbone baseline**: the same server also serves \`--baseline base=task-0\`: task-0's classification head over the plain backbone (form \`head-only\`, no AoT hook at all), so the baseline pays the same HTTP, tokenization, batching and head costs, and the difference is exactly the AoT rows.
- **Traffic**: \`tools/loadgen\`, open loop (Poisson arrivals), one input per request, task uniform over the N tasks, text from $TEXTS_DESC. Saturation: $SAT_S s with 128 requests in flight at most; each rate: $RATE_S s, AoT first, then the baseline at the same rate. Latency is measured by the client on the same machine (it competes for the same cores).

| tasks | forms under the budget | RSS after loading (MiB) | peak RSS (MiB) |
|---:|---|---:|---:|
$RSS_ROWS
EOF

cat >"$WORK/notes.md" <<'EOF'
## Caveats

- **Random weights, reduced shape.** Speed does not depend on the values, but a 4-layer, 256-wide encoder spends a larger share of each request in HTTP, JSON and tokenization than roberta-base would, which flattens differences; conversely the AoT rows (the same vocabulary, 50265 ids) are a larger share of a smaller model's compute.
- **Shared, noisy machine.** Client, server and other processes share the cores; single runs of 6–12 s; no repetition. Differences of ~10–20 % between neighbouring cells are within noise, especially p99.
- **90 % of saturation** is close to the knee: open-loop queueing makes p99 grow steeply there, for both the AoT tasks and the backbone.
- **Row caches favour repeated text.** Compact tasks take hot rows from a per-task row cache; SST-2 sentences reuse common words, so hit rates are high. With 1000 tasks, each task sees ~1/1000 of the traffic, so its cache is colder and more rows are computed per batch — that is most of the cost that grows with N.
- The saturation runs cap the client at 128 requests in flight: throughput with larger batches could be somewhat higher.
EOF

log "summarizing into $OUT"
"$WORK/bin/summarize" --results "$RESULTS" --setup "$WORK/setup.md" --notes "$WORK/notes.md" --out "$OUT"
cp "$RESULTS" "$OUT/results.jsonl"
log "done in $(($(date +%s) - T0)) s: $OUT/report.md"
