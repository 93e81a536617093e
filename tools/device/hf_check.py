#!/usr/bin/env python3
"""Check aotp's goldens and adapter files against the real Hugging Face code.

The reference goldens (tools/reference) are written from the public model
definitions without importing transformers or peft, since this machine has
neither. Where a machine has both (the lent GPU machines' image does), this
script closes the loop with the real libraries, on CPU:

  1. models   every testdata/models/<name> checkpoint loads with
              transformers' AutoModel; its hidden states on the golden batch
              match golden.safetensors (and DeBERTa's ContextPooler +
              classifier logits, through *ForSequenceClassification).
  2. methods  PEFT's LoRA (query/key/value_proj; v1: in_proj) and BitFit (their
              biases, and the embeddings', relative embeddings' and conv block's)
              on deberta-v3-tiny (share_att_key), deberta-v2-tiny-noshare,
              deberta-v2-tiny-conv and deberta-v1-tiny (LoRA only):
              last hidden state and gradients match methods.safetensors,
              which aotp's Go tests match.
  3. adapters LoRA directories aotp wrote (AOTP_LORA_EXPORT, see
              peft/lora_test.go) and testdata/lora/peft-dir-roberta load with
              PeftModel.from_pretrained and give aotp's logits.

  python3 tools/device/hf_check.py [--export DIR] [--json OUT.json]

Prints one line per check and exits non-zero when any fails.
"""
import argparse
import glob
import json
import os
import sys
import traceback

import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "testdata", "models")
RESULTS = []


def record(check, ok, **info):
    RESULTS.append(dict(check=check, ok=bool(ok), **info))
    print(("ok   " if ok else "FAIL ") + check + "  " + " ".join("%s=%s" % kv for kv in info.items()), flush=True)


def guarded(fn):
    def run(*a):
        try:
            fn(*a)
        except Exception as e:  # one broken check must not hide the others
            record(fn.__name__ + str(a[:1]), False, error=repr(e)[:300])
            traceback.print_exc()
    return run


def maxdiff(a, b, mask=None):
    d = (a.double() - b.double()).abs()
    s = b.double().abs()
    if mask is not None:
        d, s = d[mask], s[mask]
    return float(d.max()), float(s.max())


def inputs(g, cfg, prefix=""):
    kw = dict(input_ids=g[prefix + "input_ids"], attention_mask=g[prefix + "attention_mask"])
    if cfg.get("type_vocab_size", 2) > 0:
        kw["token_type_ids"] = g[prefix + "token_type_ids"]
    return kw


@guarded
def check_model(name):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    d = os.path.join(MODELS, name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    g = load_file(os.path.join(d, "golden.safetensors"))
    m = AutoModel.from_pretrained(d).float().eval()
    with torch.no_grad():
        out = m(**inputs(g, cfg), output_hidden_states=True)
    mask = g["attention_mask"].bool()
    worst = 0.0
    for l, h in enumerate(out.hidden_states):
        key = "hidden_states.%d" % l
        if key not in g:
            continue
        diff, scale = maxdiff(h, g[key], mask)
        worst = max(worst, diff / max(scale, 1e-6))
    record("model " + name, worst < 1e-5, rel_diff="%.2g" % worst, layers=len(out.hidden_states))
    if "head.classifier.weight" in g and "logits" in g:
        c = AutoConfig.from_pretrained(d, num_labels=g["head.classifier.weight"].shape[0])
        sc = AutoModelForSequenceClassification.from_pretrained(d, config=c).float().eval()
        sd = {k[len("head."):]: v for k, v in g.items() if k.startswith("head.")}
        missing = [k for k in sd if k not in sc.state_dict()]
        sc.load_state_dict(sd, strict=False)
        with torch.no_grad():
            logits = sc(**inputs(g, cfg)).logits
        diff, scale = maxdiff(logits, g["logits"])
        record("logits " + name, not missing and diff <= 1e-5 * max(scale, 1), diff="%.2g" % diff, missing=missing)


@guarded
def check_methods(name):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    d = os.path.join(MODELS, name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    g = load_file(os.path.join(d, "golden.safetensors"))
    gm = load_file(os.path.join(d, "methods.safetensors"))
    mask = g["attention_mask"].bool()
    lw = g["loss_weight"]

    # LoRA through PEFT's own wrapped modules
    base = AutoModel.from_pretrained(d).float().eval()
    v1 = cfg["model_type"] == "deberta"
    targets = ["in_proj"] if v1 else ["query_proj", "key_proj", "value_proj"]
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets))
    pm.eval()
    params, n = {}, 0
    for k, p in pm.named_parameters():
        if "lora_" not in k:
            continue
        # base_model.model.encoder.layer.0.attention.self.query_proj.lora_A.default.weight
        mod = k.split("base_model.model.", 1)[1].replace(".default.weight", "")
        with torch.no_grad():
            p.copy_(gm["lora." + mod])
        params[mod] = p
        n += 1
    h = pm(**inputs(g, cfg)).last_hidden_state
    (lw * h).sum().backward()
    diff, scale = maxdiff(h.detach(), gm["lora.last_hidden_state"], mask)
    gworst = max(maxdiff(p.grad, gm["grad.lora." + mod])[0] / max(maxdiff(p.grad, gm["grad.lora." + mod])[1], 1e-3)
                 for mod, p in params.items())
    record("peft-lora " + name, n == len([k for k in gm if k.startswith("lora.") and ".lora_" in k])
           and diff <= 1e-5 * scale and gworst <= 1e-4,
           hidden_diff="%.2g" % diff, grad_rel="%.2g" % gworst, tensors=n)

    if v1:
        return  # v1's q_bias/v_bias are not module biases: no BitFit golden
    # BitFit: the same modules with their trained biases
    m = AutoModel.from_pretrained(d).float().eval()
    sd = dict(m.named_parameters())
    biases = {}
    for k in gm:
        if k.startswith("bitfit.") and k.endswith(".bias"):
            mod = k[len("bitfit."):]
            p = sd[mod]
            with torch.no_grad():
                p.copy_(gm[k])
            biases[mod] = p
    for p in m.parameters():
        p.requires_grad_(False)
    for p in biases.values():
        p.requires_grad_(True)
    h = m(**inputs(g, cfg)).last_hidden_state
    (lw * h).sum().backward()
    diff, scale = maxdiff(h.detach(), gm["bitfit.last_hidden_state"], mask)
    # pos_key_proj's bias enters c2p only, as q·b (the same for a row): its true gradient is 0
    gworst = max(maxdiff(p.grad, gm["grad.bitfit." + mod])[0] / max(maxdiff(p.grad, gm["grad.bitfit." + mod])[1], 1e-3)
                 for mod, p in biases.items() if not mod.endswith("pos_key_proj.bias"))
    record("bitfit " + name, diff <= 1e-5 * scale and gworst <= 1e-4,
           hidden_diff="%.2g" % diff, grad_rel="%.2g" % gworst, tensors=len(biases))


