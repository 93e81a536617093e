#!/usr/bin/python3
"""Turns compare.sh's raw TSV (side, case, round, json) into a Markdown report."""
import json
import statistics
import sys

SHAPE = {"roberta-base": (768, 3072, 12), "roberta-large": (1024, 4096, 24),
         # DeBERTa: the same count as aotp's forwardFLOPs (linears + the two attention
         # products); the c2p/p2c products and the position projections are not counted
         "deberta-v3-base": (768, 3072, 12), "deberta-v3-large": (1024, 4096, 24),
         "deberta-v2-xlarge": (1536, 6144, 24)}


def fwd_flops(shape, B, T):
    C, I, L = SHAPE[shape]
    N = B * T
    return L * (2 * N * (4 * C * C + 2 * C * I) + 4 * B * T * T * C)


def train_flops(shape, B, T, rank=64):
    # forward + activation-only backward through the frozen encoder: every
    # linear GEMM once more (dX only), the attention products twice more;
    # plus AoT-FC (3 GEMM passes of 2 small matmuls over <= B*T unique ids per layer)
    C, I, L = SHAPE[shape]
    N = B * T
    lin = 2 * N * (4 * C * C + 2 * C * I)
    att = 4 * B * T * T * C
    aot = 3 * 2 * 2 * N * C * rank
    return L * (2 * lin + 3 * att + aot)


def main(path):
    meta, cmds, runs = {}, {}, {}
    for line in open(path):
        side, case, rnd, js = line.rstrip("\n").split("\t", 3)
        if side == "meta":
            meta[case] = json.loads(js)
        elif side == "cmd":
            cmds.setdefault(case, {})[rnd] = json.loads(js)
        else:
            runs.setdefault((side, case), []).append(json.loads(js))
    clk = meta["clock"]
    peak = clk["peak_gflops_from_clock"]
    out = []
    p = out.append
    p("Date: %s  " % meta["date"])
    p("Machine: %s  " % meta["cpu"])
    p("Load: start %s; end %s  " % (meta["uptime_start"], meta.get("uptime_end", "?")))
    p("aotp: %s, %s  " % (meta["git"], meta["go"]))
    p("Clock: %.2f GHz measured (dependent-add chain) -> FMA peak = %d cores x 32 flop/cycle x %.2f GHz = **%.0f GFLOP/s** "
      "(measured FMA loop: %.0f GFLOP/s on %d threads, %.0f on 1)  " % (
          clk["clock_ghz"], clk["threads"], clk["clock_ghz"], peak, clk["fma_gflops_threads"], clk["threads"],
          clk["fma_gflops_1thread"]))
    gp = meta["torch_gemm_probe"]
    p("torch %s, libblas.so.3 -> %s. One 1024x768x3072 GEMM on %d threads: stock F.linear %.0f GFLOP/s, "
      "oneDNN dnnl_sgemm %.0f GFLOP/s  " % (gp["torch"], meta["libblas"], gp["torch_threads"],
                                             gp["aten_linear_gflops"], gp["dnnl_sgemm_gflops"]))
    probe = {}
    for (side, case), rs in runs.items():
        if side == "torchcfg":
            probe[case] = statistics.median(r["ms_per_batch"] for r in rs)
    if probe:
        p("torch configuration probe (roberta-base b8 s128 forward, median ms; OMP_NUM_THREADS:GEMM:set_num_threads, "
          "OPENBLAS_NUM_THREADS=%d): %s  " % (clk["threads"], ", ".join("%s %.0f" % kv for kv in sorted(probe.items(), key=lambda kv: kv[1]))))
    p("torch configuration used for the table: **%s**  " % meta["torch_cfg"])
    p("")
    p("| shape | mode | batch | seq | aotp tokens/s | torch tokens/s | ratio aotp/torch | aotp ms | torch ms | "
      "per-round ratios | aotp % FMA peak | torch % FMA peak | aotp mem MiB | torch mem MiB |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    seen = []
    for (side, case) in runs:
        if side == "aotp" and case not in seen:
            seen.append(case)
    for case in seen:
        mode, shape, B, T = case.split(":")
        B, T = int(B), int(T)
        a, t = runs[("aotp", case)], runs.get(("torch", case), [])
        key = "ms_per_batch" if mode == "forward" else "ms_per_step"
        mem = "rss_mib" if mode == "forward" else "peak_rss_mib"
        am = statistics.median(r[key] for r in a)
        tm = statistics.median(r[key] for r in t) if t else float("nan")
        per = ["%.2f" % (y[key] / x[key]) for x, y in zip(a, t)]
        fl = fwd_flops(shape, B, T) if mode == "forward" else train_flops(shape, B, T)
        pa, pt = fl / (am / 1e3) / 1e9 / peak * 100, fl / (tm / 1e3) / 1e9 / peak * 100
        p("| %s | %s | %d | %d | %.0f | %.0f | **%.2f** | %.0f | %.0f | %s | %.0f%%%s | %.0f%%%s | %.0f | %.0f |" % (
            shape, mode if mode == "forward" else "train AoT-FC r64", B, T, B * T / am * 1e3, B * T / tm * 1e3,
            tm / am, am, tm, " ".join(per), pa, "" if mode == "forward" else " (approx)", pt,
            "" if mode == "forward" else " (approx)", statistics.median(r[mem] for r in a),
            statistics.median(r[mem] for r in t) if t else float("nan")))
        if mode == "train":
            p("| | | | | %.3f steps/s | %.3f steps/s | | | | | | | peak | peak |" % (1e3 / am, 1e3 / tm))
    p("")
    p("Medians over %s round(s) per side, each round one process per side run alternately (first side alternates); "
      "within a process: 1 warm-up + timed iterations, median. ratio = torch ms / aotp ms (>1: aotp faster)." % (
          max(len(v) for k, v in runs.items() if k[0] == "aotp")))
    if any(c.split(":")[1].startswith("deberta") for c in seen):
        p("")
        p("DeBERTa rows: % FMA peak counts only the BERT-equivalent FLOPs (linears + q·kᵀ + probs·v), not the c2p/p2c "
          "products nor the relative-embedding projections. torch computes those projections (2 x [2*span, C] x [C, C] "
          "per layer) in every forward, as HF does; aotp caches them for frozen weights (torch_bench.py --pos-cache "
          "does the same).")
    if ("rss", "load") in runs:
        r = runs[("rss", "load")][0]
        fb = meta["ckpt_bytes"] / 2**20
        p("")
        p("Resident memory after load (random roberta-base checkpoint, F32 safetensors, `aotp bench forward --model DIR "
          "--batch 1 --seq 8`): rss_mib **%.0f MiB** vs model.safetensors %.0f MiB -> **%.2fx** (target <= 1.1x)" % (
              r["rss_mib"], fb, r["rss_mib"] / fb))
    p("")
    p("Commands (aotp = `go build -o /tmp/aotp ./cmd/aotp`; torch run from the repo root):")
    p("")
    for case in cmds:
        p("- `%s`" % cmds[case]["aotp"])
        p("  `%s`" % cmds[case]["torch"])
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
