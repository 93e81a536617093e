"""Checks of the Part B (AoT) goldens; called by check_reference.py."""
import json
import math
import os

import numpy as np
import torch

import aot_golden as AG
import model as M
import st


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def np_rows(spec, E, a, l, V):
    """Independent float64 evaluation of P_l over the whole vocabulary."""
    p = "aot.layer.%d." % l
    if spec["reparam"] == "fc":
        x = E @ a[p + "fc1.weight"].T + a[p + "fc1.bias"]
        act = spec["activation"]
        if act == "relu":
            x = np.maximum(x, 0)
        elif act == "tanh":
            x = np.tanh(x)
        else:
            x = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        return x @ a[p + "fc2.weight"].T + a[p + "fc2.bias"]
    left, mid, right = a[p + "left"], a[p + "mid"], a[p + "right"]
    r, b = left.shape[1], spec["kron_b"]
    out = np.zeros((V, right.shape[1]))
    for x in range(V):
        i, j = x // b, x % b
        for pp in range(r):
            for q in range(r):
                out[x] += left[i, pp] * mid[j, q] * right[pp * r + q]
    return out


def manual_adamw(spec, cfg, w, init, batches):
    """AdamW written out (torch's formula), float32, to pin the semantics."""
    b1, b2 = AG.BETAS
    lr, wd, eps = spec["lr"], spec["weight_decay"], AG.EPS
    p = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in init.items()}
    m = {k: torch.zeros_like(v) for k, v in p.items()}
    v2 = {k: torch.zeros_like(v) for k, v in p.items()}
    for s in range(AG.STEPS):
        for t in p.values():
            t.grad = None
        _, loss = M.task_forward(spec, cfg, w, p, AG.torch_batch(batches[s]))
        loss.backward()
        g = {k: t.grad.detach().clone() for k, t in p.items()}
        if spec["clip"] is not None:
            total = torch.norm(torch.stack([torch.norm(x, 2) for x in g.values()]), 2)
            coef = spec["clip"] / (total + 1e-6)
            if coef < 1:
                g = {k: x * coef for k, x in g.items()}
        step = s + 1
        with torch.no_grad():
            for k, t in p.items():
                t.mul_(1 - lr * wd)
                m[k].mul_(b1).add_(g[k], alpha=1 - b1)
                v2[k].mul_(b2).addcmul_(g[k], g[k], value=1 - b2)
                bc1 = 1 - b1 ** step
                bc2 = 1 - b2 ** step
                denom = (v2[k].sqrt() / math.sqrt(bc2)).add_(eps)
                t.addcdiv_(m[k], denom, value=-lr / bc1)
    return {k: t.detach().numpy() for k, t in p.items()}


