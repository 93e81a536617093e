#!/usr/bin/python3
"""PyTorch side of tools/bench/compare.sh.

Times, on random weights of a real shape, what `aotp bench forward` and
`aotp bench train` time, and prints one JSON line with the same field names
(ms_per_batch / tokens_per_s / gflop_per_s, ms_per_step / steps_per_s /
peak_rss_mib).

Two GEMM back-ends (--gemm), both shipped with Debian's torch 1.13:
  aten: stock F.linear / torch.matmul -> libblas.so.3 (BLAS_INFO=generic:
        whatever the Debian alternative points to; OpenBLAS pthread when
        libopenblas0-pthread is installed, the netlib reference BLAS at
        ~2 GFLOP/s otherwise). OpenBLAS threads come from OPENBLAS_NUM_THREADS.
  dnnl: every matrix product (linear layers and both attention products)
        calls oneDNN's `dnnl_sgemm` (libdnnl.so.2, torch is built with
        USE_MKLDNN=ON) through ctypes, wrapped in torch.autograd.Function for
        training; threads = torch's OpenMP threads.
  qdyn: PyTorch's dynamic int8 quantization, as torch.ao.quantization.
        quantize_dynamic does it to nn.Linear (weights per tensor on qint8,
        activations quint8 per call with reduce_range, the engine torch picks:
        oneDNN here); attention products by dnnl_sgemm as with dnnl. Forward only: the
        counterpart of `aotp bench forward --weights w8a8`
        (compare.sh --aotp-extra "--weights w8a8" --torch-cfg 1:qdyn:2).
compare.sh probes the thread/back-end configurations and uses the fastest
for the ratios. Everything else (embedding gather, LayerNorm, exact-erf
GELU, softmax, dropout, CE, AdamW) is stock torch in both.

Model semantics follow HF BertModel / RobertaModel (post-LN layers, exact-erf
GELU, RoBERTa positions from pad_token_id+1, pooler) as in
tools/reference/model.py, plus train-mode dropout (hidden 0.1: embeddings,
attention probs, attention output, FFN output; RobertaClassificationHead's
two dropouts). The batch is B sequences of exactly T non-pad tokens, so the
all-ones padding mask is not materialised (adding zeros).

DeBERTa v2/v3 shapes (--shape deberta-*, forward only): see the DeBERTa block
below and tools/reference/DEBERTA.md; no pooler (aotp's random DeBERTa shapes
have none); --pos-cache projects the relative embeddings once instead of in
every forward.

AoT-FC training step (--mode train): per layer l, for the batch's unique ids
U: P = fc2(relu(fc1(E[U]))) (E = word embeddings, frozen), gathered back to
the tokens and added to the hidden states before layer l; backbone frozen
(requires_grad False; only activation gradients flow through it); head =
RobertaClassificationHead; cross-entropy; torch.optim.AdamW (weight decay 0,
as `aotp bench train`).
"""
import argparse
import ctypes
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {
    # name: (model_type, V, C, L, NH, I, max_pos, type_vocab, pad, ln_eps)
    "roberta-base": ("roberta", 50265, 768, 12, 12, 3072, 514, 1, 1, 1e-5),
    "roberta-large": ("roberta", 50265, 1024, 24, 16, 4096, 514, 1, 1, 1e-5),
    "bert-base-uncased": ("bert", 30522, 768, 12, 12, 3072, 512, 2, 0, 1e-12),
    "bert-large-uncased": ("bert", 30522, 1024, 24, 16, 4096, 512, 2, 0, 1e-12),
}

# DeBERTa v2/v3 as released (model/shapes.go debertaV2Shape): relative attention
# with 256 log buckets over max_relative_positions 512 (-1 -> max_position_embeddings),
# c2p and p2c with share_att_key, LayerNorm on the relative embeddings, no absolute
# positions or token types, eps 1e-7; conv > 0: v2's conv (kernel, gelu) after layer 0.
DEBERTA_SHAPES = {
    # name: (V, C, L, NH, I, conv)
    "deberta-v3-base": (128100, 768, 12, 12, 3072, 0),
    "deberta-v3-large": (128100, 1024, 24, 16, 4096, 0),
    "deberta-v2-xlarge": (128100, 1536, 24, 24, 6144, 3),
}


