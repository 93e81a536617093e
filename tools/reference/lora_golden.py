"""LoRA training goldens under testdata/lora/<case>/, in HF PEFT's directory format.

Written from the public definitions of LoRA (Hu et al. 2021) and of HF PEFT's
LoRA tuner (no `peft` or `transformers` import):

* LoraLayer on nn.Linear: result = base(x) + lora_B(lora_A(dropout(x))) * scaling,
  scaling = lora_alpha / r (use_rslora: lora_alpha / sqrt(r));
  reset_lora_parameters: lora_A kaiming_uniform_(a=sqrt(5)), lora_B zeros.
* target selection, check_target_module_exists: a str is re.fullmatch'ed
  against the module path; a list matches a path equal to a name or ending
  with "." + name; layers_to_transform restricts list matches by layer index.
* modules_to_save (SEQ_CLS adds "classifier"): module paths ending with a
  name are wrapped in ModulesToSaveWrapper (original_module +
  modules_to_save.<adapter>).
* get_peft_model_state_dict (bias="none"): keys containing "lora_", plus for
  each wrapper its modules_to_save.<adapter> copy under the wrapper's path;
  then the adapter name is removed (`lora_A.default.weight` -> `lora_A.weight`).
  Keys carry `base_model.model.` (PeftModel -> LoraModel -> the transformers
  task model, whose base model sits under `roberta.` / `bert.`).

Cases (dropout 0, AdamW as in aot_golden.py):
  roberta-qv-cls          roberta-tiny, ["query","value"], r 4, alpha 8, 3 labels
  bert-all-regression     bert-tiny, ["query","key","value","output.dense","intermediate.dense"]
                          (suffix matching: "output.dense" also takes attention.output.dense,
                          so all six projections), r 4, alpha 16, MSE
  bert-regex-rslora-wd    bert-tiny, target_modules regex, use_rslora, weight decay 0.01
  roberta-multichoice     roberta-tiny, ["key","intermediate.dense"], layers_to_transform [1]
  roberta-zero-b          roberta-tiny, PEFT's own init (lora_B = 0): logits.0 == logits.backbone

plus testdata/lora/peft-dir-roberta/: a directory exactly as PEFT would write
it (no aotp keys at all), golden.safetensors with a batch and its logits; no
hparams.json (not a training case).

Self-check of the reverse direction: `--check-dir DIR --model NAME` reads a
directory aotp wrote (adapter_config.json parsed as PEFT's from_pretrained
does: unknown keys dropped, as PEFT >= 0.14 does with a warning;
set_peft_model_state_dict's key mapping: every tensor must land on a module),
runs the reference forward on DIR/check_batch.json and compares with the
logits aotp wrote there.
"""
import argparse
import json
import math
import os
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aot_golden as ag  # noqa: E402
import checkpoints as ck  # noqa: E402
import model as M  # noqa: E402
import st  # noqa: E402

STEPS = ag.STEPS
SITES = ["attention.self.query", "attention.self.key", "attention.self.value",
         "attention.output.dense", "intermediate.dense", "output.dense"]
ADAPTER = "default"
PEFT_PREFIX = "base_model.model."

CASES = {
    "roberta-qv-cls": dict(model="roberta-tiny", target_modules=["query", "value"], r=4, lora_alpha=8,
                           problem_type="single_label_classification", num_labels=3),
    "bert-all-regression": dict(model="bert-tiny",
                                target_modules=["query", "key", "value", "output.dense", "intermediate.dense"],
                                r=4, lora_alpha=16, problem_type="regression", num_labels=1, b_scale=0.1),
    "bert-regex-rslora-wd": dict(model="bert-tiny", target_modules=r".*encoder\.layer\.\d+\.attention\.self\.(query|value)",
                                 r=8, lora_alpha=16, use_rslora=True, weight_decay=0.01,
                                 problem_type="single_label_classification", num_labels=2),
    "roberta-multichoice": dict(model="roberta-tiny", target_modules=["key", "intermediate.dense"],
                                layers_to_transform=[1], r=4, lora_alpha=8,
                                problem_type="multiple_choice", num_labels=2, num_choices=2, scale=3.0),
    "roberta-zero-b": dict(model="roberta-tiny", target_modules=["query", "value"], r=8, lora_alpha=16,
                           problem_type="single_label_classification", num_labels=2, zero_b=True),
}

