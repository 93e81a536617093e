#!/usr/bin/python3
"""Training goldens for P-Tuning v2 (testdata/ptv2/<case>/) and prompt tuning
(testdata/prompt/<case>/), in the layout of the AoT cases (aot_golden.py).

  /usr/bin/python3 tools/reference/ptv2_prompt_golden.py           # write goldens + self-checks
  /usr/bin/python3 tools/reference/ptv2_prompt_golden.py --check   # self-checks only, write nothing

Semantics reproduced (HF transformers' BertModel/RobertaModel as HF PEFT
drives them; no transformers import, the encoder is written here on top of
model.py's pieces):

P-Tuning v2 = PEFT PREFIX_TUNING with prefix_projection=False. PEFT calls the
backbone with past_key_values (one (key, value) pair per layer, each
[B, heads, p, head_dim]) and with the attention mask extended by p ones in
front. Inside every BertSelfAttention the prefix keys/values are concatenated
before the sequence's own projected keys/values (dim 2), scores are scaled by
1/sqrt(head_dim), the extended mask is added, softmax over the p+T keys.
The queries are the T real tokens only. Because BertModel/RobertaModel
derive past_key_values_length = p from past_key_values, the embeddings'
position ids are shifted by p:
  BERT:     positions p .. p+T-1
  RoBERTa:  (cumsum(ids != pad) + p) * (ids != pad) + pad
(`--ptv2-positions unshifted` writes the variant with positions as without
prefix, for diagnosis only.)

Prompt tuning = PEFT PROMPT_TUNING for encoders: inputs_embeds =
cat(prompt [p, d], word_embeddings(ids)); token_type_ids = cat(zeros(p),
tt); attention_mask = cat(ones(p), mask). With inputs_embeds, BERT uses
positions 0..p+T-1 and RoBERTa create_position_ids_from_inputs_embeds, i.e.
pad+1 .. pad+p+T for every position (padding included; padded positions are
masked keys, so they do not influence valid ones). The head reads position 0
(a soft token).
"""
import sys

sys.dont_write_bytecode = True  # keep tools/reference free of __pycache__

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import aot_golden as AG  # noqa: E402
import checkpoints as ck  # noqa: E402
import model as M  # noqa: E402
import st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.path.join(REPO, "testdata")

STEPS = AG.STEPS
BETAS = AG.BETAS
EPS = AG.EPS

_BASE = {"lr": 1e-2, "weight_decay": 0.0, "clip": None, "batch_size": 4, "seq_len": 10}

# (method, case) -> spec
CASES = {
    ("ptv2", "roberta-cls"): dict(model="roberta-tiny", prefix_len=4,
                                  problem_type="single_label_classification", num_labels=3),
    ("ptv2", "bert-regression-wd"): dict(model="bert-tiny", prefix_len=3, problem_type="regression",
                                         num_labels=1, weight_decay=0.01),
    ("prompt", "roberta-cls"): dict(model="roberta-tiny", prompt_len=5,
                                    problem_type="single_label_classification", num_labels=3),
    ("prompt", "bert-multichoice"): dict(model="bert-tiny", prompt_len=3, problem_type="multiple_choice",
                                         num_labels=2, num_choices=2, scale=3.0),
}


def spec_of(method, case):
    s = dict(_BASE)
    s.update(CASES[(method, case)])
    s["method"] = method
    s["name"] = "%s/%s" % (method, case)
    s["head"] = AG.head_kind(s)
    return s


# ---------------------------------------------------------------- parameters
def trainable_shapes(spec, cfg):
    d, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    s = {}
    if spec["method"] == "ptv2":
        for l in range(L):
            s["ptv2.layer.%d.key" % l] = [spec["prefix_len"], d]
            s["ptv2.layer.%d.value" % l] = [spec["prefix_len"], d]
    else:
        s["prompt.embeddings"] = [spec["prompt_len"], d]
    nl = spec["num_labels"]
    if spec["head"] == "roberta_cls":
        s["classifier.dense.weight"] = [d, d]
        s["classifier.dense.bias"] = [d]
        s["classifier.out_proj.weight"] = [nl, d]
        s["classifier.out_proj.bias"] = [nl]
    elif spec["head"] == "bert_cls":
        s["classifier.weight"] = [nl, d]
        s["classifier.bias"] = [nl]
    else:
        s["classifier.weight"] = [1, d]
        s["classifier.bias"] = [1]
    return s


