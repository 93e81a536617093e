//go:build (!amd64 && !arm64) || purego

package gemm

// No W8A8 assembly in this build: no implementation sets a8asm, and the Go
// kernel and quantizer run.

// a8ArchKernel is A8Kernel's name for this build's assembly kernel
// (none); a8QuantAsm: no assembly quantizer.
const (
	a8ArchKernel = "go"
	a8QuantAsm   = false
)

func kernA8Arch(mr, kq int, a []uint8, lda int, b []int8, c []float32, ldc int, za []int32, sa []float32, cs []int32, sw, bias []float32) {
	panic("gemm: no assembly W8A8 kernel in this build")
}

func minMaxA8Arch(src *float32, n8 int) (lo, hi float32, nan bool) {
	panic("gemm: no assembly min/max in this build")
}

func quantA8Arch(dst *uint8, src *float32, n8 int, inv, za float32) {
	panic("gemm: no assembly W8A8 quantizer in this build")
}

func minMaxScaledA8Arch(src, scale *float32, n8 int) (lo, hi float32, nan bool) {
	panic("gemm: no assembly min/max in this build")
}

func quantScaledA8Arch(dst *uint8, src, scale *float32, n8 int, inv, za float32) {
	panic("gemm: no assembly W8A8 quantizer in this build")
}
