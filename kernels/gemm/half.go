package gemm

import "github.com/aotp/aotp/internal/half"

// halfToFloats widens src into dst (at least as long): F16C or NEON where
// the CPU has them.
func halfToFloats(dst []float32, src []uint16) { half.ToFloat32s(dst, src) }

// floatsToHalf rounds src into dst (at least as long): F16C where the CPU
// has it.
func floatsToHalf(dst []uint16, src []float32) { half.FromFloat32s(dst, src) }

// Half reports whether the weight is stored as F16 (PackBHalf).
func (pb *PackedB) Half() bool { return pb.half != nil }

// blockHalf is block for an F16 weight.
func (pb *PackedB) blockHalf(pc, jc int) []uint16 {
	kb := min(pb.kcStep, pb.k-pc)
	return pb.half[pc*pb.np+jc*kb : pc*pb.np+kb*pb.np]
}