def init_params(spec, cfg):
    rng = np.random.default_rng(ck.seed_of("init/" + spec["name"]))
    shapes = trainable_shapes(spec, cfg)
    out = {}
    for k in sorted(shapes):
        n = rng.standard_normal(size=shapes[k])
        if k.startswith(("ptv2.", "prompt.")):
            v = 0.5 * n
        elif k.endswith(".bias"):
            v = 0.1 * n
        else:
            v = 0.2 * n
        if k.startswith("classifier."):
            v = v * spec.get("scale", 1.0)  # larger logit gaps between choices
        out[k] = v.astype(np.float32)
    return out


# ---------------------------------------------------------------- encoder
def roberta_positions_from_ids(input_ids, pad, past):
    # HF create_position_ids_from_input_ids(input_ids, padding_idx, past_key_values_length)
    m = (input_ids != pad).to(torch.int64)
    return (torch.cumsum(m, dim=1) + past) * m + pad


def embed(cfg, w, words, pos, tt):
    """LayerNorm((words + type[tt]) + position[pos]); words [B,T,C]."""
    e = words + w["embeddings.token_type_embeddings.weight"][tt]
    e = e + w["embeddings.position_embeddings.weight"][pos]
    return M.layer_norm(cfg, w, "embeddings.LayerNorm", e)


def attn_layer(cfg, w, l, h, ext, pk=None, pv=None):
    """BertLayer l with optional prefix keys/values pk, pv [P, C] (shared by
    the batch); ext [B,1,1,P+T] (or [B,1,1,T] without a prefix)."""
    p = "encoder.layer.%d." % l
    B, T, C = h.shape
    H = cfg["num_attention_heads"]
    D = C // H

    def heads(x):
        return x.view(B, T, H, D).permute(0, 2, 1, 3)

    q = heads(M.linear(w, p + "attention.self.query", h))
    k = heads(M.linear(w, p + "attention.self.key", h))
    v = heads(M.linear(w, p + "attention.self.value", h))
    if pk is not None:
        P = pk.shape[0]
        # past_key_value[0] is [B, H, P, D]: head h = columns h*D:(h+1)*D
        kp = pk.view(P, H, D).permute(1, 0, 2).unsqueeze(0).expand(B, H, P, D)
        vp = pv.view(P, H, D).permute(1, 0, 2).unsqueeze(0).expand(B, H, P, D)
        k = torch.cat([kp, k], dim=2)
        v = torch.cat([vp, v], dim=2)
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores / math.sqrt(D)
    scores = scores + ext
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
    a = M.linear(w, p + "attention.output.dense", ctx)
    a = M.layer_norm(cfg, w, p + "attention.output.LayerNorm", a + h)
    i = M.ACTS[cfg["hidden_act"]](M.linear(w, p + "intermediate.dense", a))
    o = M.linear(w, p + "output.dense", i)
    return M.layer_norm(cfg, w, p + "output.LayerNorm", o + a)


def encode_ptv2(spec, cfg, w, a, ids, mask, tt):
    P = spec["prefix_len"]
    B, T = ids.shape
    dtype = w["embeddings.word_embeddings.weight"].dtype
    past = P if spec.get("ptv2_positions", "hf") == "hf" else 0
    if cfg["model_type"] == "roberta":
        pos = roberta_positions_from_ids(ids, cfg["pad_token_id"], past)
    else:
        pos = torch.arange(past, past + T, dtype=torch.int64).unsqueeze(0).expand(B, T)
    h = embed(cfg, w, w["embeddings.word_embeddings.weight"][ids], pos, tt)
    full_mask = torch.cat([torch.ones(B, P, dtype=mask.dtype), mask], dim=1)
    ext = M.extended_mask(full_mask, dtype)
    hs = [h]
    for l in range(cfg["num_hidden_layers"]):
        h = attn_layer(cfg, w, l, h, ext, a["ptv2.layer.%d.key" % l], a["ptv2.layer.%d.value" % l])
        hs.append(h)
    pooled = torch.tanh(M.linear(w, "pooler.dense", h[:, 0]))
    return hs, pooled


