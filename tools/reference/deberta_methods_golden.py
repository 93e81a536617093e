#!/usr/bin/python3
"""LoRA and BitFit on DeBERTa's attention projections: forward + gradient goldens.

  /usr/bin/python3 tools/reference/deberta_methods_golden.py   # write testdata/models/<name>/methods.safetensors

With share_att_key (deberta-v3-tiny) DeBERTa v2/v3 project the relative
embeddings with the layer's own query_proj and key_proj, so a method that
changes those modules (PEFT's LoRA wraps the module; BitFit trains its bias)
changes the c2p/p2c position terms too. deberta-v2-tiny-noshare has its own
pos_key_proj / pos_query_proj, which such a method leaves alone. The hook
sits in deberta.linear (LINEAR_HOOK), so it sees every call of a module, as
a wrapped nn.Module would.

For each model, on deberta_golden.py's checkpoint, batch and loss weight lw
(L = sum(lw * last_hidden_state), eval mode):
  lora.<module>.lora_A [r, C], lora.<module>.lora_B [C, r]   r = 4, alpha = 8, on
      query_proj, key_proj, value_proj of every layer (both factors random);
      deberta-v1-tiny: in_proj [3C, C], lora_B [3C, r] (no BitFit part)
  lora.last_hidden_state, lora.loss, grad.lora.<module>.lora_{A,B}
  lora.last_hidden_state_f64   the same forward in float64 (PyTorch's own float32 error)
  bitfit.<module>.bias [C]  the trained bias (frozen + random delta) of the same modules, and of
      pos_key_proj / pos_query_proj where they exist (deberta-v2-tiny-noshare); also
      bitfit.<name> for the biases outside the projections that BitFit trains: embeddings.LayerNorm.bias,
      encoder.LayerNorm.bias (the relative embeddings', norm_rel_ebd: every position table moves),
      encoder.conv.conv.bias and encoder.conv.LayerNorm.bias (deberta-v2-tiny-conv)
  bitfit.last_hidden_state, bitfit.loss, grad.bitfit.<module>.bias, bitfit.last_hidden_state_f64
<module> is encoder.layer.{l}.attention.self.{query,key,value}_proj.
Deterministic (seeded by name, single-threaded torch).
"""
import sys

sys.dont_write_bytecode = True

import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checkpoints as ck  # noqa: E402
import deberta as D  # noqa: E402
import deberta_golden as DG  # noqa: E402

torch.set_num_threads(1)

MODELS = ["deberta-v3-tiny", "deberta-v2-tiny-noshare", "deberta-v1-tiny", "deberta-v2-tiny-conv"]
# BitFit's biases that are tensors of the checkpoint rather than outputs of a
# hooked projection: passed to deberta.encode as the trained tensors themselves
FULL = ("embeddings.LayerNorm.bias", "encoder.LayerNorm.bias", "encoder.conv.conv.bias", "encoder.conv.LayerNorm.bias")
R, ALPHA = 4, 8


def modules(cfg):
    # v1: one in_proj [3C, C] for query, key and value (PEFT's default target there)
    names = ("in_proj",) if cfg["model_type"] == "deberta" else ("query_proj", "key_proj", "value_proj")
    return ["encoder.layer.%d.attention.self.%s" % (l, m) for l in range(cfg["num_hidden_layers"]) for m in names]


def run(cfg, w, ids, mask, tt, lw, params, hook):
    """Forward with D.LINEAR_HOOK = hook, L = sum(lw * h_L), grads of params."""
    D.LINEAR_HOOK = hook
    try:
        W = {k: torch.from_numpy(v) for k, v in w.items()}
        if next(iter(params.values())).dtype == torch.float64:
            W = {k: v.double() for k, v in W.items()}
        W.update({k: v for k, v in params.items() if k in FULL})
        ti, tm, tty = (torch.from_numpy(x) for x in (ids, mask, tt))
        hs = D.encode(cfg, W, ti, tm, tty)
        loss = (torch.from_numpy(lw).to(hs[-1].dtype) * hs[-1]).sum()
        names = sorted(params)
        grads = torch.autograd.grad(loss, [params[n] for n in names])
    finally:
        D.LINEAR_HOOK = None
    return hs[-1].detach().numpy(), loss.detach().reshape(1).numpy(), dict(zip(names, (g.numpy() for g in grads)))


