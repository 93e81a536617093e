"""Reference DeBERTa encoders (v1 `deberta`, v2/v3 `deberta-v2`) in plain torch.

Written from the DeBERTa / DeBERTaV3 papers and the semantics of Hugging Face
transformers' modeling_deberta.py and modeling_deberta_v2.py (eval mode:
StableDropout is the identity); no transformers import. See DEBERTA.md for
the semantics, the HF function each piece corresponds to, and the pitfalls.

Functional style as in model.py: weights live in a dict keyed by HF names with
the checkpoint prefix (`deberta.`) stripped; the dtype of the weights is the
compute dtype (float32 golden run, float64 reference run).
"""
import math

import torch
import torch.nn.functional as F

ACTS = {
    "gelu": F.gelu,  # exact erf GELU (HF GELUActivation)
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))),
    "relu": F.relu,
    "tanh": torch.tanh,
}


# methods that change projections (deberta_methods_golden.py): when set,
# LINEAR_HOOK(prefix, x, y) returns the output of projection `prefix` for
# input x given the frozen output y. Like a PEFT-wrapped module, it sees
# every call of the module -- with share_att_key also query_proj/key_proj
# applied to the relative embeddings.
LINEAR_HOOK = None

# checks only: when a dict, each attention stores its pre-softmax scores
# [B,H,T,T] under its weight prefix ("encoder.layer.{l}.attention.self.")
CAPTURE = None


# ------------------------------------------------------------------ config
def parse_pos_att_type(v):
    """HF DebertaConfig/DebertaV2Config: a string "c2p|p2c" is split on '|',
    lower-cased and stripped; a list is taken as is; None -> []."""
    if v is None:
        return []
    if isinstance(v, str):
        return [x.strip() for x in v.lower().split("|")]
    return list(v)


def resolve(cfg):
    """The derived hyper-parameters, with HF's getattr defaults."""
    v2 = cfg["model_type"] == "deberta-v2"
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    r = {
        "v2": v2,
        "C": C,
        "H": H,
        # v1 always uses C // H; v2 honours attention_head_size
        "D": cfg.get("attention_head_size", C // H) if v2 else C // H,
        "E": cfg.get("embedding_size", C),
        "eps": cfg["layer_norm_eps"],
        "pos_att_type": parse_pos_att_type(cfg.get("pos_att_type")),
        "relative_attention": cfg.get("relative_attention", False),
        "position_biased_input": cfg.get("position_biased_input", True),
        "type_vocab_size": cfg["type_vocab_size"],
        "act": cfg["hidden_act"],
        "pooler_act": cfg.get("pooler_hidden_act", "gelu"),
    }
    mrp = cfg.get("max_relative_positions", -1)
    if mrp < 1:
        mrp = cfg["max_position_embeddings"]
    r["max_rel"] = mrp
    if v2:
        r["buckets"] = cfg.get("position_buckets", -1)
        # DisentangledSelfAttention.pos_ebd_size (v2): the attention span
        r["span"] = r["buckets"] if r["buckets"] > 0 else mrp
        r["share_att_key"] = cfg.get("share_att_key", False)
        r["norm_rel_ln"] = "layer_norm" in [x.strip() for x in cfg.get("norm_rel_ebd", "none").lower().split("|")]
        r["conv_k"] = cfg.get("conv_kernel_size", 0)
        r["conv_act"] = cfg.get("conv_act", "tanh")
        r["conv_groups"] = cfg.get("conv_groups", 1)
        # v2: 1 + ("c2p" in types) + ("p2c" in types)
        r["scale_factor"] = 1 + ("c2p" in r["pos_att_type"]) + ("p2c" in r["pos_att_type"])
    else:
        # v1: 1 + len(pos_att_type) (counts every entry, even unsupported ones)
        r["scale_factor"] = 1 + len(r["pos_att_type"])
    return r


# ------------------------------------------------------------------ positions
def make_log_bucket_position(rel, bucket_size, max_position):
    """HF make_log_bucket_position, computed in float32 exactly as HF does
    (rel: int64 tensor). Odd-symmetric: bucket(-r) == -bucket(r)."""
    sign = torch.sign(rel)
    mid = bucket_size // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.tensor(mid - 1).type_as(rel), torch.abs(rel))
    # int64 / int -> float32; the log of the python float (max_position-1)/mid is float32 too
    log_pos = (
        torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    )
    return torch.where(abs_pos <= mid, rel.type_as(log_pos), log_pos * sign).to(torch.long)


def relative_position(r, T):
    """[T,T] int64: rel[i,j] = i - j (query i, key j); v2 with buckets > 0
    maps it through make_log_bucket_position(max_position=max_rel)."""
    ids = torch.arange(T, dtype=torch.long)
    rel = ids[:, None] - ids[None, :]
    if r["v2"] and r["buckets"] > 0 and r["max_rel"] > 0:
        rel = make_log_bucket_position(rel, r["buckets"], r["max_rel"])
    return rel


# ------------------------------------------------------------------ pieces
def linear(w, p, x, bias=True):
    y = F.linear(x, w[p + ".weight"], w[p + ".bias"] if bias else None)
    if LINEAR_HOOK is not None:
        y = LINEAR_HOOK(p, x, y)
    return y


def layer_norm(r, w, p, x):
    if r["v2"]:
        # torch.nn.LayerNorm
        return F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], r["eps"])
    # v1 DebertaLayerNorm: the same function, written out (HF upcasts to
    # float32 here; this reference keeps the compute dtype, see DEBERTA.md)
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + r["eps"])
    return w[p + ".weight"] * y + w[p + ".bias"]


