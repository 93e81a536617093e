package model

import (
	"math"
	"testing"
)

// applyAt agrees with keep element by element for any offset and length,
// and drops a fraction close to p.
func TestDropoutMasks(t *testing.T) {
	d := newDropout(0.1, &TrainOptions{Seed: 42, Step: 7}).layer(3).site(siteFFNOut)
	for _, off := range []int{0, 1, 2, 3, 5, 1001} {
		x := make([]float32, 37)
		for i := range x {
			x[i] = 1
		}
		d.applyAt(x, off)
		for i, v := range x {
			want := float32(0)
			if d.keep(off + i) {
				want = 1 / (1 - d.p)
			}
			if v != want {
				t.Fatalf("off %d element %d: %v, keep says %v", off, i, v, want)
			}
		}
	}
	n, dropped := 1<<20, 0
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	d.apply(x)
	for _, v := range x {
		if v == 0 {
			dropped++
		}
	}
	if f := float64(dropped) / float64(n); math.Abs(f-0.1) > 0.002 {
		t.Fatalf("dropped fraction %.4f, want 0.1", f)
	}
	// different sites, layers and steps draw different masks
	other := newDropout(0.1, &TrainOptions{Seed: 42, Step: 8}).layer(3).site(siteFFNOut)
	same := 0
	for i := 0; i < 1000; i++ {
		if d.keep(i) == other.keep(i) {
			same++
		}
	}
	if same > 900 {
		t.Fatalf("masks of two steps agree on %d of 1000 elements", same)
	}
}
