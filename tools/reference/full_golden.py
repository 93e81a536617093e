#!/usr/bin/python3
"""Training goldens for full fine-tuning (testdata/full/<case>/), in the
layout of the AoT cases (aot_golden.py).

  /usr/bin/python3 tools/reference/full_golden.py           # write goldens + self-checks
  /usr/bin/python3 tools/reference/full_golden.py --check   # self-checks only, write nothing

Method "full": every backbone tensor of the tiny checkpoint is trainable,
plus a fresh task head. The adapter file holds the backbone under HF names
with the model-type prefix ("roberta.encoder.layer.0.attention.self.query.weight",
"bert.embeddings.LayerNorm.bias", "roberta.pooler.dense.weight", ...) --
whatever prefix the checkpoint file itself uses -- and the head under
"classifier.*". Init: the checkpoint's float32 values, unchanged; the head is
random. Optimiser: torch.optim.AdamW, a single parameter group, so weight
decay applies to every tensor (biases, LayerNorms and embeddings included).
No dropout (eval-mode encoder).

Tensors that the loss does not reach at all (the pooler under the RoBERTa
classification head, which reads h[:, 0]) get grad None in torch, and
torch's AdamW then skips them entirely (no decay). aotp computes a zero
gradient and steps every tensor; the two agree only when weight decay is 0,
so a None gradient is replaced by zeros before opt.step() here (the aotp
semantics; with weight_decay 0, as in the RoBERTa case, it is moot).

Roundoff-driven tensors (hparams "roundoff_driven", grad. and final. names):
the attention key biases. q_i . b_k is the same for every key j, so softmax
over keys cancels it and d loss / d b_k == 0 exactly; torch's float32
gradient is rounding noise, and Adam normalises noise into steps of size
~lr, so neither grad. nor final. of those tensors is reproducible across
implementations (compare with an absolute bound, |final - init| <= lr*steps,
or skip). Other exact zeros -- word-embedding rows of ids absent from every
batch, position rows never used, the pad id's row and the pooler under the
RoBERTa head -- are exact 0 in every implementation (no gradient flows, and
masked keys get probability exactly 0), so they are compared normally: Adam
leaves them unchanged except for decay.
"""
import sys

sys.dont_write_bytecode = True  # keep tools/reference free of __pycache__

import argparse  # noqa: E402
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

STEPS = AG.STEPS
BETAS = AG.BETAS
EPS = AG.EPS

_BASE = {"lr": 1e-3, "weight_decay": 0.0, "clip": None, "batch_size": 4, "seq_len": 10}

CASES = {
    "roberta-cls": dict(model="roberta-tiny", problem_type="single_label_classification", num_labels=3),
    "bert-regression-wd": dict(model="bert-tiny", problem_type="regression", num_labels=1,
                               weight_decay=0.01),
}


def spec_of(case):
    s = dict(_BASE)
    s.update(CASES[case])
    s["method"] = "full"
    s["name"] = "full/" + case
    cfg = ck.CHECKPOINTS[s["model"]][0]
    s["head"] = "roberta_cls" if cfg["model_type"] == "roberta" else "bert_cls"
    s["prefix"] = cfg["model_type"] + "."
    return s


# ---------------------------------------------------------------- parameters
def head_shapes(spec, cfg):
    d, nl = cfg["hidden_size"], spec["num_labels"]
    if spec["head"] == "roberta_cls":
        return {
            "classifier.dense.weight": [d, d],
            "classifier.dense.bias": [d],
            "classifier.out_proj.weight": [nl, d],
            "classifier.out_proj.bias": [nl],
        }
    return {"classifier.weight": [nl, d], "classifier.bias": [nl]}


def init_params(spec):
    """Backbone (checkpoint values, prefixed names) + random head, float32."""
    cfg, _, w, _ = ck.make_weights(spec["model"])
    out = {spec["prefix"] + k: np.array(v, dtype=np.float32) for k, v in w.items()}
    rng = np.random.default_rng(ck.seed_of("init/" + spec["name"]))
    hs = head_shapes(spec, cfg)
    for k in sorted(hs):
        n = rng.standard_normal(size=hs[k])
        out[k] = (0.1 * n if k.endswith(".bias") else 0.2 * n).astype(np.float32)
    return cfg, out


