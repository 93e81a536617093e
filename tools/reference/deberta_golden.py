#!/usr/bin/python3
"""DeBERTa tiny checkpoints + forward/backward goldens (see DEBERTA.md).

  /usr/bin/python3 tools/reference/deberta_golden.py            # write testdata/models/deberta-*
  /usr/bin/python3 tools/reference/deberta_golden.py --check    # self-checks, writes nothing
  /usr/bin/python3 tools/reference/deberta_golden.py --out DIR  # write under DIR/models instead

Touches only testdata/models/deberta-*. Deterministic (seeds = CRC-32 of the
checkpoint name, single-threaded torch, sorted JSON / tensor order).
"""
import sys

sys.dont_write_bytecode = True

import argparse
import copy
import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checkpoints as ck  # noqa: E402  (seed_of)
import deberta as D  # noqa: E402
import st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.path.join(REPO, "testdata")

torch.set_num_threads(1)

C, HEADS, INTER, LAYERS, VOCAB, MAXPOS = 32, 4, 64, 2, 100, 64
NUM_LABELS = 3


def base_config(model_type, arch):
    return {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": C,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "layer_norm_eps": 1e-07,
        "max_position_embeddings": MAXPOS,
        "model_type": model_type,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "pooler_dropout": 0,
        "pooler_hidden_act": "gelu",
        "pooler_hidden_size": C,
        "relative_attention": True,
        "vocab_size": VOCAB,
    }


def configs():
    out = {}
    # as microsoft/deberta-v3-base's config.json, scaled down
    c = base_config("deberta-v2", "DebertaV2Model")
    c.update(
        {
            "max_relative_positions": 16,
            "norm_rel_ebd": "layer_norm",
            "pos_att_type": ["p2c", "c2p"],
            "position_biased_input": False,
            "position_buckets": 8,
            "share_att_key": True,
            "type_vocab_size": 0,
        }
    )
    out["deberta-v3-tiny"] = (c, "deberta.")
    # as the authors' deberta-v2-xlarge config (conv, share_att_key, buckets,
    # max_relative_positions -1 -> max_position_embeddings), scaled down
    c = base_config("deberta-v2", "DebertaV2Model")
    c.update(
        {
            "attention_head_size": C // HEADS,
            "conv_act": "gelu",
            "conv_kernel_size": 3,
            "max_relative_positions": -1,
            "norm_rel_ebd": "layer_norm",
            "pos_att_type": ["p2c", "c2p"],
            "position_biased_input": False,
            "position_buckets": 8,
            "share_att_key": True,
            "type_vocab_size": 0,
        }
    )
    out["deberta-v2-tiny-conv"] = (c, "")
    # coverage of the remaining v2 paths: separate pos_key_proj/pos_query_proj,
    # no buckets (plain clamp at max_relative_positions 8 < T), no rel-embedding
    # LayerNorm, absolute positions, token types, embed_proj (embedding_size 24)
    c = base_config("deberta-v2", "DebertaV2Model")
    c.update(
        {
            "embedding_size": 24,
            "max_relative_positions": 8,
            "norm_rel_ebd": "none",
            "pos_att_type": "p2c|c2p",
            "position_biased_input": True,
            "position_buckets": -1,
            "share_att_key": False,
            "type_vocab_size": 2,
        }
    )
    out["deberta-v2-tiny-noshare"] = (c, "")
    # v1 (model_type deberta): deberta-base's "c2p|p2c" string, but absolute
    # positions and token types on and max_relative_positions 8 < T so that
    # clamping is exercised (deberta-base: false / 0 / -1, see DEBERTA.md)
    c = base_config("deberta", "DebertaModel")
    c.update(
        {
            "max_relative_positions": 8,
            "pos_att_type": "c2p|p2c",
            "position_biased_input": True,
            "type_vocab_size": 2,
        }
    )
    out["deberta-v1-tiny"] = (c, "")
    return out


CHECKPOINTS = configs()