PEFT_DIR_CASE = dict(model="roberta-tiny", target_modules=["query", "value", "intermediate.dense"], r=4,
                     lora_alpha=8, problem_type="single_label_classification", num_labels=3)


def spec_of(case_spec):
    s = dict(ag._BASE)
    s.update(case_spec)
    s["head"] = ag.head_kind(s)
    return s


# ------------------------------------------------------------ PEFT's naming
def task_model_modules(cfg, spec):
    """named_modules() of the transformers task model (the parts that matter)."""
    p = cfg["model_type"] + "."
    mods = [p + "embeddings", p + "embeddings.word_embeddings", p + "embeddings.position_embeddings",
            p + "embeddings.token_type_embeddings"]
    for l in range(cfg["num_hidden_layers"]):
        for s in SITES:
            mods.append(p + "encoder.layer.%d.%s" % (l, s))
    # BertForSequenceClassification and *ForMultipleChoice have a pooler;
    # RobertaForSequenceClassification is built with add_pooling_layer=False
    if cfg["model_type"] == "bert" or spec["head"] == "multichoice":
        mods += [p + "pooler", p + "pooler.dense"]
    if spec["head"] == "roberta_cls":
        mods += ["classifier", "classifier.dense", "classifier.out_proj"]
    else:
        mods += ["classifier"]
    return mods


def check_target_module_exists(config, key):
    tm = config["target_modules"]
    if isinstance(tm, str):
        return re.fullmatch(tm, key) is not None
    if key in tm:
        return True
    found = any(key.endswith("." + t) for t in tm)
    layers = config.get("layers_to_transform")
    if found and layers is not None and (not isinstance(layers, list) or len(layers) > 0):
        m = re.match(r".*\.[^.]*\.(\d+)\.", key)  # layers_pattern None
        if m is None:
            return False
        idx = int(m.group(1))
        found = idx == layers if isinstance(layers, int) else idx in layers
    return found


def inject(config, cfg, spec):
    """Returns (lora module paths, modules_to_save wrapper paths) as PEFT's
    inject_adapter would create them."""
    lora, wrappers = [], []
    for key in task_model_modules(cfg, spec):
        if any(key.endswith(m) for m in config["modules_to_save"] or []):
            if not any(key.startswith(w + ".") for w in wrappers):
                wrappers.append(key)
            continue
        if any(key.startswith(w + ".") for w in wrappers):
            continue
        if check_target_module_exists(config, key):
            if ".encoder.layer." not in key:
                raise ValueError("target %s is not an encoder projection" % key)
            lora.append(key)
    if not lora:
        raise ValueError("no target module found")
    return lora, wrappers


def in_memory_keys(cfg, spec, lora, wrappers, head_shapes):
    """Trainable state-dict keys of the PeftModel in memory -> shape."""
    r = spec["r"]
    out = {}
    for path in lora:
        site = path.split(".", 4)[-1]  # after "<mt>.encoder.layer.<l>."
        o, i = linear_shape(cfg, site)
        out[PEFT_PREFIX + path + ".lora_A.%s.weight" % ADAPTER] = [r, i]
        out[PEFT_PREFIX + path + ".lora_B.%s.weight" % ADAPTER] = [o, r]
    for w in wrappers:
        for k, shp in head_shapes.items():
            if k.startswith(w + "."):
                sub = k[len(w) + 1:]
                out[PEFT_PREFIX + w + ".modules_to_save.%s.%s" % (ADAPTER, sub)] = shp
    return out


def get_peft_model_state_dict_keys(keys, wrappers):
    """Saved name of each in-memory key (bias="none")."""
    saved = {}
    for k in keys:
        if "lora_" in k:
            saved[k] = k
    for w in wrappers:
        name = PEFT_PREFIX + w
        for k in keys:
            pre = name + ".modules_to_save.%s." % ADAPTER
            if k.startswith(pre):
                saved[k] = name + "." + k[len(pre):]
    pat = re.compile(re.escape("." + ADAPTER) + r"$")
    out = {}
    for mem, k in saved.items():
        if k.endswith("." + ADAPTER):
            k = k[: -len(ADAPTER) - 1]
        else:
            head, _, suffix = k.rpartition(".")
            k = pat.sub("", head) + "." + suffix
        out[mem] = k
    return out


def linear_shape(cfg, site):
    C, I = cfg["hidden_size"], cfg["intermediate_size"]
    if site == "intermediate.dense":
        return I, C
    if site == "output.dense":
        return C, I
    return C, C


