package gemm

import (
	"sync/atomic"
	"time"

	"github.com/aotp/aotp/kernels/parallel"
)

// PeakGFLOPS measures the machine's FMA peak for the selected
// implementation's vector width: a register-only loop of independent FMAs
// (no memory traffic) on each of `threads` threads (at most
// parallel.Threads()) for about d. It is the ceiling any fp32 kernel of
// that width can reach here at the current clock, which benchmarks divide
// their GFLOP/s by. 0 where no such loop exists (the generic kernel, other
// architectures).
func PeakGFLOPS(threads int, d time.Duration) float64 {
	var l fmaLoop
	for _, c := range fmaLoops() {
		if c.name == Impl() {
			l = c
		}
	}
	if l.run == nil || threads < 1 {
		return 0
	}
	const iters = 1 << 12 // ~40 µs a call at 4 GHz
	var reps atomic.Int64
	start := time.Now()
	parallel.For(threads, 1, func(lo, hi int) {
		for ; lo < hi; lo++ {
			n := int64(0)
			for t0 := time.Now(); time.Since(t0) < d; n++ {
				l.run(iters)
			}
			reps.Add(n)
		}
	})
	return float64(reps.Load()) * iters * l.flops / time.Since(start).Seconds() / 1e9
}