def encode_prompt(spec, cfg, w, a, ids, mask, tt):
    prompt = a["prompt.embeddings"]
    P = prompt.shape[0]
    B, T = ids.shape
    dtype = w["embeddings.word_embeddings.weight"].dtype
    words = torch.cat([prompt.unsqueeze(0).expand(B, P, prompt.shape[1]),
                       w["embeddings.word_embeddings.weight"][ids]], dim=1)
    tt = torch.cat([torch.zeros(B, P, dtype=tt.dtype), tt], dim=1)
    full_mask = torch.cat([torch.ones(B, P, dtype=mask.dtype), mask], dim=1)
    n = P + T
    if cfg["model_type"] == "roberta":
        # HF create_position_ids_from_inputs_embeds: sequential from pad+1
        pad = cfg["pad_token_id"]
        pos = torch.arange(pad + 1, n + pad + 1, dtype=torch.int64).unsqueeze(0).expand(B, n)
    else:
        pos = torch.arange(n, dtype=torch.int64).unsqueeze(0).expand(B, n)
    h = embed(cfg, w, words, pos, tt)
    ext = M.extended_mask(full_mask, dtype)
    hs = [h]
    for l in range(cfg["num_hidden_layers"]):
        h = attn_layer(cfg, w, l, h, ext)
        hs.append(h)
    pooled = torch.tanh(M.linear(w, "pooler.dense", h[:, 0]))
    return hs, pooled


def task_forward(spec, cfg, w, a, batch):
    ids, mask, tt = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    mc = spec["problem_type"] == "multiple_choice"
    if mc:
        nc = ids.shape[1]
        ids, mask, tt = (x.reshape(-1, x.shape[-1]) for x in (ids, mask, tt))
    enc = encode_ptv2 if spec["method"] == "ptv2" else encode_prompt
    hs, pooled = enc(spec, cfg, w, a, ids, mask, tt)
    logits = M.head_logits(spec, cfg, w, a, hs, pooled)
    labels = batch["labels"]
    if mc:
        logits = logits.view(-1, nc)
        loss = F.cross_entropy(logits, labels)
    elif spec["problem_type"] == "regression":
        loss = F.mse_loss(logits.squeeze(-1), labels)
    else:
        loss = F.cross_entropy(logits.view(-1, spec["num_labels"]), labels.view(-1))
    return logits, loss


# ---------------------------------------------------------------- training
def train(spec, cfg, w, init, batches, dtype=torch.float32):
    return AG.train(spec, cfg, w, init, batches, dtype, forward=task_forward)


def adapter_config(spec, cfg):
    c = AG.base_config(spec, cfg, spec["method"])
    if spec["method"] == "ptv2":
        c["prefix_len"] = spec["prefix_len"]
    else:
        c["prompt_len"] = spec["prompt_len"]
    return c


def hparams(spec):
    h = AG.hparams(spec)
    h["method"] = spec["method"]
    if spec["method"] == "ptv2":
        h["position_ids"] = ("shifted by prefix_len (HF past_key_values_length)"
                             if spec.get("ptv2_positions", "hf") == "hf" else "unshifted (diagnostic variant)")
    return h


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def backbone(spec, dtype):
    cfg, _, w, _ = ck.make_weights(spec["model"])
    return cfg, {k: torch.from_numpy(v).to(dtype) for k, v in w.items()}


def write_case(spec, cfg, init, batches, res, testdata):
    d = os.path.join(testdata, spec["method"], spec["name"].split("/", 1)[1])
    os.makedirs(os.path.join(d, "init"), exist_ok=True)
    write_json(os.path.join(d, "init", "adapter_config.json"), adapter_config(spec, cfg))
    st.save(os.path.join(d, "init", "adapter_model.safetensors"), init)
    write_json(os.path.join(d, "hparams.json"), hparams(spec))
    g = AG.golden_tensors(batches, res)
    st.save(os.path.join(d, "golden.safetensors"), g)
    return d


