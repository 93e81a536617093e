//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// kernAVX2 is the 6×16 AVX2+FMA micro-kernel (12 ymm accumulators, two ymm
// for the B row, two for A broadcasts).
//
//go:noescape
func kernAVX2(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// kernAVX2x4 is kernAVX2 for the top 4 rows of its A panel (edge tiles of
// at most 4 rows).
//
//go:noescape
func kernAVX2x4(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// kernAVX2H and kernAVX2x4H are kernAVX2 and kernAVX2x4 on a B panel of
// F16 values (F16C): b points to uint16s (impl.kernH's signature).
//
//go:noescape
func kernAVX2H(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

//go:noescape
func kernAVX2x4H(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// kernAVX2Q and kernAVX2x4Q are kernAVX2 and kernAVX2x4 on a B panel of
// int8 values: b points to int8s and bias to [scale | bias] (impl.kernQ's
// signature).
//
//go:noescape
func kernAVX2Q(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// dequantAVX2 widens rows int8 rows of 8·nr8 values times scale (nr
// floats): the AVX2 form of dequantize.
//
//go:noescape
func dequantAVX2(dst *float32, src *int8, scale *float32, nr8, rows int)

// dequantRowsAVX2 is dequantAVX2 with one scale per row (PackBNInt8).
//
//go:noescape
func dequantRowsAVX2(dst *float32, src *int8, rowScale *float32, nr8, rows int)

// dequantRowsColsAVX2 is dequantRowsAVX2 times colScale[j] per column
// (PackBNInt8Smooth's panels).
//
//go:noescape
func dequantRowsColsAVX2(dst *float32, src *int8, rowScale, colScale *float32, nr8, rows int)

//go:noescape
func kernAVX2x4Q(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// kernAVX512 is the 12×32 AVX-512F micro-kernel (24 zmm accumulators).
//
//go:noescape
func kernAVX512(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// kernAVX512x8 is kernAVX512 for the top 8 rows of its A panel (edge tiles
// of at most 8 rows).
//
//go:noescape
func kernAVX512x8(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// fmaLoopAVX2 runs n iterations of 10 independent ymm FMAs (160 flops per
// iteration); benchmarks use it to measure the machine's FMA peak.
//
//go:noescape
func fmaLoopAVX2(n int)

// fmaLoopAVX512 runs n iterations of 12 independent zmm FMAs (384 flops per
// iteration).
//
//go:noescape
func fmaLoopAVX512(n int)

// packT8AVX2 transposes 8 rows of src (row stride lds) into dst:
// dst[p*dstStride+r] = src[r*lds+p] for r < 8, p < 8·n8.
//
//go:noescape
func packT8AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int)

// packA6AVX2 is packT8AVX2 for 6 rows, scaled by alpha:
// dst[p*dstStride+r] = alpha·src[r*lds+p] for r < 6, p < 8·n8.
//
//go:noescape
func packA6AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int, alpha float32)

// packAT6AVX2 packs six columns of n rows of src, scaled by alpha:
// dst[p*dstStride+r] = alpha·src[p*lds+r] for r < 6, p < n.
//
//go:noescape
func packAT6AVX2(dst *float32, dstStride int, src *float32, lds int, n int, alpha float32)

var (
	avx2Impl = &impl{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 3072, kern: kernAVX2, kernE: kernAVX2x4, mrE: 4, asmPack: true,
		kernQ: kernAVX2Q, kernEQ: kernAVX2x4Q}
	// The kc×32 B micro-panel is 24 KiB at kc=192, half of the 48 KiB L1d
	// of Zen 4/5 and Sapphire Rapids (other blockings measured within the
	// noise there: docs/device-checks).
	avx512Impl = &impl{name: "avx512", mr: 12, nr: 32, kc: 192, mc: 240, nc: 3072, kern: kernAVX512, kernE: kernAVX512x8, mrE: 8, asmPack: true}
)

// archImpls are the assembly kernels this CPU supports, fastest first.
var archImpls = detect()

func detect() []*impl {
	if cpu.X86.HasF16C {
		avx2Impl.kernH, avx2Impl.kernEH = kernAVX2H, kernAVX2x4H
	}
	// AVX-512 CPUs have AVX2 too: its W8A8 kernel serves both.
	avx2Impl.a8asm, avx512Impl.a8asm = cpu.X86.HasAVX2, cpu.X86.HasAVX2
	var l []*impl
	if cpu.X86.HasAVX512F {
		l = append(l, avx512Impl)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, avx2Impl)
	}
	return l
}

// fmaLoops are the FMA peak loops this CPU runs, by the implementation whose
// vectors they use.
func fmaLoops() []fmaLoop {
	var l []fmaLoop
	if cpu.X86.HasAVX512F {
		l = append(l, fmaLoop{"avx512", fmaLoopAVX512, 384})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, fmaLoop{"avx2", fmaLoopAVX2, 160})
	}
	return l
}