def embeddings(r, w, input_ids, token_type_ids, mask):
    """DebertaEmbeddings / DebertaV2Embeddings.forward (position_ids = 0..T-1)."""
    B, T = input_ids.shape
    e = w["embeddings.word_embeddings.weight"][input_ids]
    if r["position_biased_input"]:
        e = e + w["embeddings.position_embeddings.weight"][:T].unsqueeze(0)
    if r["type_vocab_size"] > 0:
        e = e + w["embeddings.token_type_embeddings.weight"][token_type_ids]
    if r["E"] != r["C"]:
        e = F.linear(e, w["embeddings.embed_proj.weight"])  # no bias
    e = layer_norm(r, w, "embeddings.LayerNorm", e)
    return e * mask.to(e.dtype).unsqueeze(-1)


def xsoftmax(scores, mask2d):
    """XSoftmax: masked_fill(~mask, finfo.min) -> softmax -> masked_fill(~mask, 0).
    mask2d: bool [B,1,T,T]. Fully masked (padded) query rows become all 0."""
    rmask = ~mask2d
    x = scores.masked_fill(rmask, torch.finfo(scores.dtype).min)
    return torch.softmax(x, -1).masked_fill(rmask, 0.0)


def heads(x, H):
    """[B,T,H*D] -> [B,H,T,D] (transpose_for_scores)."""
    B, T, _ = x.shape
    return x.view(B, T, H, -1).permute(0, 2, 1, 3)


def scale_of(r, dtype):
    return torch.tensor(math.sqrt(r["D"] * r["scale_factor"]), dtype=dtype)


# ------------------------------------------------------------------ attention
def attention_v2(r, w, p, h, mask2d, rel_pos, rel_emb):
    """v2 DisentangledSelfAttention.forward + disentangled_attention_bias."""
    H = r["H"]
    q = heads(linear(w, p + "query_proj", h), H)
    k = heads(linear(w, p + "key_proj", h), H)
    v = heads(linear(w, p + "value_proj", h), H)
    scale = scale_of(r, h.dtype)
    scores = torch.matmul(q, k.transpose(-1, -2)) / scale
    if r["relative_attention"]:
        span = r["span"]
        T = h.shape[1]
        re = rel_emb[0 : 2 * span].unsqueeze(0)  # [1, 2span, C]
        if r["share_att_key"]:
            pos_q = heads(linear(w, p + "query_proj", re), H)  # [1,H,2span,D]
            pos_k = heads(linear(w, p + "key_proj", re), H)
        else:
            if "c2p" in r["pos_att_type"]:
                pos_k = heads(linear(w, p + "pos_key_proj", re), H)
            if "p2c" in r["pos_att_type"]:
                pos_q = heads(linear(w, p + "pos_query_proj", re), H)
        score = 0
        if "c2p" in r["pos_att_type"]:
            c2p = torch.matmul(q, pos_k.transpose(-1, -2))  # [B,H,T,2span]
            idx = torch.clamp(rel_pos + span, 0, 2 * span - 1)  # [T,T]
            c2p = torch.gather(c2p, -1, idx.expand(c2p.shape[0], H, T, T))
            score = score + c2p / scale
        if "p2c" in r["pos_att_type"]:
            p2c = torch.matmul(k, pos_q.transpose(-1, -2))  # [B,H,T(key),2span]
            idx = torch.clamp(-rel_pos + span, 0, 2 * span - 1)
            p2c = torch.gather(p2c, -1, idx.expand(p2c.shape[0], H, T, T)).transpose(-1, -2)
            score = score + p2c / scale
        scores = scores + score
    if CAPTURE is not None:
        CAPTURE[p] = scores
    probs = xsoftmax(scores, mask2d)
    ctx = torch.matmul(probs, v)
    B, _, T, D = ctx.shape
    return ctx.permute(0, 2, 1, 3).contiguous().view(B, T, H * D)


