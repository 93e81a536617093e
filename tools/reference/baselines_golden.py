#!/usr/bin/python3
"""Training goldens of the baseline methods BitFit and bottleneck adapters,
under testdata/bitfit/<case>/ and testdata/adapter/<case>/, in the layout of
the AoT cases (aot_golden.py): init/{adapter_config.json,
adapter_model.safetensors}, hparams.json, golden.safetensors with the 10
batches, step-0 gradients grad.<name>, loss [10], final.<name>, logits.0.

  /usr/bin/python3 tools/reference/baselines_golden.py

Semantics (written from the papers and the adapter directory contract in
the interfaces spec; plain torch, no transformers/peft):

- bitfit: the trainable tensors are the backbone's biases under HF's task
  model names (`roberta.` / `bert.` + backbone name): every linear bias of
  every layer, both LayerNorm biases of every layer and
  embeddings.LayerNorm.bias. The forward pass is the backbone's with those
  values in place of the checkpoint's. Init: the checkpoint's value plus
  N(0, 0.1²) noise, so the trained value differs from the frozen one.
- adapter: h <- h + up(act(down(h))) on the output h of
  attention.output.dense (Houlsby only) and output.dense (both placements),
  before the residual add and LayerNorm. Random non-zero init everywhere
  (the usual init has up = 0, which would leave down's gradient zero).

Dropout 0, constant lr, torch.optim.AdamW as in aot_golden.py.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
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

_BASE = {"lr": 1e-2, "weight_decay": 0.0, "clip": None, "batch_size": 4, "seq_len": 10}

CASES = {
    "bitfit": {
        "roberta-cls": dict(model="roberta-tiny", problem_type="single_label_classification", num_labels=3),
        "bert-regression-wd": dict(model="bert-tiny", problem_type="regression", num_labels=1,
                                   weight_decay=0.01),
    },
    "adapter": {
        "roberta-houlsby-gelu-cls": dict(model="roberta-tiny", placement="houlsby", bottleneck=8,
                                         activation="gelu", problem_type="single_label_classification",
                                         num_labels=3),
        "bert-houlsby-relu-cls-wd-clip": dict(model="bert-tiny", placement="houlsby", bottleneck=8,
                                              activation="relu", problem_type="single_label_classification",
                                              num_labels=2, weight_decay=0.01, clip=1.0),
        "bert-pfeiffer-gelu-regression": dict(model="bert-tiny", placement="pfeiffer", bottleneck=6,
                                              activation="gelu", problem_type="regression", num_labels=1),
        "roberta-pfeiffer-relu-multichoice": dict(model="roberta-tiny", placement="pfeiffer", bottleneck=8,
                                                  activation="relu", problem_type="multiple_choice",
                                                  num_labels=2, num_choices=2, scale=3.0),
    },
}

ACTS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}  # gelu: exact erf form


def spec_of(method, case):
    s = dict(_BASE)
    s.update(CASES[method][case])
    s["method"] = method
    s["head"] = AG.head_kind(s)
    return s


def bitfit_names(cfg):
    """Backbone (unprefixed) names of the trained biases."""
    names = ["embeddings.LayerNorm.bias"]
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                  "output.dense", "output.LayerNorm"):
            names.append(p + n + ".bias")
    return names


def adapter_units(spec, cfg):
    kinds = ["attention", "output"] if spec["placement"] == "houlsby" else ["output"]
    return ["adapter.layer.%d.%s" % (l, k) for l in range(cfg["num_hidden_layers"]) for k in kinds]


def head_shapes(spec, cfg):
    d, nl = cfg["hidden_size"], spec["num_labels"]
    if spec["head"] == "roberta_cls":
        return {"classifier.dense.weight": [d, d], "classifier.dense.bias": [d],
                "classifier.out_proj.weight": [nl, d], "classifier.out_proj.bias": [nl]}
    if spec["head"] == "bert_cls":
        return {"classifier.weight": [nl, d], "classifier.bias": [nl]}
    return {"classifier.weight": [1, d], "classifier.bias": [1]}


def init_params(method, case, spec, cfg, w):
    rng = np.random.default_rng(ck.seed_of(method + "/" + case))
    prefix = cfg["model_type"] + "."
    shapes = dict(head_shapes(spec, cfg))
    if method == "bitfit":
        for n in bitfit_names(cfg):
            shapes[prefix + n] = list(w[n].shape)
    else:
        d, m = cfg["hidden_size"], spec["bottleneck"]
        for u in adapter_units(spec, cfg):
            shapes[u + ".down.weight"] = [m, d]
            shapes[u + ".down.bias"] = [m]
            shapes[u + ".up.weight"] = [d, m]
            shapes[u + ".up.bias"] = [d]
    out = {}
    for k in sorted(shapes):
        n = rng.standard_normal(size=shapes[k])
        if method == "bitfit" and k.startswith(prefix):
            v = w[k[len(prefix):]].numpy().astype(np.float64) + 0.1 * n
        elif k.endswith(".bias"):
            v = 0.1 * n
        else:
            v = 0.2 * n
        if k.startswith("classifier."):
            v = v * spec.get("scale", 1.0)
        out[k] = v.astype(np.float32)
    return out


def layer(cfg, w, l, h, ext, adapt):
    """model.layer with adapt(l, kind, x) applied to the dense outputs."""
    p = "encoder.layer.%d." % l
    B, T, C = h.shape
    H = cfg["num_attention_heads"]
    D = C // H

    def heads(x):
        return x.view(B, T, H, D).permute(0, 2, 1, 3)

    q = heads(M.linear(w, p + "attention.self.query", h))
    k = heads(M.linear(w, p + "attention.self.key", h))
    v = heads(M.linear(w, p + "attention.self.value", h))
    scores = torch.matmul(q, k.transpose(-1, -2)) / (D ** 0.5)
    probs = torch.softmax(scores + ext, dim=-1)
    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
    a = adapt(l, "attention", M.linear(w, p + "attention.output.dense", ctx))
    a = M.layer_norm(cfg, w, p + "attention.output.LayerNorm", a + h)
    i = M.ACTS[cfg["hidden_act"]](M.linear(w, p + "intermediate.dense", a))
    o = adapt(l, "output", M.linear(w, p + "output.dense", i))
    return M.layer_norm(cfg, w, p + "output.LayerNorm", o + a)


def encode(spec, cfg, w, a, ids, mask, tt):
    if spec["method"] == "bitfit":
        prefix = cfg["model_type"] + "."
        w = dict(w)
        for k, v in a.items():
            if k.startswith(prefix):
                w[k[len(prefix):]] = v  # the trained bias replaces the backbone's
        hs, pooled = M.encode(cfg, w, ids, mask, tt)
        return hs[-1], pooled
    act = ACTS[spec["activation"]]

    def adapt(l, kind, x):
        u = "adapter.layer.%d.%s." % (l, kind)
        if u + "down.weight" not in a:
            return x
        z = F.linear(x, a[u + "down.weight"], a[u + "down.bias"])
        return x + F.linear(act(z), a[u + "up.weight"], a[u + "up.bias"])

    ext = M.extended_mask(mask, w["embeddings.word_embeddings.weight"].dtype)
    h = M.embeddings(cfg, w, ids, tt)
    for l in range(cfg["num_hidden_layers"]):
        h = layer(cfg, w, l, h, ext, adapt)
    pooled = torch.tanh(M.linear(w, "pooler.dense", h[:, 0]))
    return h, pooled


def task_forward(spec, cfg, w, a, batch):
    ids, mask, tt = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    mc = spec["problem_type"] == "multiple_choice"
    if mc:
        nc = ids.shape[1]
        ids, mask, tt = (x.reshape(-1, x.shape[-1]) for x in (ids, mask, tt))
    last, pooled = encode(spec, cfg, w, a, ids, mask, tt)
    logits = M.head_logits(spec, cfg, w, a, [last], pooled)
    labels = batch["labels"]
    if mc:
        logits = logits.view(-1, nc)
        loss = F.cross_entropy(logits, labels)
    elif spec["problem_type"] == "regression":
        loss = F.mse_loss(logits.squeeze(-1), labels)
    else:
        loss = F.cross_entropy(logits.view(-1, spec["num_labels"]), labels.view(-1))
    return logits, loss


def train(spec, cfg, w, init, batches):
    return AG.train(spec, cfg, w, init, batches, forward=task_forward)


def adapter_config(spec, cfg):
    c = AG.base_config(spec, cfg, spec["method"])
    if spec["method"] == "adapter":
        c.update(placement=spec["placement"], bottleneck=spec["bottleneck"], activation=spec["activation"])
    return c


def hparams(spec, cfg):
    h = AG.hparams(spec)
    rd = set(h.get("roundoff_driven", []))
    if spec["method"] == "bitfit":
        # a key bias adds q·b_k to every score of a query row: softmax is
        # shift-invariant, so its true gradient is 0 and torch's is roundoff
        # noise, which Adam turns into real steps (final values not comparable)
        for l in range(cfg["num_hidden_layers"]):
            rd.add("final.%sencoder.layer.%d.attention.self.key.bias" % (cfg["model_type"] + ".", l))
    if rd:
        h["roundoff_driven"] = sorted(rd)
    return h


def main():
    torch.set_num_threads(1)
    for method in CASES:
        for case in CASES[method]:
            spec = spec_of(method, case)
            cfg, w = AG.backbone(spec)
            init = init_params(method, case, spec, cfg, w)
            batches = AG.make_batches(method + "-" + case, spec, cfg)
            res = train(spec, cfg, w, init, batches)
            d = os.path.join(TESTDATA, method, case)
            os.makedirs(os.path.join(d, "init"), exist_ok=True)
            with open(os.path.join(d, "init", "adapter_config.json"), "w") as f:
                json.dump(adapter_config(spec, cfg), f, indent=2, sort_keys=True)
                f.write("\n")
            st.save(os.path.join(d, "init", "adapter_model.safetensors"), init)
            with open(os.path.join(d, "hparams.json"), "w") as f:
                json.dump(hparams(spec, cfg), f, indent=2, sort_keys=True)
                f.write("\n")
            g = AG.golden_tensors(batches, res)
            st.save(os.path.join(d, "golden.safetensors"), g)
            print("wrote %s  loss %s  grad_norm[0] %.3f" % (d, " ".join("%.4f" % x for x in res["loss"]),
                                                             res["grad_norm"][0]))


if __name__ == "__main__":
    main()