# ---------------------------------------------------------------- self-checks
def max_rel(a, b):
    """max |a-b| / max(max|b|, 1e-3), as train/parity_test.go's relClose."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3))


def check_f64(spec, init, batches, res32, tol=1e-5):
    """The float32 run against the same run in float64 (same float32 weights
    and init, widened)."""
    cfg, w64 = backbone(spec, torch.float64)
    res64 = train(spec, cfg, w64, init, batches, torch.float64)
    worst = {}
    worst["loss"] = float(np.max(np.abs(np.array(res32["loss"]) - np.array(res64["loss"]))))
    skip = set(hparams(spec).get("roundoff_driven") or [])  # true gradient 0: float noise
    for k in res32:
        if k.startswith(("grad.", "final.", "logits.")) and k not in skip:
            worst[k] = max_rel(res32[k].numpy(), res64[k].numpy())
    bad = {k: v for k, v in worst.items() if v > tol}
    print("  f64 check %-26s worst %.2e (%s)%s" % (spec["name"], max(worst.values()),
                                                   max(worst, key=worst.get),
                                                   "" if not bad else "  FAIL %s" % bad))
    return not bad


def check_invariance(spec, init, batches):
    """Padding must not influence valid positions: the logits of each
    sequence alone (trimmed to its length) equal its row in the padded batch."""
    cfg, w = backbone(spec, torch.float64)
    a = {k: torch.from_numpy(v).to(torch.float64) for k, v in init.items()}
    b = AG.torch_batch(batches[0], torch.float64)
    with torch.no_grad():
        full, _ = task_forward(spec, cfg, w, a, b)
        worst = 0.0
        for i in range(b["input_ids"].shape[0]):
            m = b["attention_mask"][i]
            n = int(m.reshape(-1, m.shape[-1]).sum(-1).max())
            one = {k: v[i:i + 1][..., :n] if k != "labels" else v[i:i + 1] for k, v in b.items()}
            lo, _ = task_forward(spec, cfg, w, a, one)
            worst = max(worst, float((lo[0] - full[i]).abs().max()))
    ok = worst < 1e-12
    print("  padding  %-26s worst %.2e%s" % (spec["name"], worst, "" if ok else "  FAIL"))
    return ok


def gradcheck(spec, init, batches):
    """torch.autograd.gradcheck (float64) of the loss w.r.t. all trainable
    tensors, on the first two sequences of batch 0."""
    cfg, w = backbone(spec, torch.float64)
    names = sorted(init)
    b = AG.torch_batch(batches[0], torch.float64)
    b = {k: v[:2] for k, v in b.items()}
    ts = tuple(torch.from_numpy(init[k]).to(torch.float64).requires_grad_(True) for k in names)

    def f(*xs):
        return task_forward(spec, cfg, w, dict(zip(names, xs)), b)[1]

    ok = torch.autograd.gradcheck(f, ts, eps=1e-6, atol=1e-6, rtol=1e-4)
    print("  gradcheck %-25s %s" % (spec["name"], "ok" if ok else "FAIL"))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="self-checks only; write nothing")
    ap.add_argument("--out", default=TESTDATA, help="testdata root (default: the repo's)")
    ap.add_argument("--ptv2-positions", choices=["hf", "unshifted"], default="hf",
                    help="hf (default): BERT/RoBERTa shift position ids by the prefix length, "
                         "as with past_key_values; unshifted: diagnostic variant")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ok = True
    for method, case in CASES:
        spec = spec_of(method, case)
        spec["ptv2_positions"] = args.ptv2_positions
        cfg, w = backbone(spec, torch.float32)
        init = init_params(spec, cfg)
        # same batch generator as the AoT cases, seeded by this case's name
        batches = AG.make_batches(spec["name"], spec, cfg)
        res = train(spec, cfg, w, init, batches)
        if not args.check:
            d = write_case(spec, cfg, init, batches, res, args.out)
            print("wrote %s  loss %s" % (d, " ".join("%.4f" % x for x in res["loss"])))
        ok &= check_f64(spec, init, batches, res)
        ok &= check_invariance(spec, init, batches)
        if case in ("roberta-cls",):
            ok &= gradcheck(spec, init, batches)
    if not ok:
        sys.exit("self-checks FAILED")
    print("self-checks passed")


if __name__ == "__main__":
    main()