def peft_classifier(model_dir, adapter_dir, num_labels):
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForSequenceClassification

    c = AutoConfig.from_pretrained(model_dir, num_labels=num_labels)
    base = AutoModelForSequenceClassification.from_pretrained(model_dir, config=c).float()
    return PeftModel.from_pretrained(base, adapter_dir).eval()


@guarded
def check_export(adapter_dir):
    name = os.path.basename(os.path.normpath(adapter_dir))
    ex = json.load(open(os.path.join(adapter_dir, "check_batch.json")))["examples"]
    K = len(ex[0]["logits"])
    pm = peft_classifier(os.path.join(MODELS, name), adapter_dir, K)
    worst = 0.0
    for e in ex:
        kw = dict(input_ids=torch.tensor([e["input_ids"]]))
        cfg = json.load(open(os.path.join(MODELS, name, "config.json")))
        if cfg.get("type_vocab_size", 2) > 0:
            kw["token_type_ids"] = torch.tensor([e["token_type_ids"]])
        with torch.no_grad():
            logits = pm(**kw).logits[0]
        worst = max(worst, maxdiff(logits, torch.tensor(e["logits"]))[0])
    record("aotp-lora-dir " + name, worst <= 1e-5, diff="%.2g" % worst, examples=len(ex))


@guarded
def check_peft_dir(d):
    g = load_file(os.path.join(d, "golden.safetensors"))
    K = g["logits.0"].shape[-1]
    pm = peft_classifier(os.path.join(MODELS, "roberta-tiny"), d, K)
    with torch.no_grad():
        logits = pm(input_ids=g["batch.0.input_ids"], attention_mask=g["batch.0.attention_mask"],
                    token_type_ids=g["batch.0.token_type_ids"]).logits
    diff, _ = maxdiff(logits, g["logits.0"])
    record("peft-dir " + os.path.basename(d), diff <= 1e-5, diff="%.2g" % diff)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", help="AOTP_LORA_EXPORT directory (one sub-directory per model)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    torch.manual_seed(0)
    import transformers
    import peft

    print("transformers", transformers.__version__, "peft", peft.__version__, "torch", torch.__version__, flush=True)
    for d in sorted(glob.glob(os.path.join(MODELS, "*"))):
        check_model(os.path.basename(d))
    for name in ("deberta-v3-tiny", "deberta-v2-tiny-noshare", "deberta-v1-tiny", "deberta-v2-tiny-conv"):
        check_methods(name)
    if a.export:
        for d in sorted(glob.glob(os.path.join(a.export, "*"))):
            check_export(d)
    check_peft_dir(os.path.join(REPO, "testdata", "lora", "peft-dir-roberta"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(transformers=transformers.__version__, peft=peft.__version__, results=RESULTS), f, indent=1)
    bad = [r for r in RESULTS if not r["ok"]]
    print("%d checks, %d failed" % (len(RESULTS), len(bad)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