# ------------------------------------------------------------------ GEMM
class Dnnl:
    """Row-major C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C via dnnl_sgemm."""

    def __init__(self):
        self.lib = ctypes.CDLL("libdnnl.so.2")
        f = self.lib.dnnl_sgemm
        i64, f32, p = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
        f.argtypes = [ctypes.c_char, ctypes.c_char, i64, i64, i64, f32, p, i64, p, i64, f32, p, i64]
        f.restype = ctypes.c_int
        self.f = f

    def gemm(self, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
        st = self.f(b"T" if ta else b"N", b"T" if tb else b"N", M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        if st != 0:
            raise RuntimeError("dnnl_sgemm status %d" % st)


DNNL = None


def _mm(a, b, ta, tb, out=None, alpha=1.0, beta=0.0):
    """2-D op(a) @ op(b) for contiguous float32 a, b (a: [M,K] or [K,M] if ta)."""
    M = a.shape[1] if ta else a.shape[0]
    K = a.shape[0] if ta else a.shape[1]
    N = b.shape[0] if tb else b.shape[1]
    if out is None:
        out = torch.empty(M, N)
    DNNL.gemm(ta, tb, M, N, K, alpha, a.data_ptr(), a.shape[1], b.data_ptr(), b.shape[1], beta, out.data_ptr(), N)
    return out


def _bmm(a, b, ta, tb, alpha=1.0):
    """Batched op(a[i]) @ op(b[i]) over the leading dim of contiguous 3-D tensors."""
    nb = a.shape[0]
    M = a.shape[2] if ta else a.shape[1]
    K = a.shape[1] if ta else a.shape[2]
    N = b.shape[1] if tb else b.shape[2]
    out = torch.empty(nb, M, N)
    sa, sb, so = a.shape[1] * a.shape[2] * 4, b.shape[1] * b.shape[2] * 4, M * N * 4
    pa, pb, po = a.data_ptr(), b.data_ptr(), out.data_ptr()
    lda, ldb, g = a.shape[2], b.shape[2], DNNL.gemm
    for i in range(nb):
        g(ta, tb, M, N, K, alpha, pa + i * sa, lda, pb + i * sb, ldb, 0.0, po + i * so, N)
    return out


def _bmm_heads(a, b, alpha=1.0):
    """out[n, h] = alpha a[n, h] @ b[h]ᵀ: a [B,H,T,D], b [H,R,D] contiguous -> [B,H,T,R]
    (the position projections are shared by every sequence of the batch)."""
    B, H, T, D = a.shape
    R = b.shape[1]
    out = torch.empty(B, H, T, R)
    sa, sb, so = T * D * 4, R * D * 4, T * R * 4
    pa, pb, po, g = a.data_ptr(), b.data_ptr(), out.data_ptr(), DNNL.gemm
    for n in range(B):
        for h in range(H):
            i = n * H + h
            g(False, True, T, R, D, alpha, pa + i * sa, D, pb + h * sb, D, 0.0, po + i * so, R)
    return out


def _linear_fwd(x2, w, b):
    out = b.expand(x2.shape[0], w.shape[0]).contiguous() if b is not None else None
    return _mm(x2, w, False, True, out=out, beta=1.0 if b is not None else 0.0)


class DLinear(torch.autograd.Function):
    """y = x Wᵀ + b on dnnl; gradients for whichever inputs require them."""

    @staticmethod
    def forward(ctx, x, w, b):
        shp = x.shape
        x2 = x.reshape(-1, shp[-1]).contiguous()
        ctx.save_for_backward(x2 if w.requires_grad else None, w)
        ctx.shp = shp
        return _linear_fwd(x2, w, b).view(*shp[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, dy):
        x2, w = ctx.saved_tensors
        dy2 = dy.reshape(-1, w.shape[0]).contiguous()
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _mm(dy2, w, False, False).view(ctx.shp)
        if ctx.needs_input_grad[1]:
            dw = _mm(dy2, x2, True, False)
        if ctx.needs_input_grad[2]:
            db = dy2.sum(0)
        return dx, dw, db


class DBmm(torch.autograd.Function):
    """c[i] = a[i] @ op(b[i]) (tb: b transposed), times alpha."""

    @staticmethod
    def forward(ctx, a, b, tb, alpha):
        a, b = a.contiguous(), b.contiguous()
        ctx.save_for_backward(a, b)
        ctx.tb, ctx.alpha = tb, alpha
        return _bmm(a, b, False, tb, alpha)

    @staticmethod
    def backward(ctx, dc):
        a, b = ctx.saved_tensors
        dc = dc.contiguous()
        al = ctx.alpha
        if ctx.tb:  # c = α a bᵀ: da = α dc b, db = α dcᵀ a
            da = _bmm(dc, b, False, False, al) if ctx.needs_input_grad[0] else None
            db = _bmm(dc, a, True, False, al) if ctx.needs_input_grad[1] else None
        else:  # c = α a b: da = α dc bᵀ, db = α aᵀ dc
            da = _bmm(dc, b, False, True, al) if ctx.needs_input_grad[0] else None
            db = _bmm(a, dc, True, False, al) if ctx.needs_input_grad[1] else None
        return da, db, None, None


class Ops:
    def __init__(self, gemm):
        self.gemm = gemm
        self.qpacked = {}  # qdyn: id(weight) -> (packed int8 weight, weight)

    def linear(self, x, w, b):
        if self.gemm == "aten":
            return F.linear(x, w, b)
        if self.gemm == "qdyn":
            p = self.qpacked.get(id(w))
            if p is None:  # as quantize_dynamic: symmetric per-tensor qint8 (MinMaxObserver)
                scale = max(float(w.abs().max()) / 127.5, 1e-12)
                qw = torch.quantize_per_tensor(w.detach().contiguous(), scale, 0, torch.qint8)
                p = self.qpacked[id(w)] = (torch.ops.quantized.linear_prepack(qw, b), w)
            shp = x.shape
            y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shp[-1]).contiguous(), p[0], True)
            return y.view(*shp[:-1], w.shape[0])
        if not torch.is_grad_enabled() or not (x.requires_grad or w.requires_grad):
            shp = x.shape
            return _linear_fwd(x.reshape(-1, shp[-1]).contiguous(), w, b).view(*shp[:-1], w.shape[0])
        return DLinear.apply(x, w, b)

    def bmm_heads(self, a, b, alpha):
        """[B,H,T,D] x [H,R,D]ᵀ -> [B,H,T,R] (inference only)."""
        if self.gemm == "aten":
            return torch.matmul(a, b.transpose(-1, -2)) * alpha
        return _bmm_heads(a.contiguous(), b.contiguous(), alpha)

    def bmm(self, a, b, tb, alpha):
        if self.gemm == "aten":
            return torch.matmul(a, b.transpose(-1, -2) if tb else b) * alpha
        if not torch.is_grad_enabled() or not (a.requires_grad or b.requires_grad):
            return _bmm(a.contiguous(), b.contiguous(), False, tb, alpha)
        return DBmm.apply(a, b, tb, alpha)


# ------------------------------------------------------------------ model
def random_weights(shape, layers, seed=1):
    mt, V, C, L, NH, I, P, TV, pad, eps = SHAPES[shape]
    if layers:
        L = layers
    g = torch.Generator().manual_seed(seed)

    def rnd(*s):
        return (torch.rand(*s, generator=g) * 2 - 1) * 0.0346  # std 0.02 uniform

    w = {
        "word": rnd(V, C), "pos": rnd(P, C), "type": rnd(TV, C),
        "eln.w": torch.ones(C), "eln.b": torch.zeros(C), "layers": [],
        "pool.w": rnd(C, C), "pool.b": rnd(C) * 0.3,
    }
    for _ in range(L):
        w["layers"].append({
            "qkv": [(rnd(C, C), rnd(C) * 0.3) for _ in range(3)],
            "ao": (rnd(C, C), rnd(C) * 0.3), "ln1": (torch.ones(C), torch.zeros(C)),
            "i": (rnd(I, C), rnd(I) * 0.3), "o": (rnd(C, I), rnd(C) * 0.3), "ln2": (torch.ones(C), torch.zeros(C)),
        })
    cfg = dict(model_type=mt, V=V, C=C, L=L, NH=NH, I=I, pad=pad, eps=eps)
    return cfg, w


def embed(cfg, w, ids, p, train):
    B, T = ids.shape
    if cfg["model_type"] == "roberta":
        m = (ids != cfg["pad"]).to(torch.int64)
        pos = torch.cumsum(m, 1) * m + cfg["pad"]
    else:
        pos = torch.arange(T).unsqueeze(0).expand(B, T)
    e = w["word"][ids] + w["type"][0] + w["pos"][pos]
    e = F.layer_norm(e, (cfg["C"],), w["eln.w"], w["eln.b"], cfg["eps"])
    return F.dropout(e, p, train)


def layer(cfg, ops, lw, h, p, train, mask=None):
    B, T, C = h.shape
    H = cfg["NH"]
    D = C // H
    q, k, v = (ops.linear(h, wt, bs).view(B, T, H, D).permute(0, 2, 1, 3).reshape(B * H, T, D)
               for wt, bs in lw["qkv"])
    s = ops.bmm(q, k, True, 1.0 / math.sqrt(D))  # [BH, T, T]
    if mask is not None:  # padded keys: HF's extended attention mask, added to the scores
        s = (s.view(B, H, T, T) + mask).view(B * H, T, T)
    probs = F.dropout(torch.softmax(s, -1), p, train)
    ctx = ops.bmm(probs, v, False, 1.0).view(B, H, T, D).permute(0, 2, 1, 3).reshape(B, T, C)
    a = F.dropout(ops.linear(ctx, *lw["ao"]), p, train)
    a = F.layer_norm(a + h, (C,), *lw["ln1"], cfg["eps"])
    i = F.gelu(ops.linear(a, *lw["i"]))
    o = F.dropout(ops.linear(i, *lw["o"]), p, train)
    return F.layer_norm(o + a, (C,), *lw["ln2"], cfg["eps"])


def forward(cfg, ops, w, ids, p=0.0, train=False, before_layer=None, mask=None):
    h = embed(cfg, w, ids, p, train)
    for l, lw in enumerate(w["layers"]):
        if before_layer is not None:
            h = before_layer(l, h)
        h = layer(cfg, ops, lw, h, p, train, mask)
    return h


def forward_flops(cfg, B, T):
    C, I, L = cfg["C"], cfg["I"], cfg["L"]
    N = B * T
    return L * (2 * N * (4 * C * C + 2 * C * I) + 4 * B * T * T * C)


# ------------------------------------------------------------------ DeBERTa v2/v3
# Efficient eval-mode forward with the semantics of tools/reference/deberta.py
# (HF modeling_deberta_v2; see tools/reference/DEBERTA.md): per (sequence,
# head) disentangled attention, c2p = q·pkᵀ and p2c = k·pqᵀ on the full
# [B,H,T,2·span] position scores, torch.gather with the log-bucket indices
# (p2c gathered with -rel and transposed, as HF), share_att_key (pk, pq are
# key_proj/query_proj of the LayerNorm'd relative embeddings, with biases),
# no padding (the all-ones mask is not materialised, XSoftmax = softmax).
def deberta_random_weights(shape, layers, seed=1):
    V, C, L, NH, I, conv = DEBERTA_SHAPES[shape]
    if layers:
        L = layers
    g = torch.Generator().manual_seed(seed)

    def rnd(*s):
        return (torch.rand(*s, generator=g) * 2 - 1) * 0.0346

    buckets, max_pos = 256, 512
    span = buckets  # pos_ebd_size = position_buckets
    w = {"word": rnd(V, C), "eln": (torch.ones(C), torch.zeros(C)), "rel": rnd(2 * span, C),
         "rln": (torch.ones(C), torch.zeros(C)), "layers": []}
    for _ in range(L):
        w["layers"].append({
            "qkv": [(rnd(C, C), rnd(C) * 0.3) for _ in range(3)],
            "ao": (rnd(C, C), rnd(C) * 0.3), "ln1": (torch.ones(C), torch.zeros(C)),
            "i": (rnd(I, C), rnd(I) * 0.3), "o": (rnd(C, I), rnd(C) * 0.3), "ln2": (torch.ones(C), torch.zeros(C)),
        })
    if conv:
        w["conv"] = (rnd(C, C, conv), rnd(C) * 0.3)
        w["cln"] = (torch.ones(C), torch.zeros(C))
    cfg = dict(model_type="deberta-v2", V=V, C=C, L=L, NH=NH, I=I, pad=0, eps=1e-7,
               buckets=buckets, max_rel=max_pos, span=span, conv=conv, scale_factor=3)
    return cfg, w


def deberta_rel_index(cfg, T):
    """[T,T] c2p and p2c gather indices: clamp(±bucket(i-j) + span, 0, 2span-1)
    (make_log_bucket_position in float32, as HF)."""
    ids = torch.arange(T, dtype=torch.long)
    rel = ids[:, None] - ids[None, :]
    mid = cfg["buckets"] // 2
    sign = torch.sign(rel)
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.tensor(mid - 1).type_as(rel), torch.abs(rel))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((cfg["max_rel"] - 1) / mid))
                         * (mid - 1)) + mid
    bucket = torch.where(abs_pos <= mid, rel.type_as(log_pos), log_pos * sign).to(torch.long)
    sp = cfg["span"]
    return torch.clamp(bucket + sp, 0, 2 * sp - 1), torch.clamp(-bucket + sp, 0, 2 * sp - 1)


