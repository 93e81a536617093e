package gemm

import "github.com/aotp/aotp/internal/half"

// halfToFloatsAsm, when the architecture has one (F16C, NEON), widens n
// F16 values (n a multiple of 8) at src to float32 at dst.
var halfToFloatsAsm func(dst *float32, src *uint16, n int)

// floatsToHalfAsm, when the architecture has one (F16C), rounds n float32
// values (n a multiple of 8) at src to F16 at dst, as half.FromFloat32.
var floatsToHalfAsm func(dst *uint16, src *float32, n int)

// halfToFloats widens src into dst (at least as long).
func halfToFloats(dst []float32, src []uint16) { convert(dst, src, halfToFloatsAsm, half.ToFloat32) }

// floatsToHalf rounds src into dst (at least as long).
func floatsToHalf(dst []uint16, src []float32) { convert(dst, src, floatsToHalfAsm, half.FromFloat32) }

// convert runs asm over src when there is one and the length suits it
// (whole groups of 8), else one per element.
func convert[D, S float32 | uint16](dst []D, src []S, asm func(*D, *S, int), one func(S) D) {
	if asm == nil || len(src)%8 != 0 || len(dst) < len(src) {
		for i, v := range src {
			dst[i] = one(v)
		}
		return
	}
	if len(src) > 0 {
		asm(&dst[0], &src[0], len(src))
	}
}

// Half reports whether the weight is stored as F16 (PackBHalf).
func (pb *PackedB) Half() bool { return pb.half != nil }

// blockHalf is block for an F16 weight.
func (pb *PackedB) blockHalf(pc, jc int) []uint16 {
	kb := min(pb.kcStep, pb.k-pc)
	return pb.half[pc*pb.np+jc*kb : pc*pb.np+kb*pb.np]
}