def attention_v1(r, w, p, h, mask2d, rel_pos, rel_emb):
    """v1 DisentangledSelfAttention.forward + disentangled_att_bias."""
    H, D = r["H"], r["D"]
    B, T, C = h.shape
    qkv = linear(w, p + "in_proj", h, bias=False)  # [B,T,3C], no bias
    # transpose_for_scores(qkv).chunk(3, -1): per head the 3D block is [q|k|v]
    qkv = qkv.view(B, T, H, 3 * D).permute(0, 2, 1, 3)
    q, k, v = qkv[..., :D], qkv[..., D : 2 * D], qkv[..., 2 * D :]
    q = q + heads(w[p + "q_bias"].view(1, 1, C), H)
    v = v + heads(w[p + "v_bias"].view(1, 1, C), H)
    scale = scale_of(r, h.dtype)
    q = q / scale  # v1 scales the query (used by c2p too)
    scores = torch.matmul(q, k.transpose(-1, -2))
    if r["relative_attention"]:
        mr = r["max_rel"]
        span = min(T, mr)  # att_span = min(max(q_len, k_len), max_relative_positions)
        re = rel_emb[mr - span : mr + span].unsqueeze(0)  # [1, 2span, C]
        score = 0
        if "c2p" in r["pos_att_type"]:
            pos_k = heads(F.linear(re, w[p + "pos_proj.weight"]), H)  # no bias
            c2p = torch.matmul(q, pos_k.transpose(-1, -2))
            idx = torch.clamp(rel_pos + span, 0, 2 * span - 1)
            c2p = torch.gather(c2p, -1, idx.expand(B, H, T, T))
            score = score + c2p
        if "p2c" in r["pos_att_type"]:
            pos_q = heads(linear(w, p + "pos_q_proj", re), H) / scale  # with bias
            p2c = torch.matmul(k, pos_q.transpose(-1, -2))
            idx = torch.clamp(-rel_pos + span, 0, 2 * span - 1)
            p2c = torch.gather(p2c, -1, idx.expand(B, H, T, T)).transpose(-1, -2)
            score = score + p2c
        scores = scores + score
    if CAPTURE is not None:
        CAPTURE[p] = scores
    probs = xsoftmax(scores, mask2d)
    ctx = torch.matmul(probs, v)
    return ctx.permute(0, 2, 1, 3).contiguous().view(B, T, C)


def layer(r, w, l, h, mask2d, rel_pos, rel_emb):
    """DebertaLayer / DebertaV2Layer (post-LN, as BERT)."""
    p = "encoder.layer.%d." % l
    att = attention_v2 if r["v2"] else attention_v1
    ctx = att(r, w, p + "attention.self.", h, mask2d, rel_pos, rel_emb)
    a = layer_norm(r, w, p + "attention.output.LayerNorm", linear(w, p + "attention.output.dense", ctx) + h)
    i = ACTS[r["act"]](linear(w, p + "intermediate.dense", a))
    return layer_norm(r, w, p + "output.LayerNorm", linear(w, p + "output.dense", i) + a)


def conv_layer(r, w, x0, layer0_out, mask):
    """v2 ConvLayer.forward(hidden_states=x0 (the input of layer 0),
    residual_states=layer0_out, input_mask=mask)."""
    k = r["conv_k"]
    out = F.conv1d(
        x0.permute(0, 2, 1),
        w["encoder.conv.conv.weight"],
        w["encoder.conv.conv.bias"],
        padding=(k - 1) // 2,
        groups=r["conv_groups"],
    ).permute(0, 2, 1)
    m = mask.to(x0.dtype).unsqueeze(-1)
    out = out.masked_fill(m == 0, 0.0)
    out = ACTS[r["conv_act"]](out)
    y = layer_norm(r, w, "encoder.conv.LayerNorm", layer0_out + out)
    return y * m


def rel_embeddings(r, w):
    if not r["relative_attention"]:
        return None
    e = w["encoder.rel_embeddings.weight"]
    if r["v2"] and r["norm_rel_ln"]:
        e = layer_norm(r, w, "encoder.LayerNorm", e)
    return e