def main():
    for name in MODELS:
        cfg, _, w, _, _, lw = DG.make(name)
        ids, mask, tt = DG.batch(cfg)
        C = cfg["hidden_size"]
        rng = np.random.default_rng(ck.seed_of(name + "/methods"))
        out = {}
        mods = modules(cfg)

        # LoRA: y + (x A^T) B^T * alpha/r on every call of the module
        lora = {}
        for m in mods:
            nout = 3 * C if m.endswith("in_proj") else C
            lora[m + ".lora_A"] = torch.tensor((0.3 * rng.standard_normal((R, C))).astype(np.float32), requires_grad=True)
            lora[m + ".lora_B"] = torch.tensor((0.3 * rng.standard_normal((nout, R))).astype(np.float32), requires_grad=True)

        def lora_hook(p, x, y):
            if p + ".lora_A" not in lora:
                return y
            return y + F.linear(F.linear(x, lora[p + ".lora_A"]), lora[p + ".lora_B"]) * (ALPHA / R)

        h, loss, grads = run(cfg, w, ids, mask, tt, lw, lora, lora_hook)
        out.update({"lora." + k: v.detach().numpy() for k, v in lora.items()})
        lora32, lora = lora, {k: v.detach().double().requires_grad_() for k, v in lora.items()}
        out["lora.last_hidden_state_f64"] = run(cfg, w, ids, mask, tt, lw, lora, lora_hook)[0]
        lora = lora32
        out["lora.last_hidden_state"], out["lora.loss"] = h, loss
        out.update({"grad.lora." + k: v for k, v in grads.items()})

        if cfg["model_type"] == "deberta":  # v1's q_bias/v_bias are not module biases: FD-checked in Go only
            path = os.path.join(DG.TESTDATA, "models", name, "methods.safetensors")
            DG.save(path, out)
            print("wrote", path)
            continue
        # BitFit: the module's bias is the trained one, b + delta; without
        # share_att_key also the layers' own pos_key_proj / pos_query_proj
        bmods = list(mods)
        if not cfg.get("share_att_key", False):
            bmods += ["encoder.layer.%d.attention.self.%s" % (l, m)
                      for l in range(cfg["num_hidden_layers"]) for m in ("pos_key_proj", "pos_query_proj")]
        delta = {m + ".bias": torch.tensor((0.3 * rng.standard_normal(C)).astype(np.float32), requires_grad=True) for m in bmods}
        # the trained values of the checkpoint's own bias tensors (drawn after the
        # deltas above, so those keep their values)
        for k in FULL:
            if k in w:
                delta[k] = torch.tensor(w[k] + (0.3 * rng.standard_normal(C)).astype(np.float32), requires_grad=True)

        def bitfit_hook(p, x, y):
            d = delta.get(p + ".bias")
            return y if d is None else y + d

        h, loss, grads = run(cfg, w, ids, mask, tt, lw, delta, bitfit_hook)
        out.update({"bitfit." + k: (v.detach().numpy() if k in FULL else w[k] + v.detach().numpy()) for k, v in delta.items()})
        delta = {k: v.detach().double().requires_grad_() for k, v in delta.items()}
        out["bitfit.last_hidden_state_f64"] = run(cfg, w, ids, mask, tt, lw, delta, bitfit_hook)[0]
        out["bitfit.last_hidden_state"], out["bitfit.loss"] = h, loss
        out.update({"grad.bitfit." + k: v for k, v in grads.items()})

        path = os.path.join(DG.TESTDATA, "models", name, "methods.safetensors")
        DG.save(path, out)
        print("wrote", path)


if __name__ == "__main__":
    main()
