package safetensors

import (
	"math"
	"testing"
)

func TestFloat32ToF16Known(t *testing.T) {
	p2 := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	cases := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{0.1, 0x2e66},
		{1.0 / 3, 0x3555},
		{65504, 0x7bff},                 // max finite
		{65519.996, 0x7bff},             // just below the rounding boundary
		{65520, 0x7c00},                 // tie between max and 2^16: rounds to even = Inf
		{1e6, 0x7c00},                   // overflow
		{-1e6, 0xfc00},                  // negative overflow
		{float32(math.Inf(1)), 0x7c00},  // Inf
		{float32(math.Inf(-1)), 0xfc00}, // -Inf
		{p2(-14), 0x0400},               // smallest normal
		{p2(-24), 0x0001},               // smallest subnormal
		{p2(-25), 0x0000},               // tie between 0 and 2^-24: even = 0
		{p2(-25) * 1.5, 0x0001},         // above the tie
		{p2(-24) * 3, 0x0003},           // exact subnormal
		{p2(-24) * 2.5, 0x0002},         // tie: even
		{p2(-24) * 3.5, 0x0004},         // tie: even
		{p2(-14) - p2(-25), 0x0400},     // rounds up into the smallest normal
		{1 + p2(-11), 0x3c00},           // tie: even (down)
		{1 + 3*p2(-11), 0x3c02},         // tie: even (up)
		{1 + p2(-11) + p2(-20), 0x3c01}, // above tie
		{2047, 0x67ff},                  // exact
		{2049, 0x6800},                  // tie: even
		{float32(math.SmallestNonzeroFloat32), 0x0000},
	}
	for _, c := range cases {
		if g := Float32ToF16(c.in); g != c.want {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", c.in, g, c.want)
		}
	}
	nan := Float32ToF16(float32(math.NaN()))
	if nan&0x7c00 != 0x7c00 || nan&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", nan)
	}
	if g := Float32ToF16(math.Float32frombits(0x7f800001)); g&0x3ff == 0 { // signalling NaN with low payload
		t.Errorf("sNaN became Inf: %#04x", g)
	}
}

func TestF16ExhaustiveRoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToFloat32(h)
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: NaN decoded as %g", h, f)
			}
			continue
		}
		if g := Float32ToF16(f); g != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, g)
		}
	}
	// Decoded values are exact: check a few against math.
	if F16ToFloat32(0x0001) != float32(math.Ldexp(1, -24)) || F16ToFloat32(0x03ff) != float32(math.Ldexp(1023, -24)) || F16ToFloat32(0x7bff) != 65504 {
		t.Errorf("subnormal/max decoding wrong")
	}
}

// Float32ToF16 must round to the nearest F16 (ties even) for every float32
// in range: compare with a float64 reference on a sweep of inputs.
func TestF16RoundingAgainstReference(t *testing.T) {
	for b := uint32(0x33000000); b < 0x47800000; b += 0x1235 {
		f := math.Float32frombits(b)
		g := Float32ToF16(f)
		if f >= 65520 { // IEEE: beyond max + half an ulp rounds to Inf
			if g != 0x7c00 {
				t.Fatalf("%g -> %#04x, want Inf", f, g)
			}
			continue
		}
		lo := float64(F16ToFloat32(g))
		// neighbours of g
		dn, up := float64(F16ToFloat32(g-1)), float64(F16ToFloat32(g+1))
		d := math.Abs(float64(f) - lo)
		if g > 0 && math.Abs(float64(f)-dn) < d || g < 0x7c00 && math.Abs(float64(f)-up) < d {
			t.Fatalf("%g -> %#04x (%g) is not nearest", f, g, lo)
		}
	}
}

func TestBF16Known(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3dcccccd, 0x3dcd}, // 0.1 rounds up
		{0x40490fdb, 0x4049}, // pi rounds down
		{0x3f808000, 0x3f80}, // tie, even down
		{0x3f818000, 0x3f82}, // tie, even up
		{0x3f808001, 0x3f81}, // above tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to Inf
		{0xff7fffff, 0xff80},
		{0x7f800000, 0x7f80}, // Inf
		{0x80000000, 0x8000}, // -0
		{0x00000001, 0x0000}, // tiny subnormal
	}
	for _, c := range cases {
		if g := Float32ToBF16(math.Float32frombits(c.bits)); g != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", c.bits, g, c.want)
		}
	}
	if g := Float32ToBF16(math.Float32frombits(0x7f800001)); g&0x7f80 != 0x7f80 || g&0x7f == 0 {
		t.Errorf("NaN with low payload -> %#04x, not NaN", g)
	}
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToFloat32(h)
		if math.IsNaN(float64(f)) {
			continue
		}
		if g := Float32ToBF16(f); g != h {
			t.Fatalf("bf16 %#04x -> %g -> %#04x", h, f, g)
		}
	}
}
