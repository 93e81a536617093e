// Package half converts between float32 and IEEE 754 binary16 (F16), one
// value at a time, exactly as the hardware does (F16C's VCVTPH2PS and
// VCVTPS2PH with round to nearest even): the one scalar implementation that
// safetensors (F16 checkpoints and adapters), kernels/vec (F16 tables) and
// kernels/gemm (F16 weights; its vector routines are tested against it)
// share.
package half

import "math"

// ToFloat32 decodes an IEEE 754 binary16 value. It is exact.
func ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN; NaN payload kept
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant·2^-24. Normalize into a float32 normal.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// FromFloat32 encodes f as IEEE 754 binary16, rounding to nearest, ties to
// even. Values beyond the F16 range become ±Inf, values below half the
// smallest subnormal become ±0, and NaN stays a (quiet) NaN.
func FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13) // quiet NaN, keep top payload bits
	}
	e := exp - 127 + 15 // biased F16 exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// F16 subnormal (or zero): m = round(M · 2^(e-14)) with M the 24-bit
		// significand, i.e. a right shift by 14-e bits.
		if exp == 0 { // float32 zero or subnormal: far below F16 range
			return sign
		}
		shift := uint(14 - e)
		if shift > 24 { // value < 2^-25: rounds to zero
			return sign
		}
		m := mant | 0x800000
		q := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++ // may carry into the smallest normal (0x400): correct
		}
		return sign | uint16(q)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf (0x7c00): correct
	}
	return sign | uint16(h)
}
