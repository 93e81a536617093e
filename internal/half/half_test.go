package half

import (
	"math"
	"testing"
)

// ToFloat32 is exact: every half value equals its value computed in float64
// from the bit fields.
func TestToFloat32AllValues(t *testing.T) {
	for v := 0; v < 1<<16; v++ {
		h := uint16(v)
		got := ToFloat32(h)
		exp, man := int(h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch exp {
		case 0:
			want = man * math.Pow(2, -24)
		case 0x1f:
			if man == 0 {
				want = math.Inf(1)
			} else {
				want = math.NaN()
			}
		default:
			want = (1 + man/1024) * math.Pow(2, float64(exp-15))
		}
		if h>>15 == 1 {
			want = -want
		}
		if float64(got) != want && !(math.IsNaN(want) && got != got) {
			t.Fatalf("half %#04x: %v, want %v", h, got, want)
		}
	}
}
