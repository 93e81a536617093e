#!/usr/bin/python3
"""PyTorch checkpoints (pytorch_model.bin) of testdata/models/roberta-tiny for
the torchckpt tests, written by torch.save as Hugging Face's save_pretrained
does (a state dict) in the formats found on the Hub:

  testdata/torch/zip/pytorch_model.bin          torch >= 1.6 zip format
  testdata/torch/legacy/pytorch_model.bin       _use_new_zipfile_serialization=False
  testdata/torch/sharded/pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
  testdata/torch/half/pytorch_model.bin         every float tensor in float16
  testdata/torch/views/pytorch_model.bin        a transposed (non-contiguous) view, a slice
                                                with a storage offset, two names sharing one
                                                storage (tied weights), an int64 position_ids, a
                                                0-d and an empty tensor;
                                                legacy.bin: the same in the legacy format
(testdata/torch/torch211/ was written the same way by torch 2.11 on a lent
machine: pytorch_model.bin, bf16.bin, and param.bin = {param: nn.Parameter
of arange(6)·[2,3], t: arange(6)·[3,2] transposed}; this script leaves it.)
Each folder also gets config.json. The values to expect: the model.safetensors
of roberta-tiny (half: rounded to float16; views: see views.json).

  /usr/bin/python3 tools/reference/torch_ckpt_golden.py
"""
import json
import os
import shutil
import sys
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(REPO, "testdata", "models", "roberta-tiny")
OUT = os.path.join(REPO, "testdata", "torch")


def state_dict():
    w = st.load(os.path.join(SRC, "model.safetensors"))
    return OrderedDict((k, torch.from_numpy(w[k].copy())) for k in sorted(w))


def folder(name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(SRC, "config.json"), os.path.join(d, "config.json"))
    return d


def main():
    sd = state_dict()
    torch.save(sd, os.path.join(folder("zip"), "pytorch_model.bin"))
    torch.save(sd, os.path.join(folder("legacy"), "pytorch_model.bin"), _use_new_zipfile_serialization=False)

    d = folder("sharded")
    names = list(sd)
    half = len(names) // 2
    wm = {}
    for i, part in enumerate((names[:half], names[half:])):
        fn = "pytorch_model-%05d-of-00002.bin" % (i + 1)
        torch.save(OrderedDict((k, sd[k]) for k in part), os.path.join(d, fn))
        wm.update({k: fn for k in part})
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2, sort_keys=True)
        f.write("\n")

    torch.save(OrderedDict((k, v.half()) for k, v in sd.items()), os.path.join(folder("half"), "pytorch_model.bin"))

    d = folder("views")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    views = OrderedDict()
    views["transposed"] = base.t()  # [6, 4], strides (1, 6)
    views["offset"] = base[1:3, 2:5]  # storage offset 8, strides (6, 1)
    views["tied.a"] = base
    views["tied.b"] = base  # the same storage under two names
    views["embeddings.position_ids"] = torch.arange(10).reshape(1, 10)
    views["scalar"] = torch.tensor(2.5)
    views["empty"] = torch.zeros(0, 3)
    torch.save(views, os.path.join(d, "pytorch_model.bin"))
    torch.save(views, os.path.join(d, "legacy.bin"), _use_new_zipfile_serialization=False)
    with open(os.path.join(d, "views.json"), "w") as f:
        json.dump({k: {"shape": list(v.shape), "values": v.reshape(-1).tolist()} for k, v in views.items()}, f)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