def encode(cfg, w, input_ids, attention_mask, token_type_ids, layer_bias=None, hooks=None):
    """Returns hidden_states: list of L+1 [B,T,C]; hs[l] is the input of
    layer l (hs[0] = embeddings output, hs[1] = after layer 0 *and* the conv
    when present), hs[L] the last hidden state -- as HF's hidden_states.

    layer_bias(l) -> [B,T,C] or None: added to the input of layer l before it
    runs (AoT); for l = 0 the conv (v2 conv_kernel_size > 0) sees the biased
    input too. hooks(l, x): called with the actual input tensor x of layer l
    (after the bias), e.g. to retain_grad.
    """
    r = resolve(cfg)
    T = input_ids.shape[1]
    mask = attention_mask
    m = mask.to(torch.bool)
    mask2d = (m[:, None, None, :] & m[:, None, :, None])  # [B,1,T,T]: m_i * m_j
    h = embeddings(r, w, input_ids, token_type_ids, mask)
    rel_pos = relative_position(r, T) if r["relative_attention"] else None
    rel_emb = rel_embeddings(r, w)
    hs = [h]
    for l in range(cfg["num_hidden_layers"]):
        x = h
        if layer_bias is not None:
            b = layer_bias(l)
            if b is not None:
                x = x + b
        if hooks is not None:
            x = hooks(l, x)
        h = layer(r, w, l, x, mask2d, rel_pos, rel_emb)
        if l == 0 and r["v2"] and r["conv_k"] > 0:
            h = conv_layer(r, w, x, h, mask)
        hs.append(h)
    return hs


def context_pooler(cfg, head, last_hidden):
    """ContextPooler: act(dense(h[:, 0])), act = pooler_hidden_act (default gelu)."""
    r = resolve(cfg)
    x = F.linear(last_hidden[:, 0], head["pooler.dense.weight"], head["pooler.dense.bias"])
    return ACTS[r["pooler_act"]](x)


def classify(cfg, head, last_hidden):
    """DebertaForSequenceClassification: classifier(dropout(pooler(h)))."""
    pooled = context_pooler(cfg, head, last_hidden)
    return pooled, F.linear(pooled, head["classifier.weight"], head["classifier.bias"])


# ------------------------------------------------------------------ naive
def naive_scores(cfg, w, l, h):
    """Loop form of the pre-softmax scores of layer l (no mask), float64
    friendly: s[b,n,i,j] = (q_i.k_j + q_i.pk[idx(i,j)] + k_j.pq[idx(i,j)]) / sqrt(D*sf)
    with idx(i,j) = clamp(bucket(i-j) + max_rel, 0, 2*max_rel-1) (v1, full
    table) or clamp(bucket(i-j) + span, 0, 2*span-1) (v2). Used by the checks
    to confirm the gather/transpose form."""
    r = resolve(cfg)
    p = "encoder.layer.%d.attention.self." % l
    H, D, C = r["H"], r["D"], r["C"]
    B, T, _ = h.shape
    re = rel_embeddings(r, w)
    if r["v2"]:
        q = linear(w, p + "query_proj", h)
        k = linear(w, p + "key_proj", h)
        span = r["span"]
        pk_w = "key_proj" if r["share_att_key"] else "pos_key_proj"
        pq_w = "query_proj" if r["share_att_key"] else "pos_query_proj"
        pk = linear(w, p + pk_w, re) if "c2p" in r["pos_att_type"] else None
        pq = linear(w, p + pq_w, re) if "p2c" in r["pos_att_type"] else None
    else:
        Wq = torch.cat([w[p + "in_proj.weight"][n * 3 * D : n * 3 * D + D] for n in range(H)])
        Wk = torch.cat([w[p + "in_proj.weight"][n * 3 * D + D : n * 3 * D + 2 * D] for n in range(H)])
        q = F.linear(h, Wq, w[p + "q_bias"])
        k = F.linear(h, Wk)
        span = r["max_rel"]
        pk = F.linear(re, w[p + "pos_proj.weight"]) if "c2p" in r["pos_att_type"] else None
        pq = linear(w, p + "pos_q_proj", re) if "p2c" in r["pos_att_type"] else None
    sc = math.sqrt(D * r["scale_factor"])
    rel = relative_position(r, T)
    out = torch.zeros(B, H, T, T, dtype=h.dtype)
    for b in range(B):
        for n in range(H):
            sl = slice(n * D, (n + 1) * D)
            for i in range(T):
                for j in range(T):
                    s = torch.dot(q[b, i, sl], k[b, j, sl])
                    idx = min(max(int(rel[i, j]) + span, 0), 2 * span - 1)
                    if pk is not None:
                        s = s + torch.dot(q[b, i, sl], pk[idx, sl])
                    if pq is not None:
                        s = s + torch.dot(k[b, j, sl], pq[idx, sl])
                    out[b, n, i, j] = s / sc
    return out