def shapes(cfg):
    r = D.resolve(cfg)
    E, HD = r["E"], r["H"] * r["D"]
    s = {
        "embeddings.word_embeddings.weight": [cfg["vocab_size"], E],
        "embeddings.LayerNorm.weight": [C],
        "embeddings.LayerNorm.bias": [C],
    }
    if r["position_biased_input"]:
        s["embeddings.position_embeddings.weight"] = [cfg["max_position_embeddings"], E]
    if r["type_vocab_size"] > 0:
        s["embeddings.token_type_embeddings.weight"] = [r["type_vocab_size"], E]
    if E != C:
        s["embeddings.embed_proj.weight"] = [C, E]
    if r["relative_attention"]:
        n = 2 * (r["span"] if r["v2"] else r["max_rel"])
        s["encoder.rel_embeddings.weight"] = [n, C]
    if r["v2"] and r["norm_rel_ln"]:
        s["encoder.LayerNorm.weight"] = [C]
        s["encoder.LayerNorm.bias"] = [C]
    if r["v2"] and r["conv_k"] > 0:
        s["encoder.conv.conv.weight"] = [C, C // r["conv_groups"], r["conv_k"]]
        s["encoder.conv.conv.bias"] = [C]
        s["encoder.conv.LayerNorm.weight"] = [C]
        s["encoder.conv.LayerNorm.bias"] = [C]
    pat = r["pos_att_type"]
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d.attention.self." % l
        if r["v2"]:
            for n in ("query_proj", "key_proj", "value_proj"):
                s[p + n + ".weight"] = [HD, C]
                s[p + n + ".bias"] = [HD]
            if r["relative_attention"] and not r["share_att_key"]:
                if "c2p" in pat:
                    s[p + "pos_key_proj.weight"] = [HD, C]
                    s[p + "pos_key_proj.bias"] = [HD]
                if "p2c" in pat:
                    s[p + "pos_query_proj.weight"] = [HD, C]
                    s[p + "pos_query_proj.bias"] = [HD]
        else:
            s[p + "in_proj.weight"] = [3 * C, C]
            s[p + "q_bias"] = [C]
            s[p + "v_bias"] = [C]
            if r["relative_attention"]:
                if "c2p" in pat:
                    s[p + "pos_proj.weight"] = [C, C]
                if "p2c" in pat:
                    s[p + "pos_q_proj.weight"] = [C, C]
                    s[p + "pos_q_proj.bias"] = [C]
        p = "encoder.layer.%d." % l
        s[p + "attention.output.dense.weight"] = [C, HD]
        s[p + "attention.output.dense.bias"] = [C]
        s[p + "attention.output.LayerNorm.weight"] = [C]
        s[p + "attention.output.LayerNorm.bias"] = [C]
        s[p + "intermediate.dense.weight"] = [INTER, C]
        s[p + "intermediate.dense.bias"] = [INTER]
        s[p + "output.dense.weight"] = [C, INTER]
        s[p + "output.dense.bias"] = [C]
        s[p + "output.LayerNorm.weight"] = [C]
        s[p + "output.LayerNorm.bias"] = [C]
    return s


def init_value(rng, name, shape):
    n = rng.standard_normal(size=shape)
    if name.endswith("LayerNorm.weight"):
        return 1.0 + 0.1 * n
    if name.endswith("embed_proj.weight"):
        return 0.2 * n
    if "embeddings" in name:  # word/position/token_type/rel embeddings
        return 0.5 * n
    if name.endswith(".bias") or name.endswith("q_bias") or name.endswith("v_bias"):
        return 0.1 * n
    if name.startswith("encoder.conv.conv."):
        return 0.1 * n  # fan-in C*k = 96
    return 0.2 * n


def make(name):
    """(cfg, prefix, backbone weights (unprefixed, float32 values), file
    tensors, head weights (float32), loss weight [B,T,C])."""
    cfg, prefix = CHECKPOINTS[name]
    rng = np.random.default_rng(ck.seed_of(name))
    sh = shapes(cfg)
    w = {k: init_value(rng, k, sh[k]).astype(np.float32) for k in sorted(sh)}
    head = {
        "pooler.dense.weight": (0.2 * rng.standard_normal((C, C))).astype(np.float32),
        "pooler.dense.bias": (0.1 * rng.standard_normal(C)).astype(np.float32),
        "classifier.weight": (0.2 * rng.standard_normal((NUM_LABELS, C))).astype(np.float32),
        "classifier.bias": (0.1 * rng.standard_normal(NUM_LABELS)).astype(np.float32),
    }
    ids, mask, tt = batch(cfg)
    lw = (rng.standard_normal(ids.shape + (C,)) * mask[:, :, None]).astype(np.float32)
    files = {prefix + k: v for k, v in w.items()}
    if prefix:
        # as in the hub's v3 checkpoints: the position_ids buffer is saved too
        files[prefix + "embeddings.position_ids"] = np.arange(MAXPOS, dtype=np.int64).reshape(1, -1)
    return cfg, prefix, w, files, head, lw


def batch(cfg):
    """B=3, lengths 7, 12, 5 right-padded to T=12; [CLS]=1 [SEP]=2 [PAD]=0
    (the DeBERTa tokenizers' ids); pairs [CLS] A [SEP] B [SEP] with token
    types 0/1 (also for type_vocab_size 0 models, which must ignore them)."""
    V = cfg["vocab_size"]
    T = 12
    CLS, SEP, PAD = 1, 2, cfg["pad_token_id"]
    seqs = (
        ([CLS, 17, 17, 42, SEP, 17, SEP], [0, 0, 0, 0, 0, 1, 1]),
        ([CLS, 5, 93, 60, 61, 5, SEP, 77, V - 1, 60, 8, SEP], [0] * 7 + [1] * 5),
        ([CLS, 33, 11, 33, SEP], [0] * 5),
    )
    ids, mask, tt = [], [], []
    for toks, types in seqs:
        n = len(toks)
        ids.append(toks + [PAD] * (T - n))
        mask.append([1] * n + [0] * (T - n))
        tt.append(types + [0] * (T - n))
    return tuple(np.array(x, dtype=np.int64) for x in (ids, mask, tt))


def tt_(d, dtype):
    return {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in d.items()}


def run(cfg, w, head, lw, ids, mask, tt, dtype, with_grad=True):
    """Forward (+ backward of L = sum(lw * last_hidden_state)).
    Returns dict of torch tensors."""
    W = tt_(w, dtype)
    Hd = tt_(head, dtype)
    ti, tm, tty = (torch.from_numpy(x) for x in (ids, mask, tt))
    B, T = ids.shape
    L = cfg["num_hidden_layers"]
    # zero biases at each layer input: their gradient is dL/d(input of layer l)
    zs = [torch.zeros(B, T, C, dtype=dtype, requires_grad=with_grad) for _ in range(L)]
    hs = D.encode(cfg, W, ti, tm, tty, layer_bias=lambda l: zs[l])
    pooled, logits = D.classify(cfg, Hd, hs[-1])
    out = {"hs": [h.detach() for h in hs], "pooled": pooled.detach(), "logits": logits.detach()}
    if with_grad:
        loss = (torch.from_numpy(lw).to(dtype) * hs[-1]).sum()
        gs = torch.autograd.grad(loss, zs)
        out["loss"] = loss.detach()
        out["grads"] = [g.detach() for g in gs]
    return out


def save(path, tensors):
    """st.save's format, but tensors laid out by (element size descending,
    name) -- the order the official safetensors writer uses -- so that every
    tensor is aligned to its element size even with odd-length F32 tensors
    (head.classifier.bias [3]). Header keys sorted; deterministic."""
    import struct

    order = sorted(tensors, key=lambda k: (-np.asarray(tensors[k]).dtype.itemsize, k))
    header, blobs, off = {}, [], 0
    for name in order:
        a = np.asarray(tensors[name])
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        b = np.ascontiguousarray(a, dtype=dt).tobytes(order="C")
        assert off % dt.itemsize == 0, name
        header[name] = {"dtype": st._DTYPES[dt], "shape": [int(x) for x in a.shape], "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_all(root):
    for name in CHECKPOINTS:
        cfg, prefix, w, files, head, lw = make(name)
        d = os.path.join(root, "models", name)
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "config.json"), cfg)
        st.save(os.path.join(d, "model.safetensors"), files)
        ids, mask, tt = batch(cfg)
        o32 = run(cfg, w, head, lw, ids, mask, tt, torch.float32)
        o64 = run(cfg, w, head, lw, ids, mask, tt, torch.float64, with_grad=False)
        g = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        for l, h in enumerate(o32["hs"]):
            g["hidden_states.%d" % l] = h.numpy()
        g["last_hidden_state"] = o32["hs"][-1].numpy()
        g["last_hidden_state_f64"] = o64["hs"][-1].numpy()
        g["pooler_output"] = o32["pooled"].numpy()
        g["logits"] = o32["logits"].numpy()
        for k, v in head.items():
            g["head." + k] = v
        g["loss_weight"] = lw
        g["loss"] = o32["loss"].reshape(1).numpy()
        for l, gr in enumerate(o32["grads"]):
            g["grad.hidden_states.%d" % l] = gr.numpy()
        save(os.path.join(d, "golden.safetensors"), g)
        back = st.load(os.path.join(d, "golden.safetensors"))
        assert sorted(back) == sorted(g) and all(np.array_equal(back[k], g[k]) for k in g)
        print("wrote", d)


