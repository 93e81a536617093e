#!/bin/bash
# Runs the numerics packages' tests as arm64 binaries under qemu-user (the
# NEON GEMM kernel, the NEON vec kernels (AOTP_VEC=generic: the Go ones), and the arm64 compiler's
# float code), on an x86 machine:
#   apt-get install qemu-user-static; tools/arm64-test.sh [packages...]
# Slow (emulated): ~10 minutes for the default packages on 2 cores. Every
# package passes this way; in cmd/aotp the two tests that re-exec the test
# binary (kill-and-resume, serve) need binfmt_misc to run an arm64 child
# ("exec format error" without it).
set -euo pipefail
cd "$(dirname "$0")/.."
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$QEMU" ] || { echo "arm64-test: no qemu-aarch64(-static); apt-get install qemu-user-static" >&2; exit 2; }
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
rc=0
for p in "${@:-kernels/gemm kernels/vec model peft train}"; do
	for q in $p; do
		GOARCH=arm64 go test -c -o "$BIN/t" "./$q"
		if (cd "$q" && "$QEMU" "$BIN/t" >"$BIN/log" 2>&1); then
			echo "ok    $q (arm64, qemu)"
		else
			echo "FAIL  $q (arm64, qemu)"; grep -E "^(---|\s+\S+_test.go)" "$BIN/log" | head -20; rc=1
		fi
	done
done
exit $rc
