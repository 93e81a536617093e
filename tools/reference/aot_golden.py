"""Part B: AoT P-Tuning training goldens under testdata/aot/<case>/."""
import json
import os

import numpy as np
import torch

import checkpoints as ck
import model as M
import st

STEPS = 10
BETAS = (0.9, 0.999)
EPS = 1e-8

_BASE = {"lr": 1e-2, "weight_decay": 0.0, "clip": None, "batch_size": 4, "seq_len": 10}

CASES = {
    # roberta-tiny: V=100, bert-tiny: V=99
    "roberta-fc-gelu-cls": dict(model="roberta-tiny", reparam="fc", rank=8, activation="gelu",
                                problem_type="single_label_classification", num_labels=3),
    "roberta-kron-cls": dict(model="roberta-tiny", reparam="kron", rank=4, kron_a=8, kron_b=13,
                             problem_type="single_label_classification", num_labels=3),
    "bert-fc-tanh-regression": dict(model="bert-tiny", reparam="fc", rank=8, activation="tanh",
                                    problem_type="regression", num_labels=1),
    "bert-kron-cls-wd": dict(model="bert-tiny", reparam="kron", rank=4, kron_a=7, kron_b=15,
                             problem_type="single_label_classification", num_labels=2,
                             weight_decay=0.01),
    "bert-fc-relu-cls-clip": dict(model="bert-tiny", reparam="fc", rank=8, activation="relu",
                                  problem_type="single_label_classification", num_labels=2,
                                  clip=1.0, scale=3.0),
    "roberta-fc-relu-multichoice": dict(model="roberta-tiny", reparam="fc", rank=8, activation="relu",
                                        problem_type="multiple_choice", num_labels=2, num_choices=2,
                                        scale=3.0),
    "roberta-fc-zero-init": dict(model="roberta-tiny", reparam="fc", rank=8, activation="gelu",
                                 problem_type="single_label_classification", num_labels=2,
                                 zero_last=True),
}


ZERO_NOTE = """# roberta-fc-zero-init

The last FC factor (`aot.layer.{l}.fc2.weight` and `aot.layer.{l}.fc2.bias`)
is zero at init, so every bias table P_l is exactly zero and `H + P_l[x]`
equals `H` bit for bit. Hence `logits.0` (AoT model, step 0) equals
`logits.backbone` (frozen backbone + the same head, no AoT) exactly; a Go
implementation must reproduce that equality exactly, not within a tolerance.

Also: with fc2 == 0 the step-0 gradients of `fc1.weight`/`fc1.bias` are
exactly zero (only fc2 and the head get gradient), so AdamW leaves fc1
unchanged at step 1 (m = v = 0, update 0/(0+eps) = 0); fc1 starts moving at
step 2. Everything else is as in the other cases (see hparams.json).
"""


def spec_of(case):
    s = dict(_BASE)
    s.update(CASES[case])
    s["head"] = head_kind(s)
    return s


def head_kind(spec):
    """The task head of a case: multiple choice, RobertaClassificationHead,
    or a classifier on BERT's pooler."""
    cfg = ck.CHECKPOINTS[spec["model"]][0]
    if spec["problem_type"] == "multiple_choice":
        return "multichoice"
    return "roberta_cls" if cfg["model_type"] == "roberta" else "bert_cls"


def golden_tensors(batches, res):
    """golden.safetensors of a training case: the batches (batch.{s}.*), the
    losses and gradient norms of the steps, and the grad./final./logits.
    tensors of the run."""
    g = {}
    for s, b in enumerate(batches):
        for k, v in b.items():
            g["batch.%d.%s" % (s, k)] = v
    g["loss"] = np.array(res["loss"], dtype=np.float32)
    g["grad_norm"] = np.array(res["grad_norm"], dtype=np.float32)
    for k, v in res.items():
        if k.startswith(("grad.", "final.", "logits.")):
            g[k] = v.numpy().astype(np.float32)
    return g


def trainable_shapes(spec, cfg):
    d, L, r = cfg["hidden_size"], cfg["num_hidden_layers"], spec["rank"]
    s = {}
    for l in range(L):
        p = "aot.layer.%d." % l
        if spec["reparam"] == "fc":
            s[p + "fc1.weight"] = [r, d]
            s[p + "fc1.bias"] = [r]
            s[p + "fc2.weight"] = [d, r]
            s[p + "fc2.bias"] = [d]
        else:
            assert spec["kron_a"] * spec["kron_b"] >= cfg["vocab_size"]
            s[p + "left"] = [spec["kron_a"], r]
            s[p + "mid"] = [spec["kron_b"], r]
            s[p + "right"] = [r * r, d]
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


