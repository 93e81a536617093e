//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gemm

// allocPacked returns n zeroed float32s for packed weights.
func allocPacked(owner *PackedB, n int) []float32 { return alignedFloats(n) }