def head_shapes(spec, cfg):
    C, nl = cfg["hidden_size"], spec["num_labels"]
    if spec["head"] == "roberta_cls":
        return {"classifier.dense.weight": [C, C], "classifier.dense.bias": [C],
                "classifier.out_proj.weight": [nl, C], "classifier.out_proj.bias": [nl]}
    k = 1 if spec["head"] == "multichoice" else nl
    return {"classifier.weight": [k, C], "classifier.bias": [k]}


def peft_config(spec):
    c = {
        "peft_type": "LORA", "task_type": "SEQ_CLS", "r": spec["r"], "lora_alpha": spec["lora_alpha"],
        "lora_dropout": 0.0, "target_modules": spec["target_modules"], "modules_to_save": ["classifier"],
        "bias": "none", "fan_in_fan_out": False, "use_rslora": spec.get("use_rslora", False),
        "use_dora": False, "init_lora_weights": True, "inference_mode": True,
    }
    if spec.get("layers_to_transform") is not None:
        c["layers_to_transform"] = spec["layers_to_transform"]
    return c


def aotp_config(spec, cfg):
    c = peft_config(spec)
    c.update({
        "method": "lora", "task": "custom", "problem_type": spec["problem_type"],
        "num_labels": spec["num_labels"],
        "id2label": {str(i): "LABEL_%d" % i for i in range(spec["num_labels"])},
        "model_type": cfg["model_type"], "hidden_size": cfg["hidden_size"],
        "num_hidden_layers": cfg["num_hidden_layers"], "vocab_size": cfg["vocab_size"],
    })
    if spec.get("num_choices"):
        c["num_choices"] = spec["num_choices"]
    return c


def peft_written_config(spec, base):
    """adapter_config.json as PEFT 0.14's LoraConfig.save_pretrained writes
    it for a SEQ_CLS model (every field; modules_to_save extended by
    PeftModelForSequenceClassification)."""
    c = peft_config(spec)
    c.update({
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base,
        "eva_config": None, "exclude_modules": None, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_bias": False,
        "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": ["classifier", "score"], "rank_pattern": {}, "revision": None,
        "runtime_config": {"ephemeral_gpu_offload": False},
    })
    return c


# ------------------------------------------------------------ forward
def scaling(spec):
    if spec.get("use_rslora"):
        return spec["lora_alpha"] / math.sqrt(spec["r"])
    return spec["lora_alpha"] / spec["r"]


def lora_layer(cfg, w, l, h, ext, deltas):
    """BertLayer l (eval) with LoRA: deltas maps the site to (A, B, scaling)."""
    p = "encoder.layer.%d." % l
    B, T, C = h.shape
    H = cfg["num_attention_heads"]
    D = C // H

    def lin(site, x):
        y = F.linear(x, w[p + site + ".weight"], w[p + site + ".bias"])
        if site in deltas:
            a, b, s = deltas[site]
            y = y + F.linear(F.linear(x, a), b) * s  # dropout(x) = x here
        return y

    def heads(x):
        return x.view(B, T, H, D).permute(0, 2, 1, 3)

    q = heads(lin("attention.self.query", h))
    k = heads(lin("attention.self.key", h))
    v = heads(lin("attention.self.value", h))
    probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D) + ext, dim=-1)
    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
    a = M.layer_norm(cfg, w, p + "attention.output.LayerNorm", lin("attention.output.dense", ctx) + h)
    i = M.ACTS[cfg["hidden_act"]](lin("intermediate.dense", a))
    return M.layer_norm(cfg, w, p + "output.LayerNorm", lin("output.dense", i) + a)


def split_params(params, cfg):
    """File-named params -> (per-layer LoRA deltas by site, head dict by HF head name)."""
    deltas = [dict() for _ in range(cfg["num_hidden_layers"])]
    head = {}
    mt = cfg["model_type"] + "."
    for k, v in params.items():
        assert k.startswith(PEFT_PREFIX), k
        n = k[len(PEFT_PREFIX):]
        m = re.fullmatch(re.escape(mt) + r"encoder\.layer\.(\d+)\.(.+)\.lora_([AB])\.weight", n)
        if m:
            d = deltas[int(m.group(1))].setdefault(m.group(2), [None, None])
            d[0 if m.group(3) == "A" else 1] = v
        elif n.startswith(mt + "pooler."):
            head[n[len(mt):]] = v
        else:
            head[n] = v
    return deltas, head


