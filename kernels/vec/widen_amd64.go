//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

var hasF16C = hasAVX2 && cpu.X86.HasF16C

//go:noescape
func addF16AVX2(dst *float32, src *uint16, n int)

//go:noescape
func addBF16AVX2(dst *float32, src *uint16, n int)

//go:noescape
func addI8AVX2(dst *float32, src *int8, n int, scale float32)

// The assembly handles multiples of 8; the tail goes through the generic
// code (same arithmetic: widening is exact, the add is one rounding).
func useAsm() bool { return k() != genericKernels }

func addF16Impl(dst []float32, src []uint16) {
	m := len(src) &^ 7
	if hasF16C && useAsm() && m > 0 {
		addF16AVX2(&dst[0], &src[0], m)
	} else {
		m = 0
	}
	addF16Generic(dst[m:], src[m:])
}

func addBF16Impl(dst []float32, src []uint16) {
	m := len(src) &^ 7
	if hasAVX2 && useAsm() && m > 0 {
		addBF16AVX2(&dst[0], &src[0], m)
	} else {
		m = 0
	}
	addBF16Generic(dst[m:], src[m:])
}

func addI8Impl(dst []float32, src []int8, scale float32) {
	m := len(src) &^ 7
	if hasAVX2 && useAsm() && m > 0 {
		addI8AVX2(&dst[0], &src[0], m, scale)
	} else {
		m = 0
	}
	addI8Generic(dst[m:], src[m:], scale)
}
