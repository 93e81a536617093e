package gemm

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aotp/aotp/kernels/parallel"
)

// scratch: best-of-N alternating with peak
func TestScratchPerf(t *testing.T) {
	spec := os.Getenv("SCRATCH")
	if spec == "" {
		t.Skip()
	}
	th, _ := strconv.Atoi(os.Getenv("TH"))
	if th == 0 {
		th = 2
	}
	parallel.SetThreads(th)
	if v := os.Getenv("BLK"); v != "" {
		f := strings.Split(v, ",")
		avx2Impl.kc, _ = strconv.Atoi(f[0])
		avx2Impl.mc, _ = strconv.Atoi(f[1])
		avx2Impl.nc, _ = strconv.Atoi(f[2])
	}
	dur, _ := time.ParseDuration(os.Getenv("DUR"))
	if dur == 0 {
		dur = 3 * time.Second
	}
	for _, s := range strings.Split(spec, ",") {
		f := strings.Split(s, "x")
		form := f[0]
		m, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		k, _ := strconv.Atoi(f[3])
		tA, tB := form[0] == 'T', form[1] == 'T'
		r := rand.New(rand.NewSource(1))
		a := randSlice(r, m*k)
		bb := randSlice(r, k*n)
		c := make([]float32, m*n)
		lda, ldb := k, n
		if tA {
			lda = m
		}
		if tB {
			ldb = k
		}
		best, bestPeak, bestCPU := 0.0, 0.0, 0.0
		end := time.Now().Add(dur)
		reps := 1
		for time.Now().Before(end) {
			st := time.Now()
			parallel.For(th, 1, func(lo, hi int) { fmaLoopAVX2(1 << 16) })
			if p := 160 * float64(1<<16) * float64(th) / time.Since(st).Seconds() / 1e9; p > bestPeak {
				bestPeak = p
			}
			st = time.Now()
			cpu0 := cpuTime()
			for i := 0; i < reps; i++ {
				Sgemm(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			}
			el := time.Since(st)
			if g := 2 * float64(m) * float64(n) * float64(k) * float64(reps) / (cpuTime() - cpu0).Seconds() / 1e9; g > bestCPU {
				bestCPU = g
			}
			if g := 2 * float64(m) * float64(n) * float64(k) * float64(reps) / el.Seconds() / 1e9; g > best {
				best = g
			}
			if el < time.Millisecond {
				reps *= 2
			}
		}
		fmt.Printf("%-22s th=%d  best %6.1f GFLOP/s  peak %6.1f  ratio %.1f%%  per-CPU-second %6.1f (%.1f%% of 1-core peak)\n", s, th, best, bestPeak, 100*best/bestPeak, bestCPU, 100*bestCPU*float64(th)/bestPeak)
	}
}

func TestScratchKernel(t *testing.T) {
	if os.Getenv("SCRATCHK") == "" {
		t.Skip()
	}
	for _, kc := range []int{64, 256, 512} {
		for _, mode := range []string{"l1", "panelA"} {
			r := rand.New(rand.NewSource(1))
			na := 6 * kc
			if mode == "panelA" {
				na = 6 * kc * 40 // 240-row A block streamed from L2
			}
			a := randSlice(r, na)
			b := randSlice(r, 16*kc)
			c := make([]float32, 6*16*40)
			best, bestPeak := 0.0, 0.0
			end := time.Now().Add(2 * time.Second)
			for time.Now().Before(end) {
				st := time.Now()
				fmaLoopAVX2(1 << 16)
				if p := 160 * float64(1<<16) / time.Since(st).Seconds() / 1e9; p > bestPeak {
					bestPeak = p
				}
				st = time.Now()
				const reps = 400
				for i := 0; i < reps; i++ {
					off := (i % (na / (6 * kc))) * 6 * kc
					kernAVX2(kc, &a[off], &b[0], &c[(i%40)*96], 16, 1, nil)
				}
				if g := 2 * 6 * 16 * float64(kc) * reps / time.Since(st).Seconds() / 1e9; g > best {
					best = g
				}
			}
			fmt.Printf("kc=%d %s best %.1f peak %.1f ratio %.1f%%\n", kc, mode, best, bestPeak, 100*best/bestPeak)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