def lora_task_forward(spec, cfg, w, params, batch, use_lora=True):
    ids, mask, tt = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    mc = spec["problem_type"] == "multiple_choice"
    if mc:
        nc = ids.shape[1]
        ids, mask, tt = (x.reshape(-1, x.shape[-1]) for x in (ids, mask, tt))
    deltas, head = split_params(params, cfg)
    s = scaling(spec)
    ext = M.extended_mask(mask, w["embeddings.word_embeddings.weight"].dtype)
    h = M.embeddings(cfg, w, ids, tt)
    for l in range(cfg["num_hidden_layers"]):
        d = {site: (a, b, s) for site, (a, b) in deltas[l].items()} if use_lora else {}
        h = lora_layer(cfg, w, l, h, ext, d)
    pooled = torch.tanh(M.linear(w, "pooler.dense", h[:, 0]))
    logits = M.head_logits(spec, cfg, w, head, [h], pooled)
    labels = batch.get("labels")
    if labels is None:
        return logits, None
    if mc:
        logits = logits.view(-1, nc)
        loss = F.cross_entropy(logits, labels)
    elif spec["problem_type"] == "regression":
        loss = F.mse_loss(logits.squeeze(-1), labels)
    else:
        loss = F.cross_entropy(logits.view(-1, spec["num_labels"]), labels.view(-1))
    return logits, loss


# ------------------------------------------------------------ cases
def init_params(name, spec, cfg):
    """Saved-name -> float32 array; LoRA A as PEFT's init, B nonzero unless zero_b."""
    lora, wrappers = inject(peft_config(spec), cfg, spec)
    hs = head_shapes(spec, cfg)
    mem = in_memory_keys(cfg, spec, lora, wrappers, hs)
    names = get_peft_model_state_dict_keys(mem, wrappers)
    rng = np.random.default_rng(ck.seed_of("lora/" + name))
    gen = torch.Generator().manual_seed(ck.seed_of("lora-A/" + name))
    out = {}
    for memk in sorted(mem):
        k, shape = names[memk], mem[memk]
        if ".lora_A." in memk:
            t = torch.empty(shape)
            # nn.init.kaiming_uniform_(a=sqrt(5)) == U(+-1/sqrt(fan_in)); drawn with our generator
            bound = 1.0 / math.sqrt(shape[1])
            v = (torch.rand(shape, generator=gen) * 2 - 1) * bound
            out[k] = v.numpy().astype(np.float32)
            del t
        elif ".lora_B." in memk:
            v = np.zeros(shape) if spec.get("zero_b") else spec.get("b_scale", 0.3) * rng.standard_normal(size=shape)
            out[k] = v.astype(np.float32)
        else:
            n = rng.standard_normal(size=shape)
            v = (0.1 if k.endswith(".bias") else 0.2) * n * spec.get("scale", 1.0)
            out[k] = v.astype(np.float32)
    return out


def train(spec, cfg, w, init, batches):
    return ag.train(spec, cfg, w, init, batches, forward=lora_task_forward)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def backbone(spec):
    cfg, _, w, _ = ck.make_weights(spec["model"])
    return cfg, {k: torch.from_numpy(v) for k, v in w.items()}


def make_cases(testdata):
    torch.set_num_threads(1)
    for name, cs in CASES.items():
        spec = spec_of(cs)
        cfg, w = backbone(spec)
        init = init_params(name, spec, cfg)
        batches = ag.make_batches("lora/" + name, spec, cfg)
        res = train(spec, cfg, w, init, batches)
        d = os.path.join(testdata, "lora", name)
        os.makedirs(os.path.join(d, "init"), exist_ok=True)
        write_json(os.path.join(d, "init", "adapter_config.json"), aotp_config(spec, cfg))
        st.save(os.path.join(d, "init", "adapter_model.safetensors"), init)
        hp = ag.hparams(spec)
        if "roundoff_driven" in hp:
            hp["roundoff_driven"] = ["final." + PEFT_PREFIX + "classifier.bias"]
        hp["method"] = "lora"
        write_json(os.path.join(d, "hparams.json"), hp)
        g = ag.golden_tensors(batches, res)
        if spec.get("zero_b"):
            with torch.no_grad():
                p0 = {k: torch.from_numpy(v) for k, v in init.items()}
                logits, _ = lora_task_forward(spec, cfg, w, p0, ag.torch_batch(batches[0]), use_lora=False)
            g["logits.backbone"] = logits.numpy()
        st.save(os.path.join(d, "golden.safetensors"), g)
        print("wrote %s  loss %s" % (d, " ".join("%.4f" % x for x in res["loss"])))

    # a directory exactly as PEFT writes it, and the logits it gives
    spec = spec_of(PEFT_DIR_CASE)
    cfg, w = backbone(spec)
    name = "peft-dir-roberta"
    init = init_params(name, spec, cfg)
    d = os.path.join(testdata, "lora", name)
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "adapter_config.json"), peft_written_config(spec, "roberta-tiny"))
    st.save(os.path.join(d, "adapter_model.safetensors"), init)
    b = ag.make_batches("lora/" + name, spec, cfg)[0]
    with torch.no_grad():
        p0 = {k: torch.from_numpy(v) for k, v in init.items()}
        logits, _ = lora_task_forward(spec, cfg, w, p0, ag.torch_batch(b))
    g = {"batch.0." + k: v for k, v in b.items() if k != "labels"}
    g["logits.0"] = logits.numpy()
    st.save(os.path.join(d, "golden.safetensors"), g)
    print("wrote %s" % d)


