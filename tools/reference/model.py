"""Reference BERT / RoBERTa encoder and AoT P-Tuning in plain torch.

Written from the semantics of Hugging Face transformers' modeling_bert.py /
modeling_roberta.py ("eager" attention path, eval mode so dropout is the
identity) and the AoT P-Tuning paper; no transformers import.

All functions are functional: weights live in a dict keyed by HF names with
the checkpoint prefix (`bert.` / `roberta.`) stripped.
"""
import math

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- activations
def gelu_erf(x):
    # HF "gelu" -> GELUActivation -> torch.nn.functional.gelu (exact erf form)
    return F.gelu(x)


def gelu_tanh(x):
    # HF "gelu_new" -> NewGELUActivation:
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTS = {
    "gelu": gelu_erf,
    "gelu_new": gelu_tanh,
    "relu": F.relu,
    "tanh": torch.tanh,
}


# ---------------------------------------------------------------- positions
def position_ids(cfg, input_ids):
    """BERT: 0..T-1. RoBERTa: cumsum over non-pad tokens, offset by pad id;
    pad tokens get position id == pad_token_id."""
    B, T = input_ids.shape
    if cfg["model_type"] == "roberta":
        pad = cfg["pad_token_id"]
        m = (input_ids != pad).to(torch.int32)
        inc = torch.cumsum(m, dim=1).to(torch.int32) * m
        return inc.to(torch.int64) + pad
    return torch.arange(T, dtype=torch.int64).unsqueeze(0).expand(B, T)


# ---------------------------------------------------------------- encoder
def linear(w, p, x):
    return F.linear(x, w[p + ".weight"], w[p + ".bias"])


def layer_norm(cfg, w, p, x):
    return F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], cfg["layer_norm_eps"])


def embeddings(cfg, w, input_ids, token_type_ids):
    pos = position_ids(cfg, input_ids)
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    e = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.token_type_embeddings.weight"][token_type_ids]
    )
    e = e + w["embeddings.position_embeddings.weight"][pos]
    return layer_norm(cfg, w, "embeddings.LayerNorm", e)


def extended_mask(attention_mask, dtype):
    # HF get_extended_attention_mask: [B,1,1,T], (1 - m) * finfo(dtype).min
    m = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - m) * torch.finfo(dtype).min


def layer(cfg, w, l, h, ext):
    p = "encoder.layer.%d." % l
    B, T, C = h.shape
    H = cfg["num_attention_heads"]
    D = C // H

    def heads(x):
        return x.view(B, T, H, D).permute(0, 2, 1, 3)

    q = heads(linear(w, p + "attention.self.query", h))
    k = heads(linear(w, p + "attention.self.key", h))
    v = heads(linear(w, p + "attention.self.value", h))
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores / math.sqrt(D)
    scores = scores + ext
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
    a = linear(w, p + "attention.output.dense", ctx)
    a = layer_norm(cfg, w, p + "attention.output.LayerNorm", a + h)
    i = ACTS[cfg["hidden_act"]](linear(w, p + "intermediate.dense", a))
    o = linear(w, p + "output.dense", i)
    return layer_norm(cfg, w, p + "output.LayerNorm", o + a)


def encode(cfg, w, input_ids, attention_mask, token_type_ids, layer_bias=None):
    """Returns (hidden_states list of L+1 [B,T,C], pooler_output [B,C]).

    hidden_states[l] is the input of layer l (l=0: embeddings output) and
    hidden_states[L] the last hidden state -- as HF's output_hidden_states.
    layer_bias(l, input_ids) -> [B,T,C] or None is AoT's per-layer bias, added
    to the input of layer l *before* it runs (not reflected in
    hidden_states[l], which is the un-biased input).
    """
    dtype = w["embeddings.word_embeddings.weight"].dtype
    ext = extended_mask(attention_mask, dtype)
    h = embeddings(cfg, w, input_ids, token_type_ids)
    hs = [h]
    for l in range(cfg["num_hidden_layers"]):
        if layer_bias is not None:
            h = h + layer_bias(l, input_ids)
        h = layer(cfg, w, l, h, ext)
        hs.append(h)
    pooled = torch.tanh(linear(w, "pooler.dense", h[:, 0]))
    return hs, pooled


# ---------------------------------------------------------------- AoT tables
def aot_rows(spec, cfg, w, a, l, ids):
    """Bias rows P_l[ids] for the reparametrisation in spec; ids any shape."""
    if spec["reparam"] == "fc":
        E = w["embeddings.word_embeddings.weight"]
        p = "aot.layer.%d." % l
        x = F.linear(E[ids], a[p + "fc1.weight"], a[p + "fc1.bias"])
        x = ACTS[spec["activation"]](x)
        return F.linear(x, a[p + "fc2.weight"], a[p + "fc2.bias"])
    if spec["reparam"] == "kron":
        b = spec["kron_b"]
        p = "aot.layer.%d." % l
        left, mid, right = a[p + "left"], a[p + "mid"], a[p + "right"]
        r = left.shape[1]
        i = torch.div(ids, b, rounding_mode="floor")
        j = ids % b
        outer = left[i].unsqueeze(-1) * mid[j].unsqueeze(-2)  # [..., r, r] (p, q)
        outer = outer.reshape(*ids.shape, r * r)  # index p*r + q
        return torch.matmul(outer, right)
    raise ValueError(spec["reparam"])


def aot_table(spec, cfg, w, a, l):
    V = cfg["vocab_size"]
    return aot_rows(spec, cfg, w, a, l, torch.arange(V, dtype=torch.int64))


# ---------------------------------------------------------------- heads
def head_logits(spec, cfg, w, a, hs, pooled):
    task = spec["head"]
    if task == "roberta_cls":
        x = hs[-1][:, 0]
        x = torch.tanh(F.linear(x, a["classifier.dense.weight"], a["classifier.dense.bias"]))
        return F.linear(x, a["classifier.out_proj.weight"], a["classifier.out_proj.bias"])
    if task in ("bert_cls", "multichoice"):
        return F.linear(pooled, a["classifier.weight"], a["classifier.bias"])
    raise ValueError(task)


def task_forward(spec, cfg, w, a, batch, use_aot=True):
    """Returns (logits, loss). batch: input_ids/attention_mask/token_type_ids
    ([B,T] or [B,n_choices,T] for multiple choice) and labels."""
    ids = batch["input_ids"]
    mask = batch["attention_mask"]
    tt = batch["token_type_ids"]
    mc = spec["problem_type"] == "multiple_choice"
    if mc:
        nc = ids.shape[1]
        ids = ids.reshape(-1, ids.shape[-1])
        mask = mask.reshape(-1, mask.shape[-1])
        tt = tt.reshape(-1, tt.shape[-1])
    bias = None
    if use_aot:
        bias = lambda l, x: aot_rows(spec, cfg, w, a, l, x)  # noqa: E731
    hs, pooled = encode(cfg, w, ids, mask, tt, layer_bias=bias)
    logits = head_logits(spec, cfg, w, a, hs, pooled)
    labels = batch["labels"]
    if mc:
        logits = logits.view(-1, nc)
        loss = F.cross_entropy(logits, labels)
    elif spec["problem_type"] == "regression":
        loss = F.mse_loss(logits.squeeze(-1), labels)
    else:
        loss = F.cross_entropy(logits.view(-1, spec["num_labels"]), labels.view(-1))
    return logits, loss
