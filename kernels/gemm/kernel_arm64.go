//go:build arm64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// kernNEON is the 8×8 NEON micro-kernel (16 accumulators of 4 floats, fused
// multiply-adds; see kernel_arm64.s).
//
//go:noescape
func kernNEON(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// Every arm64 CPU has Advanced SIMD (NEON). The blocking is a first guess,
// not measured on arm64 hardware (none at hand; the kernel is tested under
// qemu-aarch64): the kc×8 B micro-panel is 8 KiB at kc = 256, well inside
// the 64–128 KiB L1d of Neoverse and Apple cores.
var neonImpl = &impl{name: "neon", mr: 8, nr: 8, kc: 256, mc: 128, nc: 2048, kern: kernNEON,
	// the W8A8 kernel (a8_arm64.s) needs the dot-product instructions
	a8asm: cpu.ARM64.HasASIMDDP}

var archImpls = []*impl{neonImpl}

// fmaLoopNEON runs n iterations of 12 independent 4-wide FMAs (96 flops per
// iteration), for BenchmarkPeakFMA and gemm.PeakGFLOPS.
//
//go:noescape
func fmaLoopNEON(n int)

func fmaLoops() []fmaLoop { return []fmaLoop{{"neon", fmaLoopNEON, 96}} }