# ------------------------------------------------------------ reverse check
def load_like_peft(d):
    """Reads an adapter directory as PEFT does: config keys LoraConfig does
    not know are dropped (PEFT >= 0.14 warns); tensors mapped back to
    in-memory names (set_peft_model_state_dict inserts the adapter name)."""
    with open(os.path.join(d, "adapter_config.json")) as f:
        raw = json.load(f)
    known = {"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode",
             "auto_mapping", "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout",
             "fan_in_fan_out", "bias", "use_rslora", "modules_to_save", "init_lora_weights",
             "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern", "megatron_config",
             "megatron_core", "loftq_config", "eva_config", "corda_config", "use_dora", "layer_replication",
             "runtime_config", "lora_bias", "trainable_token_indices", "peft_version"}
    cfg = {k: v for k, v in raw.items() if k in known}
    ignored = sorted(set(raw) - known)
    assert cfg["peft_type"] == "LORA", cfg
    tensors = st.load(os.path.join(d, "adapter_model.safetensors"))
    return raw, cfg, ignored, tensors


def check_dir(d, model_name):
    raw, pcfg, ignored, tensors = load_like_peft(d)
    print("PEFT would ignore these aotp keys (warning only):", ", ".join(ignored))
    spec = dict(ag._BASE)
    spec.update(model=model_name, r=pcfg["r"], lora_alpha=pcfg["lora_alpha"],
                target_modules=pcfg["target_modules"], use_rslora=pcfg.get("use_rslora", False),
                layers_to_transform=pcfg.get("layers_to_transform"),
                problem_type=raw["problem_type"], num_labels=raw["num_labels"],
                num_choices=raw.get("num_choices"))
    spec = spec_of(spec)
    cfg, w = backbone(spec)
    lora, wrappers = inject(pcfg, cfg, spec)
    mem = in_memory_keys(cfg, spec, lora, wrappers, head_shapes(spec, cfg))
    names = get_peft_model_state_dict_keys(mem, wrappers)
    want = {v: mem[k] for k, v in names.items()}
    assert set(want) == set(tensors), ("key mismatch", sorted(set(want) ^ set(tensors)))
    for k, shp in want.items():
        assert list(tensors[k].shape) == shp, (k, tensors[k].shape, shp)
    with open(os.path.join(d, "check_batch.json")) as f:
        cb = json.load(f)
    params = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
    worst = 0.0
    for ex in cb["examples"]:
        ids = torch.tensor([ex["input_ids"]], dtype=torch.int64)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                 "token_type_ids": torch.tensor([ex["token_type_ids"]], dtype=torch.int64)}
        with torch.no_grad():
            logits, _ = lora_task_forward(spec, cfg, w, params, batch)
        worst = max(worst, float((logits.view(-1) - torch.tensor(ex["logits"])).abs().max()))
    print("%s: %d tensors, %d examples, max |logits - aotp| = %.3g" % (d, len(tensors), len(cb["examples"]), worst))
    assert worst < 1e-5, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-dir")
    ap.add_argument("--model")
    args = ap.parse_args()
    testdata = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata")
    if args.check_dir:
        check_dir(args.check_dir, args.model)
        return
    make_cases(os.path.normpath(testdata))


if __name__ == "__main__":
    main()