def init_params(case, spec, cfg):
    rng = np.random.default_rng(ck.seed_of("aot/" + case))
    out = {}
    shapes = trainable_shapes(spec, cfg)
    scale = spec.get("scale", 1.0)
    for k in sorted(shapes):
        n = rng.standard_normal(size=shapes[k])
        if k.endswith((".left", ".mid")):
            v = 0.5 * n
        elif k.endswith(".bias"):
            v = 0.1 * n
        else:
            v = 0.2 * n
        if k.startswith("classifier."):
            v = v * scale
        if spec.get("zero_last") and k.endswith(("fc2.weight", "fc2.bias", ".right")):
            v = np.zeros(shapes[k])
        out[k] = v.astype(np.float32)
    return out


def make_batches(case, spec, cfg):
    """STEPS batches with padding and token ids repeated within and across
    sequences (small content pool)."""
    rng = np.random.default_rng(ck.seed_of("batches/" + case))
    V, B, T = cfg["vocab_size"], spec["batch_size"], spec["seq_len"]
    pad = cfg["pad_token_id"]
    bert = cfg["model_type"] == "bert"
    if bert:
        bos, sep, mid_sep = 2, 3, [3]
    else:
        bos, sep, mid_sep = cfg["bos_token_id"], cfg["eos_token_id"], [2, 2]
    pool = rng.choice(np.arange(4, V), size=12, replace=False)
    pool[0] = V - 1  # the last vocabulary row is exercised
    nc = spec.get("num_choices")
    out = []
    for s in range(STEPS):
        rows = []
        for b in range(B):
            if nc:
                plen = int(rng.integers(2, 4))
                premise = list(rng.choice(pool, size=plen))
                ex = []
                for c in range(nc):
                    clen = int(rng.integers(1, T - plen - len(mid_sep) - 2 + 1))
                    choice = list(rng.choice(pool, size=clen))
                    ex.append(pair(bos, premise, mid_sep, choice, sep, bert))
                rows.append(ex)
            else:
                n = T if b == 0 else int(rng.integers(4, T + 1))  # one full-length row
                if n >= 7 and rng.random() < 0.6:
                    la = int(rng.integers(1, n - 2 - len(mid_sep)))
                    lb = n - 2 - len(mid_sep) - la
                    a = list(rng.choice(pool, size=la))
                    bb = list(rng.choice(pool, size=lb))
                    rows.append(pair(bos, a, mid_sep, bb, sep, bert))
                else:
                    a = list(rng.choice(pool, size=n - 2))
                    rows.append(([bos] + a + [sep], [0] * n))

        def padded(tok_types):
            toks, types = tok_types
            n = len(toks)
            return toks + [pad] * (T - n), [1] * n + [0] * (T - n), types + [0] * (T - n)

        if nc:
            cols = [[padded(x) for x in ex] for ex in rows]
            ids = np.array([[c[0] for c in ex] for ex in cols], dtype=np.int64)
            mask = np.array([[c[1] for c in ex] for ex in cols], dtype=np.int64)
            tt = np.array([[c[2] for c in ex] for ex in cols], dtype=np.int64)
            labels = rng.integers(0, nc, size=B).astype(np.int64)
        else:
            cols = [padded(x) for x in rows]
            ids = np.array([c[0] for c in cols], dtype=np.int64)
            mask = np.array([c[1] for c in cols], dtype=np.int64)
            tt = np.array([c[2] for c in cols], dtype=np.int64)
            if spec["problem_type"] == "regression":
                labels = (1.5 * rng.standard_normal(size=B)).astype(np.float32)
            else:
                labels = rng.integers(0, spec["num_labels"], size=B).astype(np.int64)
        if not bert:
            tt[:] = 0
        out.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": tt, "labels": labels})
    return out


def pair(bos, a, mid_sep, b, sep, bert):
    toks = [bos] + [int(x) for x in a] + mid_sep + [int(x) for x in b] + [sep]
    if bert:
        types = [0] * (2 + len(a)) + [1] * (len(b) + 1)
    else:
        types = [0] * len(toks)
    return toks, types


def torch_batch(b, dtype=torch.float32):
    out = {k: torch.from_numpy(v.copy()) for k, v in b.items()}
    if out["labels"].dtype.is_floating_point:
        out["labels"] = out["labels"].to(dtype)
    return out