def deberta_pos_proj(cfg, ops, w):
    """Per layer (pk, pq) [H, 2span, D]: key_proj / query_proj of LN(rel_embeddings)."""
    C, H = cfg["C"], cfg["NH"]
    rel = F.layer_norm(w["rel"], (C,), *w["rln"], cfg["eps"])
    R = rel.shape[0]
    out = []
    for lw in w["layers"]:
        (wq, bq), (wk, bk), _ = lw["qkv"]
        pk = ops.linear(rel, wk, bk).view(R, H, -1).permute(1, 0, 2).contiguous()
        pq = ops.linear(rel, wq, bq).view(R, H, -1).permute(1, 0, 2).contiguous()
        out.append((pk, pq))
    return out


def deberta_layer(cfg, ops, lw, h, pos, idx_c2p, idx_p2c):
    B, T, C = h.shape
    H = cfg["NH"]
    D = C // H
    inv = 1.0 / math.sqrt(D * cfg["scale_factor"])
    q, k, v = (ops.linear(h, wt, bs).view(B, T, H, D).permute(0, 2, 1, 3).contiguous()
               for wt, bs in lw["qkv"])
    pk, pq = pos
    s = ops.bmm(q.view(B * H, T, D), k.view(B * H, T, D), True, inv).view(B, H, T, T)
    c2p = ops.bmm_heads(q, pk, inv)  # [B,H,T,2span]
    s += torch.gather(c2p, -1, idx_c2p.expand(B, H, T, T))
    p2c = ops.bmm_heads(k, pq, inv)  # [B,H,T(key),2span]
    s += torch.gather(p2c, -1, idx_p2c.expand(B, H, T, T)).transpose(-1, -2)
    probs = torch.softmax(s, -1).view(B * H, T, T)
    ctx = ops.bmm(probs, v.view(B * H, T, D), False, 1.0).view(B, H, T, D).permute(0, 2, 1, 3).reshape(B, T, C)
    a = F.layer_norm(ops.linear(ctx, *lw["ao"]) + h, (C,), *lw["ln1"], cfg["eps"])
    i = F.gelu(ops.linear(a, *lw["i"]))
    return F.layer_norm(ops.linear(i, *lw["o"]) + a, (C,), *lw["ln2"], cfg["eps"])


