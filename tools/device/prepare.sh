#!/bin/bash
# Builds what tools/device/run_checks.sh runs into devbin/ (ignored; carry it):
# test binaries of the packages with kernels and goldens, the aotp binary
# (bench.sh, tune.sh), and LoRA
# directories aotp writes, for hf_check.py to load with the real PEFT.
set -eu
cd "$(dirname "$0")/../.."
rm -rf devbin && mkdir -p devbin
for p in kernels/gemm kernels/vec model peft train; do
	go test -c -ldflags="-s -w" -o "devbin/$(basename $p).test" "./$p"
done
go build -ldflags="-s -w" -o devbin/aotp ./cmd/aotp
AOTP_LORA_EXPORT=$PWD/devbin/lora-export go test ./peft -run TestLoRAExportForPython -count=1 >/dev/null
du -sh devbin