def base_config(spec, cfg, method):
    """adapter_config.json keys every method shares: task, head, base model."""
    c = {
        "method": method,
        "task": "custom",
        "problem_type": spec["problem_type"],
        "num_labels": spec["num_labels"],
        "id2label": {str(i): "LABEL_%d" % i for i in range(spec["num_labels"])},
        "model_type": cfg["model_type"],
        "hidden_size": cfg["hidden_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "vocab_size": cfg["vocab_size"],
    }
    if spec.get("num_choices"):
        c["num_choices"] = spec["num_choices"]
    return c


def adapter_config(spec, cfg):
    c = base_config(spec, cfg, "aot")
    c.update(reparam=spec["reparam"], rank=spec["rank"])
    if spec["reparam"] == "fc":
        c["activation"] = spec["activation"]
    else:
        c["kron_a"] = spec["kron_a"]
        c["kron_b"] = spec["kron_b"]
    return c


def hparams(spec):
    h = {
        "base_model": spec["model"],
        "lr": spec["lr"],
        "betas": list(BETAS),
        "eps": EPS,
        "weight_decay": spec["weight_decay"],
        "optimizer": "torch.optim.AdamW",
        "schedule": "constant",
        "warmup_steps": 0,
        "dropout": 0.0,
        "max_grad_norm": spec["clip"],
        "batch_size": spec["batch_size"],
        "seq_len": spec["seq_len"],
        "num_choices": spec.get("num_choices"),
        "steps": STEPS,
        "loss": "mse_mean" if spec["problem_type"] == "regression" else "cross_entropy_mean",
    }
    if spec["problem_type"] == "multiple_choice":
        # d loss / d classifier.bias == 0 exactly (softmax is shift-invariant
        # and the bias shifts every choice's logit equally); torch's float32
        # gradient is roundoff noise, and Adam normalises noise into real
        # steps, so this final value is not reproducible: compare loosely.
        h["roundoff_driven"] = ["final.classifier.bias"]
    return h


def backbone(spec, dtype=torch.float32):
    cfg, _, w, _ = ck.make_weights(spec["model"])
    return cfg, {k: torch.from_numpy(v).to(dtype) for k, v in w.items()}


def train(spec, cfg, w, init, batches, dtype=torch.float32, forward=None, fill_missing_grads=False):
    """Runs STEPS torch.optim.AdamW steps from init and returns the results
    every method's golden files hold. forward(spec, cfg, w, params, batch)
    gives (logits, loss) (default: AoT's M.task_forward); other methods'
    scripts pass their own. fill_missing_grads: a parameter off the loss
    graph gets a zero gradient (aotp's) instead of None, recorded in
    res["no_grad"]."""
    forward = forward or M.task_forward
    params = {k: torch.from_numpy(init[k].copy()).to(dtype).requires_grad_(True) for k in sorted(init)}
    opt = torch.optim.AdamW(list(params.values()), lr=spec["lr"], betas=BETAS, eps=EPS,
                            weight_decay=spec["weight_decay"])
    res = {"loss": [], "grad_norm": []}
    if fill_missing_grads:
        res["no_grad"] = set()
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits, loss = forward(spec, cfg, w, params, torch_batch(batches[s], dtype))
        loss.backward()
        if fill_missing_grads:
            for k, p in params.items():
                if p.grad is None:  # not on the loss graph: aotp's zero gradient
                    p.grad = torch.zeros_like(p)
                    res["no_grad"].add(k)
        if s == 0:
            res["logits.0"] = logits.detach().clone()
            for k, p in params.items():
                res["grad." + k] = p.grad.detach().clone()
        if spec.get("clip") is not None:
            gn = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=spec["clip"])
        else:
            gn = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in params.values()]), 2)
        res["grad_norm"].append(float(gn))
        res["loss"].append(float(loss.detach()))
        opt.step()
    for k, p in params.items():
        res["final." + k] = p.detach().clone()
    return res


def part_b(testdata):
    torch.set_num_threads(1)
    for case in CASES:
        spec = spec_of(case)
        cfg, w = backbone(spec)
        init = init_params(case, spec, cfg)
        batches = make_batches(case, spec, cfg)
        res = train(spec, cfg, w, init, batches)

        d = os.path.join(testdata, "aot", case)
        os.makedirs(os.path.join(d, "init"), exist_ok=True)
        with open(os.path.join(d, "init", "adapter_config.json"), "w") as f:
            json.dump(adapter_config(spec, cfg), f, indent=2, sort_keys=True)
            f.write("\n")
        st.save(os.path.join(d, "init", "adapter_model.safetensors"), init)
        with open(os.path.join(d, "hparams.json"), "w") as f:
            json.dump(hparams(spec), f, indent=2, sort_keys=True)
            f.write("\n")

        g = golden_tensors(batches, res)
        a0 = {k: torch.from_numpy(v) for k, v in init.items()}
        with torch.no_grad():
            for l in range(cfg["num_hidden_layers"]):
                g["rows.%d" % l] = M.aot_table(spec, cfg, w, a0, l).numpy()
            if spec.get("zero_last"):
                logits, _ = M.task_forward(spec, cfg, w, a0, torch_batch(batches[0]), use_aot=False)
                g["logits.backbone"] = logits.numpy()
        st.save(os.path.join(d, "golden.safetensors"), g)
        if spec.get("zero_last"):
            with open(os.path.join(d, "NOTE.md"), "w") as f:
                f.write(ZERO_NOTE)
        print("wrote %s  loss %s  grad_norm[0] %.3f" % (d, " ".join("%.4f" % x for x in res["loss"]),
                                                         res["grad_norm"][0]))
