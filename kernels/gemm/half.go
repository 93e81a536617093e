package gemm

import (
	"fmt"

	"github.com/aotp/aotp/internal/half"
	"github.com/aotp/aotp/kernels/parallel"
)

// halfToFloatsAsm, when the architecture has one (F16C, NEON), widens n
// F16 values (n a multiple of 8) at src to float32 at dst.
var halfToFloatsAsm func(dst *float32, src *uint16, n int)

// halfToFloats widens src into dst (at least as long).
func halfToFloats(dst []float32, src []uint16) {
	if halfToFloatsAsm == nil || len(src)%8 != 0 || len(dst) < len(src) {
		halfToFloatsGo(dst, src)
		return
	}
	if len(src) > 0 {
		halfToFloatsAsm(&dst[0], &src[0], len(src))
	}
}

// floatsToHalfAsm, when the architecture has one (F16C), rounds n float32
// values (n a multiple of 8) at src to F16 at dst, as half.FromFloat32.
var floatsToHalfAsm func(dst *uint16, src *float32, n int)

// floatsToHalf rounds src into dst (at least as long).
func floatsToHalf(dst []uint16, src []float32) {
	if floatsToHalfAsm == nil || len(src)%8 != 0 || len(dst) < len(src) {
		for i, v := range src {
			dst[i] = half.FromFloat32(v)
		}
		return
	}
	if len(src) > 0 {
		floatsToHalfAsm(&dst[0], &src[0], len(src))
	}
}

func halfToFloatsGo(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] = half.ToFloat32(h)
	}
}

// PackBHalf is PackB storing the packed weight as F16 (see above): half
// the memory, and half the traffic of a small-batch forward pass, for
// results equal to PackB's on the weight rounded to F16. It is read only by
// LinearPacked.
func PackBHalf(weight []float32, N, K int) *PackedB {
	im := cur.Load()
	if N < 0 || K < 0 {
		panic(fmt.Sprintf("gemm: PackBHalf: negative size N=%d K=%d", N, K))
	}
	checkMat("weight", weight, N, K, K)
	nr := im.nr
	pb := &PackedB{im: im, n: N, k: K, np: ceilDiv(N, nr) * nr}
	if N == 0 || K == 0 {
		return pb
	}
	pb.kcStep = kcStepFor(K, im.kc)
	pb.half = allocPacked[uint16](pb, pb.np*K)
	nPanels := pb.np / nr
	for pc := 0; pc < K; pc += pb.kcStep {
		kb := min(pb.kcStep, K-pc)
		dst := pb.half[pc*pb.np : pc*pb.np+kb*pb.np]
		parallel.For(nPanels, 8, func(lo, hi int) {
			// pack one micro-panel at a time in float32, then round it
			var tmp []float32
			for jp := lo; jp < hi; jp++ {
				if tmp == nil {
					tmp = make([]float32, kb*nr)
				}
				packB(tmp, weight, K, true, pc, kb, jp*nr, min(nr, N-jp*nr), nr, 0, 1, im.asmPack)
				floatsToHalf(dst[jp*nr*kb:(jp+1)*nr*kb], tmp)
			}
		})
	}
	return pb
}

// Half reports whether the weight is stored as F16 (PackBHalf).
func (pb *PackedB) Half() bool { return pb.half != nil }

// blockHalf is block for an F16 weight.
func (pb *PackedB) blockHalf(pc, jc int) []uint16 {
	kb := min(pb.kcStep, pb.k-pc)
	return pb.half[pc*pb.np+jc*kb : pc*pb.np+kb*pb.np]
}
