package gemm

import (
	"fmt"
	"math"

	"github.com/aotp/aotp/kernels/parallel"
)

// HalfFromFloat32 rounds f to the nearest IEEE binary16 value (ties to
// even), as VCVTPS2PH and torch's .half() do: overflow gives ±Inf, NaN stays
// NaN (quiet), values below the smallest subnormal round to ±0.
func HalfFromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// subnormal half (or zero): shift the full mantissa into place
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint(14 - e) // 24-bit significand → 10-bit subnormal field
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++ // may carry into the smallest normal: still correct
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: still correct
	}
	return sign | uint16(h)
}

// Float32FromHalf widens the binary16 value h to float32 (exact).
func Float32FromHalf(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: normalise
	e := uint32(127 - 15 + 1)
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
}

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
// values (n a multiple of 8) at src to F16 at dst, as HalfFromFloat32.
var floatsToHalfAsm func(dst *uint16, src *float32, n int)

// floatsToHalf rounds src into dst (at least as long).
func floatsToHalf(dst []uint16, src []float32) {
	if floatsToHalfAsm == nil || len(src)%8 != 0 || len(dst) < len(src) {
		for i, v := range src {
			dst[i] = HalfFromFloat32(v)
		}
		return
	}
	if len(src) > 0 {
		floatsToHalfAsm(&dst[0], &src[0], len(src))
	}
}

func halfToFloatsGo(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] = Float32FromHalf(h)
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
