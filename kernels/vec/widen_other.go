//go:build !amd64 || purego

package vec

func addF16Impl(dst []float32, src []uint16)             { addF16Generic(dst, src) }
func addBF16Impl(dst []float32, src []uint16)            { addBF16Generic(dst, src) }
func addI8Impl(dst []float32, src []int8, scale float32) { addI8Generic(dst, src, scale) }
