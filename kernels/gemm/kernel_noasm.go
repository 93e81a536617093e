//go:build !amd64 || purego

package gemm

// Without the amd64 assembly (other architectures, or -tags purego) the
// x86 kernels and packing routines do not exist; archImpls comes from
// kernel_arm64.go (NEON) or kernel_other.go (none), and so does fmaLoops.

var avx512Impl, avx2Impl *impl

func packT8AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int) {
	panic("gemm: no assembly packing in this build")
}

func dequantAVX2(dst *float32, src *int8, scale *float32, nr8, rows int) {
	panic("gemm: no assembly dequantization in this build")
}

func dequantRowsAVX2(dst *float32, src *int8, rowScale *float32, nr8, rows int) {
	panic("gemm: no assembly dequantization in this build")
}

func packA6AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int, alpha float32) {
	panic("gemm: no assembly packing in this build")
}

func packAT6AVX2(dst *float32, dstStride int, src *float32, lds int, n int, alpha float32) {
	panic("gemm: no assembly packing in this build")
}

func kernA8AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32) {
	panic("gemm: no assembly W8A8 kernel in this build")
}

func kernA8x4AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32) {
	panic("gemm: no assembly W8A8 kernel in this build")
}

func kernA8x2AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32) {
	panic("gemm: no assembly W8A8 kernel in this build")
}

func quantA8AVX2(dst *uint8, src *float32, n8 int, inv float32, za float32) {
	panic("gemm: no assembly W8A8 quantizer in this build")
}

func minMaxAVX2(src *float32, n8 int) (lo, hi float32, nan bool) {
	panic("gemm: no assembly min/max in this build")
}