def deberta_forward(cfg, ops, w, ids, pos=None):
    """Last hidden state [B,T,C]; pos: cached deberta_pos_proj (None: per forward, as HF)."""
    B, T = ids.shape
    C = cfg["C"]
    h = F.layer_norm(w["word"][ids], (C,), *w["eln"], cfg["eps"])
    if pos is None:
        pos = deberta_pos_proj(cfg, ops, w)
    idx_c2p, idx_p2c = deberta_rel_index(cfg, T)
    for l, lw in enumerate(w["layers"]):
        x0 = h
        h = deberta_layer(cfg, ops, lw, h, pos[l], idx_c2p, idx_p2c)
        if l == 0 and cfg["conv"]:
            k = cfg["conv"]
            c = F.conv1d(x0.permute(0, 2, 1), *w["conv"], padding=(k - 1) // 2).permute(0, 2, 1)
            h = F.layer_norm(h + F.gelu(c), (C,), *w["cln"], cfg["eps"])
    return h


# ------------------------------------------------------------------ runs
def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    n = len(ts)
    med = ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2
    return med, ts[0]


def read_lengths(path, batch, max_batches):
    lens = [int(x) for x in open(path) if x.strip()]
    bs = [lens[i:i + batch] for i in range(0, len(lens), batch)]
    return bs[:max_batches] if max_batches > 0 else bs


def padded_batches(cfg, batches, seed):
    """Each batch padded to its longest sequence, as HF's DataCollatorWithPadding
    does: random ids, pad ids after each sequence's length, and the additive
    mask [B,1,1,T] (finfo.min on padded keys)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for lens in batches:
        T = max(lens)
        ids = torch.randint(cfg["pad"] + 1, cfg["V"], (len(lens), T), generator=g)
        keep = torch.arange(T).unsqueeze(0) < torch.tensor(lens).unsqueeze(1)
        ids[~keep] = cfg["pad"]
        mask = torch.zeros(len(lens), 1, 1, T)
        mask[~keep.unsqueeze(1).unsqueeze(1)] = torch.finfo(torch.float32).min
        out.append((ids, mask))
    return out


def random_ids(cfg, B, T, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(cfg["pad"] + 1, cfg["V"], (B, T), generator=g)


def run_forward(args, cfg, w, ops):
    if args.lengths:
        if cfg["model_type"] == "deberta-v2":
            raise SystemExit("--lengths: BERT/RoBERTa shapes only")
        batches = padded_batches(cfg, read_lengths(args.lengths, args.batch, args.max_batches), 7)

        def fn():
            with torch.inference_mode():
                for ids, mask in batches:
                    h = forward(cfg, ops, w, ids, mask=mask)
                    torch.tanh(ops.linear(h[:, 0], w["pool.w"], w["pool.b"]))

        med, mn = timed(fn, args.warmup, args.iters)
        return dict(ms_per_batch=med * 1e3, ms_min=mn * 1e3, rss_mib=rss_mib(), **length_info(args, batches, med))
    ids = random_ids(cfg, args.batch, args.seq, 7)

    if cfg["model_type"] == "deberta-v2":
        with torch.inference_mode():
            pos = deberta_pos_proj(cfg, ops, w) if args.pos_cache else None

        def fn():
            # no pooler: aotp's random DeBERTa shapes have none (model/shapes.go)
            with torch.inference_mode():
                deberta_forward(cfg, ops, w, ids, pos)
    else:
        def fn():
            with torch.inference_mode():
                h = forward(cfg, ops, w, ids)
                torch.tanh(ops.linear(h[:, 0], w["pool.w"], w["pool.b"]))  # pooler, as aotp's Forward

    med, mn = timed(fn, args.warmup, args.iters)
    fl = forward_flops(cfg, args.batch, args.seq)
    return dict(ms_per_batch=med * 1e3, ms_min=mn * 1e3, tokens_per_s=args.batch * args.seq / med,
                gflop_per_s=fl / med / 1e9, gflop_per_batch=fl / 1e9, rss_mib=rss_mib())


def length_info(args, batches, med):
    tokens = sum(int((ids != -1).sum()) - int((mask < 0).sum()) for ids, mask in batches)
    padded = sum(ids.numel() for ids, _ in batches)
    return dict(tokens_per_s=tokens / med, lengths=dict(file=args.lengths, batches=len(batches),
                sequences=sum(ids.shape[0] for ids, _ in batches), tokens=tokens, padded_tokens=padded))


def run_train(args, cfg, w, ops):
    C, r, L = cfg["C"], args.rank, cfg["L"]
    g = torch.Generator().manual_seed(5)

    def uni(a, *s):
        return ((torch.rand(*s, generator=g) * 2 - 1) * a).requires_grad_(True)

    aot = []
    for _ in range(L):
        # fc1 as nn.Linear's init; fc2 non-zero (1e-3 scale) so the step does the full work, as aotp bench train
        aot.append((uni(1 / math.sqrt(C), r, C), uni(1 / math.sqrt(C), r),
                    uni(1e-3, C, r), uni(1e-3, C)))
    head = (uni(1 / math.sqrt(C), C, C), uni(1 / math.sqrt(C), C), uni(1 / math.sqrt(C), 2, C), uni(1 / math.sqrt(C), 2))
    params = [t for ly in aot for t in ly] + list(head)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    if args.lengths:
        batches = padded_batches(cfg, read_lengths(args.lengths, args.batch, args.max_batches), 3)
    else:
        batches = [(random_ids(cfg, args.batch, args.seq, 3), None)]
    labels = [torch.randint(0, 2, (ids.shape[0],), generator=g) for ids, _ in batches]
    E = w["word"]
    p = args.dropout

    def steps():  # one optimizer step per batch
        for (ids, mask), y in zip(batches, labels):
            step(ids, mask, y)

    def step(ids, mask, labels):
        opt.zero_grad(set_to_none=False)
        uniq, inv = torch.unique(ids.reshape(-1), return_inverse=True)
        xe = E[uniq]  # [U, C], frozen

        def before(l, h):
            f1w, f1b, f2w, f2b = aot[l]
            rows = ops.linear(torch.relu(ops.linear(xe, f1w, f1b)), f2w, f2b)  # [U, C]
            return h + rows.index_select(0, inv.reshape(-1)).view_as(h)

        h = forward(cfg, ops, w, ids, p, True, before, mask)
        x = F.dropout(h[:, 0], p, True)
        x = torch.tanh(ops.linear(x, head[0], head[1]))
        logits = ops.linear(F.dropout(x, p, True), head[2], head[3])
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()

    med, mn = timed(steps, args.warmup, args.iters)
    res = dict(ms_per_step=med * 1e3, ms_min=mn * 1e3, steps_per_s=1 / med,
               tokens_per_s=args.batch * args.seq / med, peak_rss_mib=peak_rss_mib(),
               trainable_params=sum(t.numel() for ly in aot for t in ly))
    if args.lengths:
        res.update(length_info(args, batches, med))
    return res


def gemm_probe(args):
    """Stock F.linear (libblas) vs dnnl_sgemm on one [1024,768]x[768,3072] product."""
    a, wt = torch.randn(1024, 768), torch.randn(3072, 768)
    fl = 2 * 1024 * 768 * 3072
    out = {}
    with torch.inference_mode():
        for name, fn in (("aten_linear", lambda: F.linear(a, wt)), ("dnnl_sgemm", lambda: _mm(a, wt, False, True))):
            med, _ = timed(fn, 1, 9)
            out[name + "_gflops"] = fl / med / 1e9
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["forward", "train", "gemm-probe", "config"], default="forward")
    ap.add_argument("--shape", default="roberta-base", choices=sorted(SHAPES) + sorted(DEBERTA_SHAPES))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lengths", help="real lengths: one token count per line; batches of --batch consecutive "
                    "sequences padded to their longest (HF dynamic padding); an iteration is one pass")
    ap.add_argument("--max-batches", type=int, default=0, help="with --lengths: at most this many batches")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--gemm", choices=["dnnl", "aten", "qdyn"], default="dnnl")
    ap.add_argument("--layers", type=int, default=0, help="cut the model to this many layers (0: the shape's)")
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--pos-cache", action="store_true",
                    help="DeBERTa: project the relative embeddings once, outside the timed forward "
                         "(as aotp does for frozen weights); default: every forward, as HF")
    args = ap.parse_args()

    global DNNL
    if args.gemm in ("dnnl", "qdyn") or args.mode == "gemm-probe":
        DNNL = Dnnl()  # Debian's torch ships libdnnl.so.2; pip wheels link oneDNN statically
    torch.set_num_threads(args.threads)
    info = dict(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                interop_threads=torch.get_num_interop_threads(),
                omp_num_threads_env=os.environ.get("OMP_NUM_THREADS"),
                openblas_coretype_env=os.environ.get("OPENBLAS_CORETYPE"), gemm=args.gemm)
    if args.mode == "config":
        info["parallel_info"] = torch.__config__.parallel_info()
        info["config"] = torch.__config__.show()
        print(json.dumps(info))
        return
    if args.mode == "gemm-probe":
        info.update(gemm_probe(args))
        print(json.dumps(info))
        return
    if args.gemm == "qdyn" and args.mode != "forward":
        ap.error("--gemm qdyn: --mode forward only (int8 inference)")
    torch.manual_seed(1)
    if args.shape in DEBERTA_SHAPES:
        if args.mode != "forward":
            ap.error("DeBERTa shapes: --mode forward only")
        cfg, w = deberta_random_weights(args.shape, args.layers)
    else:
        cfg, w = random_weights(args.shape, args.layers)
    ops = Ops(args.gemm)
    res = dict(model=args.shape, batch=args.batch, seq=args.seq, iters=args.iters, layers=cfg["L"], **info)
    if cfg["model_type"] == "deberta-v2":
        res["pos_cache"] = args.pos_cache
    if args.mode == "forward":
        res.update(run_forward(args, cfg, w, ops))
    else:
        res.update(method="aot", reparam="fc", rank=args.rank)
        res.update(run_train(args, cfg, w, ops))
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
