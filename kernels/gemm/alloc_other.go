//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gemm

// allocPacked returns n zeroed elements for packed weights.
func allocPacked[T float32 | uint16 | int8](owner *PackedB, n int) []T { return make([]T, n) }
