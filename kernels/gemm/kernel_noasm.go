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

func dequantRowsColsAVX2(dst *float32, src *int8, rowScale, colScale *float32, nr8, rows int) {
	panic("gemm: no assembly dequantization in this build")
}

func packA6AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int, alpha float32) {
	panic("gemm: no assembly packing in this build")
}

func packAT6AVX2(dst *float32, dstStride int, src *float32, lds int, n int, alpha float32) {
	panic("gemm: no assembly packing in this build")
}