def run(td):
    torch.set_num_threads(1)
    ok = True
    for case in sorted(os.listdir(os.path.join(td, "aot"))):
        d = os.path.join(td, "aot", case)
        spec = AG.spec_of(case)
        cfg, w = AG.backbone(spec)
        V, L = cfg["vocab_size"], cfg["num_hidden_layers"]
        acfg = json.load(open(os.path.join(d, "init", "adapter_config.json")))
        init = st.load(os.path.join(d, "init", "adapter_model.safetensors"))
        g = st.load(os.path.join(d, "golden.safetensors"))
        batches = [{k: g["batch.%d.%s" % (s, k)] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")}
                   for s in range(AG.STEPS)]
        msgs = []
        bad = []

        def want(name, cond, val):
            msgs.append("%s %s" % (name, val))
            if not cond:
                bad.append(name)

        want("config", acfg["reparam"] == spec["reparam"] and acfg["vocab_size"] == V, "")
        nz = all(np.abs(v).max() > 0 for v in init.values())
        if spec.get("zero_last"):
            want("zero-last", not nz, "")
        else:
            want("all-init-nonzero", nz, "")

        # 1. replay from the files (float32): bitwise
        res = AG.train(spec, cfg, w, init, batches)
        same = all(np.array_equal(res[k].numpy(), g[k]) for k in g if k.startswith(("grad.", "final.")))
        same = same and np.array_equal(np.array(res["loss"], dtype=np.float32), g["loss"])
        want("replay-bitwise", same, "")

        # 2. unfused (full table then gather) vs golden fused grads
        p = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in init.items()}
        tables = [M.aot_table(spec, cfg, w, p, l) for l in range(L)]
        sp = dict(spec)
        b0 = AG.torch_batch(batches[0])
        ids = b0["input_ids"].reshape(-1, b0["input_ids"].shape[-1])
        hs, pooled = M.encode(cfg, w, ids, b0["attention_mask"].reshape(ids.shape),
                              b0["token_type_ids"].reshape(ids.shape),
                              layer_bias=lambda l, x: tables[l][x])
        logits = M.head_logits(sp, cfg, w, p, hs, pooled)
        if spec["problem_type"] == "multiple_choice":
            loss = torch.nn.functional.cross_entropy(logits.view(-1, spec["num_choices"]), b0["labels"])
        elif spec["problem_type"] == "regression":
            loss = torch.nn.functional.mse_loss(logits.squeeze(-1), b0["labels"])
        else:
            loss = torch.nn.functional.cross_entropy(logits, b0["labels"])
        loss.backward()
        e = max(rel(p[k].grad.numpy(), g["grad." + k]) for k in p if np.abs(g["grad." + k]).max() > 0)
        want("unfused-grad-rel", e < 1e-5, "%.1e" % e)
        want("loss0", abs(float(loss) - g["loss"][0]) < 1e-6, "")

        # 3. rows.{l} vs independent numpy f64 formula
        E = w["embeddings.word_embeddings.weight"].double().numpy()
        a64 = {k: v.astype(np.float64) for k, v in init.items()}
        e = max(rel(g["rows.%d" % l], np_rows(spec, E, a64, l, V)) if np.abs(g["rows.%d" % l]).max() > 0
                else 0.0 for l in range(L))
        want("rows-vs-numpy64", e < 1e-5, "%.1e" % e)

        # 4. float64 replay vs float32 golden
        w64 = {k: v.double() for k, v in w.items()}
        r64 = AG.train(spec, cfg, w64, {k: v.astype(np.float64) for k, v in init.items()}, batches,
                       dtype=torch.float64)
        e_g = max(rel(g[k], r64[k].numpy()) for k in g if k.startswith("grad.") and np.abs(g[k]).max() > 0)
        unstable = set(AG.hparams(spec).get("roundoff_driven", []))
        e_f = max(rel(g[k], r64[k].numpy()) for k in g if k.startswith("final.") and k not in unstable)
        for k in unstable:
            gk = "grad." + k[len("final."):]
            want("zero-grad " + gk, np.abs(g[gk]).max() < 1e-6 and np.abs(r64[gk].numpy()).max() < 1e-12,
                 "f32 %.1e" % np.abs(g[gk]).max())
        e_l = rel(g["loss"], r64["loss"])
        want("f64-grad", e_g < 1e-4, "%.1e" % e_g)
        want("f64-final", e_f < 1e-3, "%.1e" % e_f)
        want("f64-loss", e_l < 1e-5, "%.1e" % e_l)

        # 5. AdamW written out == torch.optim.AdamW
        man = manual_adamw(spec, cfg, w, init, batches)
        e = max(rel(man[k], g["final." + k]) for k in man)
        want("manual-adamw", e < 1e-5, "%.1e" % e)

        if spec["clip"] is not None:
            n = int((g["grad_norm"] > spec["clip"]).sum())
            want("clip-active-steps", 5 <= n < AG.STEPS, "%d/%d" % (n, AG.STEPS))

        if spec.get("zero_last"):
            same = np.array_equal(g["logits.0"], g["logits.backbone"])
            want("zero-init-logits==backbone(bitwise)", same, "")
            z = all(np.abs(g["grad." + k]).max() == 0 for k in init if "fc1" in k)
            want("zero-init-fc1-grad==0", z, "")
        print("  %-28s %s%s" % (case, "  ".join(msgs), ("  FAIL: " + ",".join(bad)) if bad else ""))
        ok = ok and not bad

    ok = gradchecks(td) and ok
    return ok


def gradchecks(td):
    """torch.autograd.gradcheck (float64, finite differences) of the step-0
    loss w.r.t. every trainable tensor, one FC and one Kron case."""
    ok = True
    for case in ("roberta-fc-gelu-cls", "roberta-kron-cls", "roberta-fc-relu-multichoice"):
        spec = AG.spec_of(case)
        cfg, w = AG.backbone(spec, torch.float64)
        init = st.load(os.path.join(td, "aot", case, "init", "adapter_model.safetensors"))
        g = st.load(os.path.join(td, "aot", case, "golden.safetensors"))
        names = sorted(init)
        b0 = {k: g["batch.0.%s" % k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")}
        b0 = AG.torch_batch(b0, torch.float64)
        xs = tuple(torch.from_numpy(init[k].astype(np.float64)).requires_grad_(True) for k in names)

        def f(*ts):
            return M.task_forward(spec, cfg, w, dict(zip(names, ts)), b0)[1]

        passed = torch.autograd.gradcheck(f, xs, eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False)
        # and the float32 golden grads vs float64 autograd
        loss = f(*xs)
        gr = torch.autograd.grad(loss, xs)
        e = max(rel(g["grad." + k], gr[i].numpy()) for i, k in enumerate(names)
                if np.abs(gr[i].numpy()).max() > 1e-12)
        print("  gradcheck(f64) %-28s %s  (golden f32 grads vs f64 autograd rel %.1e, %d scalars)"
              % (case, "PASS" if passed else "FAIL", e, sum(x.numel() for x in xs)))
        ok = ok and passed and e < 1e-4
    return ok
