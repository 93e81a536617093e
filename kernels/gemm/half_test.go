package gemm

import (
	"math"
	"math/rand"
	"testing"

	"github.com/aotp/aotp/kernels/parallel"
)

// Every F16 value widens exactly and the same in Go and with F16C.
func TestFloat32FromHalf(t *testing.T) {
	for _, c := range []struct {
		h uint16
		f float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 0x1p-24},
		{0x03ff, 1023 * 0x1p-24}, {0x0400, 0x1p-14}, {0x3555, 0.333251953125},
	} {
		if got := Float32FromHalf(c.h); got != c.f {
			t.Errorf("Float32FromHalf(%#04x) = %v, want %v", c.h, got, c.f)
		}
	}
	if f := Float32FromHalf(0x8000); f != 0 || !math.Signbit(float64(f)) {
		t.Errorf("Float32FromHalf(0x8000) = %v, want -0", f)
	}
	if !math.IsInf(float64(Float32FromHalf(0xfc00)), -1) || !math.IsNaN(float64(Float32FromHalf(0x7e01))) {
		t.Error("Inf/NaN not kept")
	}
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	got := make([]float32, len(src))
	halfToFloats(got, src) // F16C where the CPU has it
	for i, h := range src {
		want := Float32FromHalf(h)
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(math.IsNaN(float64(want)) && math.IsNaN(float64(got[i]))) {
			t.Fatalf("halfToFloats(%#04x) = %v (%#08x), Float32FromHalf gives %v (%#08x)",
				h, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
		if h&0x7c00 != 0x7c00 && HalfFromFloat32(want) != h {
			t.Fatalf("HalfFromFloat32(Float32FromHalf(%#04x)) = %#04x", h, HalfFromFloat32(want))
		}
	}
}

// HalfFromFloat32 rounds to the nearest F16 value, ties to even; beyond
// the largest finite value (65504, up to the halfway point 65520) it gives
// Inf, and under half the smallest subnormal 0.
func TestHalfFromFloat32Rounds(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{65519.99, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {-1e10, 0xfc00},
		{0x1p-25, 0}, {0x1.000002p-25, 1}, {0x1.8p-24, 2}, {1 + 0x1p-11, 0x3c00}, {1 + 0x1.8p-10, 0x3c02},
		{0x1.ffcp-15, 0x0400}, {float32(math.Inf(1)), 0x7c00},
	} {
		if got := HalfFromFloat32(c.f); got != c.h {
			t.Errorf("HalfFromFloat32(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := HalfFromFloat32(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("HalfFromFloat32(NaN) = %#04x", h)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		// finite values over F16's range and past it
		f := math.Float32frombits(r.Uint32()&0x80000000 | uint32(r.Intn(0x47800000)))
		h := HalfFromFloat32(f)
		got := float64(Float32FromHalf(h))
		err := math.Abs(got - float64(f))
		for _, n := range []uint16{h - 1, h + 1} {
			if n&0x7fff >= 0x7c00 || (h&0x7fff == 0 && n&0x7fff == 0x7fff) {
				continue
			}
			e := math.Abs(float64(Float32FromHalf(n)) - float64(f))
			if e < err || (e == err && h&1 == 1) {
				t.Fatalf("HalfFromFloat32(%v) = %#04x (%v), but %#04x (%v) is nearer or the even tie", f, h, got, n, Float32FromHalf(n))
			}
		}
	}
}

// LinearPacked on a PackBHalf weight is LinearPacked on the weight rounded
// to F16, bit for bit: every implementation, odd sizes, 1–3 threads (row
// and column splits), bias and activation.
func TestLinearPackedHalf(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	r := rand.New(rand.NewSource(11))
	var act func([]float32) = func(x []float32) {
		for i, v := range x {
			x[i] = max(v, 0)
		}
	}
	sizes := append(append([][3]int{}, packedSizes...), [3]int{8, 768, 300}, [3]int{200, 300, 130})
	for _, im := range testImpls() {
		withImpl(t, im, func() {
			for _, sz := range sizes {
				M, K, N := sz[0], sz[1], sz[2]
				inp, w, bias := randSlice(r, M*K), randSlice(r, N*K), randSlice(r, N)
				rounded := make([]float32, len(w))
				for i, v := range w {
					rounded[i] = Float32FromHalf(HalfFromFloat32(v))
				}
				ph, pf := PackBHalf(w, N, K), PackB(rounded, N, K)
				if !ph.Half() || pf.Half() || ph.Bytes()*2 != pf.Bytes() {
					t.Fatalf("%s: Half %v/%v, bytes %d vs %d", im.name, ph.Half(), pf.Half(), ph.Bytes(), pf.Bytes())
				}
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					for variant := 0; variant < 2; variant++ {
						b, f := bias, act
						if variant == 0 {
							b, f = nil, nil
						}
						want := make([]float32, M*N)
						got := make([]float32, M*N)
						LinearPacked(want, inp, pf, b, M, f)
						LinearPacked(got, inp, ph, b, M, f)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s M=%d K=%d N=%d threads=%d: out[%d]=%v, rounded float32 weight gives %v",
									im.name, M, K, N, th, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// floatsToHalf (F16C where the CPU has it) rounds as HalfFromFloat32,
// over random bit patterns: every exponent, subnormals, Inf and NaN.
func TestFloatsToHalf(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	src[0], src[1], src[2] = 65520, float32(math.Inf(-1)), 0x1p-25
	got := make([]uint16, len(src))
	floatsToHalf(got, src)
	for i, v := range src {
		if want := HalfFromFloat32(v); got[i] != want {
			t.Fatalf("floatsToHalf(%v = %#08x) = %#04x, HalfFromFloat32 gives %#04x", v, math.Float32bits(v), got[i], want)
		}
	}
}
