#!/usr/bin/python3
"""How far quantized encoders move from float32: aotp's --weights int8/w8a8
against PyTorch's dynamic int8 quantization, on the same checkpoint and
token ids (Debian's python3-torch; no pip).

  outliers SRC DST [--dims 2] [--scale 12]
      copy a BERT/RoBERTa checkpoint, multiplying the LayerNorm weights and
      biases of a few fixed hidden dimensions by --scale in every LayerNorm
      (embeddings' and each layer's two), and the weights that read those
      dimensions in the Linears fed by a LayerNorm by 1/--scale: the outlier
      channels real RoBERTa and BERT checkpoints have (values 10-20x the
      rest at a few dimensions of every hidden state, which the next
      Linears weigh little), which random weights lack.

  compare DIR --ref F32.jsonl [--aotp LABEL=FILE ...]
      F32.jsonl is `aotp encode --model DIR` output (input_ids and
      last_hidden_state per line). Runs the reference encoder
      (tools/reference/model.py) on those ids one sequence at a time in
      float32 and with every Linear as torch.ops.quantized.linear_dynamic
      (quantize_dynamic's scheme: weights symmetric per tensor, activations
      per tensor on 7 bits), and prints, for PyTorch int8 and each --aotp
      file (`aotp encode --weights W` of the same inputs), the relative L2
      distance of all last hidden states from PyTorch float32, the worst
      sequence's, the smallest first-token cosine, and the relative L2
      distance over the dimensions that are not outliers (whose RMS is at
      most 5x the median dimension's): outliers dominate the norms. aotp float32 (--ref)
      is printed too, as the floor.

Example (tools/bench/RESULTS.md):
  go run ./tools/bench/mkcheckpoint --shape roberta-base --out /tmp/rb
  /usr/bin/python3 tools/bench/quant_error.py outliers /tmp/rb /tmp/rb-out
  for w in f32 int8 w8a8; do aotp encode --model /tmp/rb-out --weights $w \\
      --input texts.jsonl --output /tmp/out-$w.jsonl; done
  /usr/bin/python3 tools/bench/quant_error.py compare /tmp/rb-out \\
      --ref /tmp/out-f32.jsonl --aotp int8=/tmp/out-int8.jsonl --aotp w8a8=/tmp/out-w8a8.jsonl
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import model as ref  # noqa: E402
import st  # noqa: E402
import torch_bench as tb  # noqa: E402

PREFIXES = ("bert.", "roberta.")


def outliers(args):
    os.makedirs(args.dst, exist_ok=True)
    for f in os.listdir(args.src):
        if f != "model.safetensors":
            shutil.copy(os.path.join(args.src, f), os.path.join(args.dst, f))
    t = st.load(os.path.join(args.src, "model.safetensors"))
    C = next(v.shape[1] for k, v in t.items() if k.endswith("word_embeddings.weight"))
    dims = [(97 * i + 77) % C for i in range(args.dims)]
    n = m = 0
    for k in t:
        if "LayerNorm." in k and t[k].ndim == 1:
            t[k] = t[k].copy()
            t[k][dims] *= args.scale
            if k.endswith(".bias"):  # a random checkpoint's LayerNorm biases are zero
                t[k][dims] += 0.5 * args.scale
            n += 1
        # the Linears reading a LayerNorm's output see those inputs at 1/scale,
        # as a trained model's do (else the outliers would carry every product)
        if k.endswith((".query.weight", ".key.weight", ".value.weight", "intermediate.dense.weight", "pooler.dense.weight")):
            t[k] = t[k].copy()
            t[k][:, dims] /= args.scale
            m += 1
    st.save(os.path.join(args.dst, "model.safetensors"), t)
    print("wrote %s: %d LayerNorm tensors, dimensions %s scaled by %g, their weights in %d Linears by 1/%g" % (
        args.dst, n, dims, args.scale, m, args.scale))


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = {}
    for k, v in st.load(os.path.join(d, "model.safetensors")).items():
        for p in PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
        w[k] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
    return cfg, w


def qdyn_linear():
    """ref.linear on torch_bench's dynamic int8 Linear (Ops("qdyn"))."""
    ops = tb.Ops("qdyn")
    return lambda w, p, x: ops.linear(x, w[p + ".weight"], w[p + ".bias"])


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def stats(outs, base, keep):
    """rel L2 over everything, the worst sequence's, the smallest first-token
    cosine, and rel L2 over the dimensions in keep (outliers left out)."""
    num = den = knum = kden = 0.0
    worst, cos = 0.0, 1.0
    for o, b in zip(outs, base):
        d = float(((o - b) ** 2).sum())
        n = float((b ** 2).sum())
        num, den = num + d, den + n
        knum += float(((o - b)[:, keep] ** 2).sum())
        kden += float((b[:, keep] ** 2).sum())
        worst = max(worst, (d / n) ** 0.5)
        cos = min(cos, float(F.cosine_similarity(o[0:1], b[0:1]).item()))
    return (num / den) ** 0.5, worst, cos, (knum / kden) ** 0.5


def outlier_dims(base):
    """Dimensions whose RMS over all tokens is over 5x the median one's."""
    rms = torch.cat(base).pow(2).mean(0).sqrt()
    return (rms > 5 * rms.median()).nonzero().flatten().tolist()


def compare(args):
    cfg, w = load(args.dir)
    rows = read_jsonl(args.ref)
    ids = [torch.tensor([r["input_ids"]], dtype=torch.int64) for r in rows]

    def run(lin):
        saved = ref.linear
        ref.linear = lin
        try:
            with torch.no_grad():
                return [ref.encode(cfg, w, x, torch.ones_like(x), None)[0][-1][0] for x in ids]
        finally:
            ref.linear = saved

    base = run(saved_linear)
    results = [("aotp f32", [torch.tensor(r["last_hidden_state"]) for r in rows])]
    torch.backends.quantized.engine = args.engine
    results.append(("torch int8 (dynamic, %s)" % args.engine, run(qdyn_linear())))
    for spec in args.aotp:
        label, path = spec.split("=", 1)
        got = read_jsonl(path)
        if [g["input_ids"] for g in got] != [r["input_ids"] for r in rows]:
            sys.exit("%s: not the --ref file's input ids" % path)
        results.append(("aotp " + label, [torch.tensor(g["last_hidden_state"]) for g in got]))
    mx = max(float(b.abs().max()) for b in base)
    out = outlier_dims(base)
    keep = [i for i in range(base[0].shape[1]) if i not in out]
    print("%s: %d sequences, %d tokens; largest |hidden| %.3g; outlier dimensions %s" % (
        args.dir, len(ids), sum(x.shape[1] for x in ids), mx, out or "none"))
    print("%-28s %12s %12s %14s %16s" % ("", "rel L2", "worst seq", "min cos(tok0)", "rel L2 w/o outl."))
    for label, outs in results:
        r, worst, cos, rk = stats(outs, base, keep)
        print("%-28s %11.3f%% %11.3f%% %14.6f %15.3f%%" % (label, 100 * r, 100 * worst, cos, 100 * rk))


saved_linear = ref.linear


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("outliers")
    o.add_argument("src")
    o.add_argument("dst")
    o.add_argument("--dims", type=int, default=2)
    o.add_argument("--scale", type=float, default=12)
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("--ref", required=True)
    c.add_argument("--aotp", action="append", default=[])
    c.add_argument("--engine", default="onednn")
    args = ap.parse_args()
    torch.set_num_threads(2)
    outliers(args) if args.cmd == "outliers" else compare(args)


if __name__ == "__main__":
    main()
