//go:build amd64 && !purego

package gemm

// kernA8AVX2 is the 6×16 W8A8 micro-kernel (a8.go): kq groups of 4 bytes
// of each of 6 activation rows (lda bytes apart) times a packed weight
// panel, with the zero-point, scale and bias epilogue.
//
//go:noescape
func kernA8AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)

// kernA8x4AVX2 and kernA8x2AVX2 are kernA8AVX2 for the top 4 and 2 rows
// (edge tiles).
//
//go:noescape
func kernA8x4AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)

//go:noescape
func kernA8x2AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)

// quantA8AVX2 quantizes 8·n8 activations of one row (see quantRowA8).
//
//go:noescape
func quantA8AVX2(dst *uint8, src *float32, n8 int, inv float32, za float32)

// minMaxAVX2 returns the smallest and largest of 8·n8 ≥ 8 values, and
// whether one of them is a NaN.
//
//go:noescape
func minMaxAVX2(src *float32, n8 int) (lo, hi float32, nan bool)

// a8ArchKernel is A8Kernel's name for this build's assembly kernel.
const a8ArchKernel = "avx2"

// a8QuantAsm: quantRowA8 may use the AVX2 min/max and quantizer.
const a8QuantAsm = true

// kernA8Arch runs the AVX2 kernel with the fewest rows that covers mr
// (direct calls, no func value: the pointers do not escape).
func kernA8Arch(mr, kq int, a []uint8, lda int, b []int8, c []float32, ldc int, za []int32, sa []float32, cs []int32, sw, bias []float32) {
	switch {
	case mr <= 2:
		kernA8x2AVX2(kq, &a[0], lda, &b[0], &c[0], ldc, &za[0], &sa[0], &cs[0], &sw[0], &bias[0])
	case mr <= 4:
		kernA8x4AVX2(kq, &a[0], lda, &b[0], &c[0], ldc, &za[0], &sa[0], &cs[0], &sw[0], &bias[0])
	default:
		kernA8AVX2(kq, &a[0], lda, &b[0], &c[0], ldc, &za[0], &sa[0], &cs[0], &sw[0], &bias[0])
	}
}

// quantScaledA8AVX2 and minMaxScaledAVX2 are quantA8AVX2 and minMaxAVX2
// of src[i]·scale[i] (quantRowA8 with scales).
//
//go:noescape
func quantScaledA8AVX2(dst *uint8, src, scale *float32, n8 int, inv float32, za float32)

//go:noescape
func minMaxScaledAVX2(src, scale *float32, n8 int) (lo, hi float32, nan bool)

func minMaxScaledA8Arch(src, scale *float32, n8 int) (lo, hi float32, nan bool) {
	return minMaxScaledAVX2(src, scale, n8)
}

func quantScaledA8Arch(dst *uint8, src, scale *float32, n8 int, inv, za float32) {
	quantScaledA8AVX2(dst, src, scale, n8, inv, za)
}

func minMaxA8Arch(src *float32, n8 int) (lo, hi float32, nan bool) { return minMaxAVX2(src, n8) }

func quantA8Arch(dst *uint8, src *float32, n8 int, inv, za float32) {
	quantA8AVX2(dst, src, n8, inv, za)
}