# ------------------------------------------------------------------ checks
def maxdiff(a, b):
    return float((a.double() - b.double()).abs().max())


def check_all():
    ok = True

    def report(what, v, tol):
        nonlocal ok
        flag = "ok" if v <= tol else "FAIL"
        if v > tol:
            ok = False
        print("  %-58s %.3e (tol %.0e) %s" % (what, v, tol, flag))

    # bucket formula: float32 (HF) vs float64 evaluation
    for bs, mp in ((8, 16), (8, 64), (256, 512)):
        rel = torch.arange(-2 * mp, 2 * mp + 1, dtype=torch.long)
        b32 = D.make_log_bucket_position(rel, bs, mp)
        mid = bs // 2
        a = rel.abs().double()
        lp = torch.ceil(torch.log(a.clamp(min=1) / mid) / math.log((mp - 1) / mid) * (mid - 1)) + mid
        b64 = torch.where(a <= mid, rel.double(), lp * torch.sign(rel.double())).long()
        diff = rel[b32 != b64].tolist()
        print("bucket(%d, %d): range [%d, %d] over |r| <= %d; f32 vs f64 differ at r = %s"
              % (bs, mp, int(b32.min()), int(b32.max()), 2 * mp, diff))
    for name in CHECKPOINTS:
        print(name)
        cfg, prefix, w, files, head, lw = make(name)
        ids, mask, tt = batch(cfg)
        o32 = run(cfg, w, head, lw, ids, mask, tt, torch.float32)
        o64 = run(cfg, w, head, lw, ids, mask, tt, torch.float64)
        m = torch.from_numpy(mask).bool()
        for l in range(len(o32["hs"])):
            report("f32 vs f64 hidden_states.%d (all positions)" % l, maxdiff(o32["hs"][l], o64["hs"][l]), 1e-5)
        report("f32 vs f64 pooler_output", maxdiff(o32["pooled"], o64["pooled"]), 1e-5)
        report("f32 vs f64 logits", maxdiff(o32["logits"], o64["logits"]), 1e-5)
        for l in range(len(o32["grads"])):
            gmax = float(o64["grads"][l].abs().max())
            report("f32 vs f64 grad.hidden_states.%d (max |g| %.2f)" % (l, gmax),
                   maxdiff(o32["grads"][l], o64["grads"][l]), 1e-5 * max(1.0, gmax))
        # padding invariance (float64 and float32)
        for dt, o, tol in ((torch.float64, o64, 1e-12), (torch.float32, o32, 1e-5)):
            worst_h = worst_g = 0.0
            for b in range(ids.shape[0]):
                n = int(mask[b].sum())
                s = run(cfg, w, head, lw[b : b + 1, :n], ids[b : b + 1, :n], mask[b : b + 1, :n], tt[b : b + 1, :n], dt)
                for l in range(len(s["hs"])):
                    worst_h = max(worst_h, maxdiff(s["hs"][l][0], o["hs"][l][b, :n]))
                for l in range(len(s["grads"])):
                    worst_g = max(worst_g, maxdiff(s["grads"][l][0], o["grads"][l][b, :n]))
                worst_h = max(worst_h, maxdiff(s["logits"][0], o["logits"][b]))
            report("padding invariance %s: hidden/logits (alone vs batch)" % str(dt)[6:], worst_h, tol)
            report("padding invariance %s: grads" % str(dt)[6:], worst_g, tol)
        # grads at padded positions
        for l in range(len(o64["grads"])):
            gp = o64["grads"][l][~m]
            print("  grad.hidden_states.%d at padded positions: max |g| = %.3e" % (l, float(gp.abs().max())))
        # gather/transpose form vs the loop form of the scores
        W = tt_(w, torch.float64)
        D.CAPTURE = {}
        D.encode(cfg, W, *(torch.from_numpy(x) for x in (ids, mask, tt)))
        cap, D.CAPTURE = D.CAPTURE, None
        for l in range(cfg["num_hidden_layers"]):
            ref = D.naive_scores(cfg, W, l, o64["hs"][l])
            report("scores layer %d: gather form vs loop form" % l,
                   maxdiff(cap["encoder.layer.%d.attention.self." % l], ref), 1e-12)
        # gradcheck on a tiny case (B=2, T=5, one padded), float64, w.r.t.
        # biases added at every layer input (AoT entry points) + the head
        t_ids = torch.tensor([[1, 17, 42, 2, 0], [1, 5, 93, 60, 2]])
        t_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
        t_tt = torch.tensor([[0, 0, 0, 1, 0], [0, 0, 1, 1, 1]])
        g = torch.Generator().manual_seed(0)
        zs = [0.1 * torch.randn(2, 5, C, generator=g, dtype=torch.float64) for _ in range(LAYERS)]
        for z in zs:
            z.requires_grad_(True)
        Hd = tt_(head, torch.float64)
        cw = Hd["classifier.weight"].clone().requires_grad_(True)

        def f(*xs):
            hd = dict(Hd)
            hd["classifier.weight"] = xs[-1]
            hs = D.encode(cfg, W, t_ids, t_mask, t_tt, layer_bias=lambda l: xs[l])
            _, logits = D.classify(cfg, hd, hs[-1])
            return (logits ** 2).sum() + (hs[-1] * t_mask[..., None]).pow(2).sum()

        res = torch.autograd.gradcheck(f, tuple(zs) + (cw,), eps=1e-6, atol=1e-6, rtol=1e-5)
        print("  gradcheck (f64, B=2 T=5, layer-input biases + classifier.weight): %s" % res)
        ok = ok and res
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", default=TESTDATA)
    args = ap.parse_args()
    if args.check:
        sys.exit(0 if check_all() else 1)
    write_all(args.out)


if __name__ == "__main__":
    main()