def roundoff_driven(spec, cfg):
    names = []
    for l in range(cfg["num_hidden_layers"]):
        t = "%sencoder.layer.%d.attention.self.key.bias" % (spec["prefix"], l)
        names += ["grad." + t, "final." + t]
    return sorted(names)


# ---------------------------------------------------------------- forward
def task_forward(spec, cfg, params, batch):
    """params: prefixed backbone + head tensors. Returns (logits, loss)."""
    P = spec["prefix"]
    w = {k[len(P):]: v for k, v in params.items() if k.startswith(P)}
    head = {k: v for k, v in params.items() if k.startswith("classifier.")}
    assert len(w) + len(head) == len(params)
    hs, pooled = M.encode(cfg, w, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    logits = M.head_logits(spec, cfg, w, head, hs, pooled)
    if spec["problem_type"] == "regression":
        loss = F.mse_loss(logits.squeeze(-1), batch["labels"])
    else:
        loss = F.cross_entropy(logits.view(-1, spec["num_labels"]), batch["labels"].view(-1))
    return logits, loss


# ---------------------------------------------------------------- training
def train(spec, cfg, init, batches, dtype=torch.float32):
    def forward(spec, cfg, w, params, batch):
        return task_forward(spec, cfg, params, batch)
    return AG.train(spec, cfg, None, init, batches, dtype, forward=forward, fill_missing_grads=True)


def adapter_config(spec, cfg):
    return AG.base_config(spec, cfg, "full")


def hparams(spec, cfg):
    h = AG.hparams(spec)
    h["method"] = "full"
    h["param_groups"] = "one (weight decay on every tensor)"
    h["roundoff_driven"] = roundoff_driven(spec, cfg)
    return h


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_case(spec, cfg, init, batches, res, testdata):
    d = os.path.join(testdata, "full", spec["name"].split("/", 1)[1])
    os.makedirs(os.path.join(d, "init"), exist_ok=True)
    write_json(os.path.join(d, "init", "adapter_config.json"), adapter_config(spec, cfg))
    st.save(os.path.join(d, "init", "adapter_model.safetensors"), init)
    write_json(os.path.join(d, "hparams.json"), hparams(spec, cfg))
    g = AG.golden_tensors(batches, res)
    st.save(os.path.join(d, "golden.safetensors"), g)
    return d


# ---------------------------------------------------------------- self-checks
def max_rel(a, b):
    """max |a-b| / max(max|b|, 1e-3), as train/parity_test.go's relClose."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3))


def check_f64(spec, cfg, init, batches, res32, tol=1e-5):
    """The float32 run against the same run in float64 (same float32 init,
    widened). Also checks the roundoff-driven tensors' claims: their f64
    gradient is ~0 and their f32 final values stay within lr*steps of init."""
    res64 = train(spec, cfg, init, batches, torch.float64)
    skip = set(roundoff_driven(spec, cfg))
    worst = {"loss": float(np.max(np.abs(np.array(res32["loss"]) - np.array(res64["loss"]))))}
    for k in res32:
        if k.startswith(("grad.", "final.", "logits.")) and k not in skip:
            worst[k] = max_rel(res32[k].numpy(), res64[k].numpy())
    bad = {k: v for k, v in worst.items() if v > tol}
    top = max(worst, key=worst.get)
    print("  f64 check %-24s worst %.2e (%s)%s" % (spec["name"], worst[top], top,
                                                   "" if not bad else "  FAIL %s" % bad))
    ok = not bad
    gscale = max(float(v.abs().max()) for k, v in res64.items() if k.startswith("grad."))
    for k in sorted(skip):
        if k.startswith("grad."):
            g64 = float(res64[k].abs().max())
            g32 = float(res32[k].abs().max())
            fine = g64 <= 1e-12 * gscale
            print("  roundoff  %-58s |g64| %.1e |g32| %.1e (grad scale %.1e)%s"
                  % (k, g64, g32, gscale, "" if fine else "  FAIL: not a zero gradient"))
            ok &= fine
        else:
            n = k[len("final."):]
            moved = float(np.max(np.abs(res32[k].numpy() - init[n])))
            fine = moved <= spec["lr"] * STEPS * 1.01  # Adam's step is at most ~lr
            print("  roundoff  %-58s max |final - init| %.1e (bound lr*steps)%s"
                  % (k, moved, "" if fine else "  FAIL"))
            ok &= fine
    return ok


def check_zero_grads(spec, cfg, init, batches, res32):
    """Reports the exact-zero gradients (rows/tensors no gradient reaches) and
    checks float32 agrees they are exactly 0."""
    ok = True
    for k in sorted(res32):
        if not k.startswith("grad.") or k in roundoff_driven(spec, cfg):
            continue
        g = res32[k].numpy()
        if g.ndim == 2 and "embeddings" in k:
            z = np.where(np.all(g == 0, axis=1))[0]
            if len(z):
                print("  zero rows %-56s %d of %d" % (k, len(z), g.shape[0]))
        elif np.all(g == 0):
            print("  zero grad %s" % k)
    print("  not on the loss graph (grad None -> zeros): %s" % (sorted(res32["no_grad"]) or "none"))
    return ok


def check_invariance(spec, cfg, init, batches):
    """Padding must not influence valid positions."""
    a = {k: torch.from_numpy(v).to(torch.float64) for k, v in init.items()}
    b = AG.torch_batch(batches[0], torch.float64)
    with torch.no_grad():
        full, _ = task_forward(spec, cfg, a, b)
        worst = 0.0
        for i in range(b["input_ids"].shape[0]):
            n = int(b["attention_mask"][i].sum())
            one = {k: v[i:i + 1][..., :n] if k != "labels" else v[i:i + 1] for k, v in b.items()}
            lo, _ = task_forward(spec, cfg, a, one)
            worst = max(worst, float((lo[0] - full[i]).abs().max()))
    ok = worst < 1e-12
    print("  padding   %-24s worst %.2e%s" % (spec["name"], worst, "" if ok else "  FAIL"))
    return ok


def gradcheck(spec, cfg, init, batches):
    """torch.autograd.gradcheck (float64) of the loss w.r.t. a subset of the
    trainable tensors (one of each kind), the rest held fixed, on the first
    two sequences of batch 0."""
    P = spec["prefix"]
    subset = [P + "embeddings.word_embeddings.weight", P + "embeddings.LayerNorm.weight",
              P + "embeddings.position_embeddings.weight",
              P + "encoder.layer.0.attention.self.query.weight",
              P + "encoder.layer.0.attention.self.value.bias",
              P + "encoder.layer.1.intermediate.dense.weight",
              P + "encoder.layer.1.output.LayerNorm.bias"]
    subset += sorted(k for k in init if k.startswith("classifier."))
    if spec["head"] == "bert_cls":
        subset.append(P + "pooler.dense.weight")
    fixed = {k: torch.from_numpy(v).to(torch.float64) for k, v in init.items()}
    b = AG.torch_batch(batches[0], torch.float64)
    b = {k: v[:2] for k, v in b.items()}
    ts = tuple(fixed[k].clone().requires_grad_(True) for k in subset)

    def f(*xs):
        p = dict(fixed)
        p.update(zip(subset, xs))
        return task_forward(spec, cfg, p, b)[1]

    ok = torch.autograd.gradcheck(f, ts, eps=1e-6, atol=1e-6, rtol=1e-4)
    print("  gradcheck %-24s %s (%d tensors)" % (spec["name"], "ok" if ok else "FAIL", len(subset)))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="self-checks only; write nothing")
    ap.add_argument("--out", default=TESTDATA, help="testdata root (default: the repo's)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ok = True
    for case in CASES:
        spec = spec_of(case)
        cfg, init = init_params(spec)
        # same batch generator as the AoT cases, seeded by this case's name
        batches = AG.make_batches(spec["name"], spec, cfg)
        res = train(spec, cfg, init, batches)
        if not args.check:
            d = write_case(spec, cfg, init, batches, res, args.out)
            print("wrote %s  loss %s" % (d, " ".join("%.4f" % x for x in res["loss"])))
        ok &= check_f64(spec, cfg, init, batches, res)
        ok &= check_zero_grads(spec, cfg, init, batches, res)
        ok &= check_invariance(spec, cfg, init, batches)
        ok &= gradcheck(spec, cfg, init, batches)
    if not ok:
        sys.exit("self-checks FAILED")
    print("self-checks passed")


if __name__ == "__main__":
    main()
