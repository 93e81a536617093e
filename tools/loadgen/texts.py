#!/usr/bin/python3
"""The first column of a GLUE TSV (header skipped) as loadgen's --texts JSONL.

    tools/loadgen/texts.py ../shared/data/glue/SST-2/dev.tsv texts.jsonl
"""
import json
import sys

with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    next(f)
    for line in f:
        text = line.rstrip("\n").split("\t")[0].strip()
        if text:
            out.write(json.dumps({"text": text}) + "\n")
