//go:build arm64 && !purego

package gemm

// kernA8SDOT is the 6×16 W8A8 micro-kernel for CPUs with the dot-product
// instructions (a8_arm64.s; selected when cpu.ARM64.HasASIMDDP).
//
//go:noescape
func kernA8SDOT(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)

// quantA8NEON quantizes 8·n8 activations of one row (see quantRowA8).
//
//go:noescape
func quantA8NEON(dst *uint8, src *float32, n8 int, inv float32, za float32)

// minMaxNEON returns the smallest and largest of 8·n8 ≥ 8 values, and
// whether one of them is a NaN.
//
//go:noescape
func minMaxNEON(src *float32, n8 int) (lo, hi float32, nan bool)

// quantScaledA8NEON and minMaxScaledNEON are quantA8NEON and minMaxNEON of
// src[i]·scale[i] (quantRowA8 with scales).
//
//go:noescape
func quantScaledA8NEON(dst *uint8, src, scale *float32, n8 int, inv float32, za float32)

//go:noescape
func minMaxScaledNEON(src, scale *float32, n8 int) (lo, hi float32, nan bool)

// a8ArchKernel is A8Kernel's name for this build's assembly kernel.
const a8ArchKernel = "sdot"

// a8QuantAsm: quantRowA8 may use the NEON min/max and quantizer.
const a8QuantAsm = true

// kernA8Arch runs the 6-row kernel for any mr ≤ 6: tiles (a8.go) hands an
// edge tile a scratch tile of 6 rows, and the activations are padded to
// whole 6-row panels.
func kernA8Arch(mr, kq int, a []uint8, lda int, b []int8, c []float32, ldc int, za []int32, sa []float32, cs []int32, sw, bias []float32) {
	kernA8SDOT(kq, &a[0], lda, &b[0], &c[0], ldc, &za[0], &sa[0], &cs[0], &sw[0], &bias[0])
}

func minMaxA8Arch(src *float32, n8 int) (lo, hi float32, nan bool) { return minMaxNEON(src, n8) }

func quantA8Arch(dst *uint8, src *float32, n8 int, inv, za float32) {
	quantA8NEON(dst, src, n8, inv, za)
}

func minMaxScaledA8Arch(src, scale *float32, n8 int) (lo, hi float32, nan bool) {
	return minMaxScaledNEON(src, scale, n8)
}

func quantScaledA8Arch(dst *uint8, src, scale *float32, n8 int, inv, za float32) {
	quantScaledA8NEON(dst, src, scale, n8, inv, za)
}
