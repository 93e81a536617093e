#!/usr/bin/python3
"""Writes aotp's golden files (see README.md in this folder).

  /usr/bin/python3 tools/reference/make_golden.py            # everything
  /usr/bin/python3 tools/reference/make_golden.py --part a   # testdata/models
  /usr/bin/python3 tools/reference/make_golden.py --part b   # testdata/aot

Needs torch (CPU) and numpy only. Deterministic: fixed seeds, sorted JSON,
single-threaded torch.
"""
import sys

sys.dont_write_bytecode = True  # keep tools/reference free of __pycache__

import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checkpoints as ck  # noqa: E402
import model as M  # noqa: E402
import st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.path.join(REPO, "testdata")

torch.set_num_threads(1)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def to_torch(w, dtype):
    return {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in w.items()}


# ------------------------------------------------------------------ Part A
def part_a_batch(cfg):
    """B=3 sequences of lengths 7, 12, 5 right-padded to T=12."""
    V = cfg["vocab_size"]
    T = 12
    if cfg["model_type"] == "bert":
        CLS, SEP, PAD = 2, 3, cfg["pad_token_id"]
        # pair: [CLS] a a b [SEP] c [SEP] (types 0 0 0 0 0 1 1)
        s0 = ([CLS, 17, 17, 42, SEP, 17, SEP], [0, 0, 0, 0, 0, 1, 1])
        s1 = ([CLS, 5, 93, 60, 61, 5, SEP, 77, V - 1, 60, 8, SEP], [0] * 7 + [1] * 5)
        s2 = ([CLS, 33, 11, 33, SEP], [0] * 5)
    else:
        BOS, EOS, PAD = cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]
        # pair: <s> A </s></s> B </s>
        s0 = ([BOS, 17, 17, EOS, EOS, 42, EOS], [0] * 7)
        s1 = ([BOS, 5, 93, 60, 61, 5, EOS, EOS, V - 1, 60, 8, EOS], [0] * 12)
        s2 = ([BOS, 33, 11, 33, EOS], [0] * 5)
    ids, mask, tt = [], [], []
    for toks, types in (s0, s1, s2):
        n = len(toks)
        ids.append(toks + [PAD] * (T - n))
        mask.append([1] * n + [0] * (T - n))
        tt.append(types + [0] * (T - n))
    return (
        np.array(ids, dtype=np.int64),
        np.array(mask, dtype=np.int64),
        np.array(tt, dtype=np.int64),
    )


def part_a():
    for name in ck.CHECKPOINTS:
        cfg, prefix, w, file_tensors = ck.make_weights(name)
        d = os.path.join(TESTDATA, "models", name)
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "config.json"), cfg)
        st.save(os.path.join(d, "model.safetensors"), file_tensors)

        ids, mask, tt = part_a_batch(cfg)
        ti, tm, tt_ = (torch.from_numpy(x) for x in (ids, mask, tt))
        out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        with torch.no_grad():
            hs, pooled = M.encode(cfg, to_torch(w, torch.float32), ti, tm, tt_)
            hs64, _ = M.encode(cfg, to_torch(w, torch.float64), ti, tm, tt_)
        for l, h in enumerate(hs):
            out["hidden_states.%d" % l] = h.numpy()
        out["last_hidden_state"] = hs[-1].numpy()
        out["pooler_output"] = pooled.numpy()
        out["last_hidden_state_f64"] = hs64[-1].numpy()
        st.save(os.path.join(d, "golden.safetensors"), out)
        print("wrote", d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    args = ap.parse_args()
    if args.part in ("a", "all"):
        part_a()
    if args.part in ("b", "all"):
        import aot_golden

        aot_golden.part_b(TESTDATA)


if __name__ == "__main__":
    main()
