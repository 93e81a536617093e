package half

// toFloat32sAsm, when the CPU has one (F16C, NEON), widens n F16 values (n
// a multiple of 8) at src to float32 at dst.
var toFloat32sAsm func(dst *float32, src *uint16, n int)

// fromFloat32sAsm, when the CPU has one (F16C), rounds n float32 values (n
// a multiple of 8) at src to F16 at dst, as FromFloat32.
var fromFloat32sAsm func(dst *uint16, src *float32, n int)

// ToFloat32s widens src into dst[:len(src)], each value as ToFloat32 gives
// it (F16C or NEON where the CPU has them, 8 values an instruction).
func ToFloat32s(dst []float32, src []uint16) { convert(dst, src, toFloat32sAsm, ToFloat32) }

// FromFloat32s rounds src into dst[:len(src)], each value as FromFloat32
// gives it (F16C where the CPU has it).
func FromFloat32s(dst []uint16, src []float32) { convert(dst, src, fromFloat32sAsm, FromFloat32) }

// convert runs asm over the whole groups of 8 when there is one, and one
// over the rest.
func convert[D, S float32 | uint16](dst []D, src []S, asm func(*D, *S, int), one func(S) D) {
	dst = dst[:len(src)]
	n := 0
	if asm != nil {
		if n = len(src) &^ 7; n > 0 {
			asm(&dst[0], &src[0], n)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = one(src[i])
	}
}
