package gemm

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestABTune compares implementation variants (blocking, kernels) on the
// forward Linear shapes, alternating them call by call so that the noise of
// a shared machine hits all alike; it prints the median and best GFLOP/s.
// Run with AOTP_GEMM_AB=1 go test -run ABTune -v ./kernels/gemm/
// (AOTP_GEMM_AB_SHAPES="M,K,N;..." picks shapes, AOTP_GEMM_AB_VARIANTS=
// "kc,mc,nc;..." adds blockings of the kernel, run with packed B, and
// "noedge" the kernel without its edge kernel;
// AOTP_GEMM_AB_BASE names the kernel, default avx2).
func TestABTune(t *testing.T) {
	if os.Getenv("AOTP_GEMM_AB") == "" {
		t.Skip("set AOTP_GEMM_AB=1")
	}
	name := os.Getenv("AOTP_GEMM_AB_BASE")
	if name == "" {
		name = "avx2"
	}
	base := byName(name)
	if base == nil {
		t.Skip("no " + name + " on this CPU")
	}
	variants := abVariants(base)
	shapes := [][3]int{{1024, 768, 768}, {1024, 768, 3072}, {1024, 3072, 768}, {1024, 1024, 4096}, {1024, 4096, 1024}}
	if s := os.Getenv("AOTP_GEMM_AB_SHAPES"); s != "" {
		shapes = nil
		for _, f := range strings.Split(s, ";") {
			var sh [3]int
			fmt.Sscanf(f, "%d,%d,%d", &sh[0], &sh[1], &sh[2])
			shapes = append(shapes, sh)
		}
	}
	rounds := 15
	r := rand.New(rand.NewSource(1))
	for _, sh := range shapes {
		M, K, N := sh[0], sh[1], sh[2]
		inp, w, out := randSlice(r, M*K), randSlice(r, N*K), make([]float32, M*N)
		pws := make([]*PackedB, len(variants))
		for i, v := range variants {
			pws[i] = packBFor(v.im, w, N, K, true, false)
		}
		times := make([][]float64, len(variants))
		for round := 0; round < rounds; round++ {
			for i, v := range variants {
				withImpl(t, v.im, func() {
					t0 := time.Now()
					if v.packed {
						LinearPacked(out, inp, pws[i], nil, M, nil)
					} else {
						Linear(out, inp, w, nil, M, K, N, nil)
					}
					times[i] = append(times[i], time.Since(t0).Seconds())
				})
			}
		}
		flop := 2 * float64(M) * float64(K) * float64(N) / 1e9
		for i, v := range variants {
			ts := times[i]
			sort.Float64s(ts)
			t.Logf("M%d K%d N%d %-22s median %6.1f  best %6.1f GFLOP/s", M, K, N, v.name, flop/ts[len(ts)/2], flop/ts[0])
		}
	}
}

type abVariant struct {
	name   string
	im     *impl
	packed bool
}

func abVariants(base *impl) []abVariant {
	v := []abVariant{{"linear", base, false}, {"packed", base, true}}
	for _, s := range strings.Split(os.Getenv("AOTP_GEMM_AB_VARIANTS"), ";") {
		if s == "" {
			continue
		}
		im := *base
		if s == "noedge" {
			im.kernE, im.mrE = nil, 0
		} else {
			fmt.Sscanf(s, "%d,%d,%d", &im.kc, &im.mc, &im.nc)
		}
		im.name = base.name // LinearPacked checks the impl pointer, not the name
		v = append(v, abVariant{"packed " + s, &im, true})
	}
	return v
}
