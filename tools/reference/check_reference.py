#!/usr/bin/python3
"""Sanity checks of the reference and of the written golden files.

  /usr/bin/python3 tools/reference/check_reference.py

Part A: an independent numpy float64 encoder (written separately from
model.py, reading the weights back from model.safetensors) must match the
goldens; batched == each sequence alone on non-pad positions; float32 vs
float64. Part B (if testdata/aot exists): see aot_checks.py.
"""
import sys

sys.dont_write_bytecode = True  # keep tools/reference free of __pycache__

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TD = os.path.join(REPO, "testdata")

BACKBONE_PREFIXES = ("bert.", "roberta.")


def load_checkpoint(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw = st.load(os.path.join(d, "model.safetensors"))
    w = {}
    for k, v in raw.items():
        for p in BACKBONE_PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
                break
        if k.startswith(("embeddings.", "encoder.", "pooler.")) and v.dtype == np.float32:
            w[k] = v.astype(np.float64)
    return cfg, w


# ---- independent numpy implementation (float64) ----
def np_erf(x):
    return np.vectorize(math.erf)(x)


def np_act(name, x):
    if name == "gelu":
        return x * 0.5 * (1.0 + np_erf(x / math.sqrt(2.0)))
    if name == "gelu_new":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return np.maximum(x, 0.0)
    raise ValueError(name)


def np_ln(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased variance
    return (x - mu) / np.sqrt(var + eps) * g + b


def np_forward(cfg, w, ids, mask, tt):
    """Processes one sequence at a time (no batching), keys masked by
    dropping them entirely rather than adding a large negative."""
    B, T = ids.shape
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    D = C // H
    eps = cfg["layer_norm_eps"]
    outs = np.zeros((cfg["num_hidden_layers"] + 1, B, T, C))
    pooled = np.zeros((B, C))
    for b in range(B):
        if cfg["model_type"] == "roberta":
            pad = cfg["pad_token_id"]
            pos, c = [], 0
            for t in range(T):
                if ids[b, t] != pad:
                    c += 1
                    pos.append(pad + c)
                else:
                    pos.append(pad)
        else:
            pos = list(range(T))
        x = (
            w["embeddings.word_embeddings.weight"][ids[b]]
            + w["embeddings.position_embeddings.weight"][pos]
            + w["embeddings.token_type_embeddings.weight"][tt[b]]
        )
        x = np_ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        outs[0, b] = x
        keep = mask[b] == 1
        for l in range(cfg["num_hidden_layers"]):
            p = "encoder.layer.%d." % l

            def lin(n, v):
                return v @ w[p + n + ".weight"].T + w[p + n + ".bias"]

            q, k, v = (lin("attention.self." + n, x) for n in ("query", "key", "value"))
            ctx = np.zeros_like(x)
            for h in range(H):
                sl = slice(h * D, (h + 1) * D)
                s = q[:, sl] @ k[keep][:, sl].T / math.sqrt(D)
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                ctx[:, sl] = s @ v[keep][:, sl]
            a = np_ln(lin("attention.output.dense", ctx) + x,
                      w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            i = np_act(cfg["hidden_act"], lin("intermediate.dense", a))
            o = lin("output.dense", i)
            x = np_ln(o + a, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
            outs[l + 1, b] = x
        pooled[b] = np.tanh(x[0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    return outs, pooled


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def check_part_a():
    ok = True
    import torch

    import model as M

    torch.set_num_threads(1)
    for name in sorted(os.listdir(os.path.join(TD, "models"))):
        d = os.path.join(TD, "models", name)
        cfg, w = load_checkpoint(d)
        g = st.load(os.path.join(d, "golden.safetensors"))
        ids, mask, tt = g["input_ids"], g["attention_mask"], g["token_type_ids"]
        hs, pooled = np_forward(cfg, w, ids, mask, tt)
        L = cfg["num_hidden_layers"]
        e64 = rel(g["last_hidden_state_f64"], hs[L])
        e32 = max(rel(g["hidden_states.%d" % l], hs[l]) for l in range(L + 1))
        ep = rel(g["pooler_output"], pooled)
        e3264 = rel(g["last_hidden_state"], g["last_hidden_state_f64"])
        same = np.array_equal(g["hidden_states.%d" % L], g["last_hidden_state"])
        # batched vs each sequence alone (torch float32 reference, trimmed)
        wt = {k: torch.from_numpy(v.astype(np.float32)) for k, v in w.items()}
        ealone = 0.0
        for b in range(ids.shape[0]):
            n = int(mask[b].sum())
            t = lambda x: torch.from_numpy(x[b:b + 1, :n].copy())  # noqa: E731
            with torch.no_grad():
                h1, p1 = M.encode(cfg, wt, t(ids), t(mask), t(tt))
            ealone = max(ealone, float(np.abs(h1[-1][0].numpy() - g["last_hidden_state"][b, :n]).max()))
            ealone = max(ealone, float(np.abs(p1[0].numpy() - g["pooler_output"][b]).max()))
        # activation statistics at layer 0's intermediate input (GELU sign mix)
        stats = act_stats(cfg, w, ids, mask, tt)
        line = ("%-24s np64-vs-f64 %.2e  np64-vs-f32(all layers) %.2e  pooler %.2e  "
                "f32-vs-f64 %.2e  alone-vs-batched(abs) %.2e  %s"
                % (name, e64, e32, ep, e3264, ealone, stats))
        print(line)
        if not (e64 < 1e-12 and e32 < 1e-5 and ep < 1e-5 and e3264 < 1e-5 and ealone < 1e-5 and same):
            ok = False
            print("  FAIL")
    return ok


def act_stats(cfg, w, ids, mask, tt):
    C = cfg["hidden_size"]
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(ids.shape[1])[None].repeat(ids.shape[0], 0)]
        + w["embeddings.token_type_embeddings.weight"][tt]
    )
    x = np_ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg["layer_norm_eps"])
    i = x @ w["encoder.layer.0.attention.self.query.weight"].T
    pre = x @ w["encoder.layer.0.intermediate.dense.weight"].T + w["encoder.layer.0.intermediate.dense.bias"]
    return "ffn-pre: neg %.0f%% std %.2f; q std %.2f" % (100 * (pre < 0).mean(), pre.std(), i.std())


def main():
    ok = check_part_a()
    if os.path.isdir(os.path.join(TD, "aot")):
        import aot_checks

        ok = aot_checks.run(TD) and ok
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
