package gemm

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// kernelFunc is a micro-kernel: it multiplies the packed mr×kc panel at a by
// the packed kc×nr panel at b and writes the mr×nr tile at c (row stride ldc
// elements):
//
//	C = A·B + bias + beta·C
//
// where bias (nil: none) is an nr-vector added to every row. beta == 0 writes
// C without reading it. a, b and c are never retained.
type kernelFunc func(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)

// impl is one micro-kernel with the blocking parameters tuned for it.
type impl struct {
	name   string
	mr, nr int // register tile
	kc     int // depth of a packed panel: the kc×nr B micro-panel stays in L1
	mc     int // rows of a packed A block: mc×kc stays in L2
	nc     int // columns of a packed B block: kc×nc stays in L3
	kern   kernelFunc
	// kernE, when not nil, computes the top mrE rows of a tile only, for
	// edge tiles of at most mrE rows (the same sums, bit for bit)
	kernE kernelFunc
	mrE   int
	// kernH and kernEH, when not nil, are kern and kernE on F16 B panels
	// (b points to uint16 values), with the results of kern and kernE on
	// the widened panel bit for bit; without them F16 panels are widened
	// into a scratch panel first
	kernH, kernEH kernelFunc
	// optional kernels for int8 B panels (PackBInt8): b points to int8
	// values and bias to [scale | bias] (2·nr floats); each column's sum of
	// a·q is scaled, then the bias added. Without them int8 panels are
	// widened (q·scale) into a scratch panel first
	kernQ, kernEQ kernelFunc
	// a8asm: the architecture's W8A8 kernel (a8.go: AVX2, or SDOT on arm64)
	// and, where it has them, its row quantizer may be used;
	// without them the Go ones give the same bits
	a8asm bool
	// asmPack: the AVX2 packing routines may be used (mr a multiple of 6,
	// nr a multiple of 8).
	asmPack bool
}

// impls lists the implementations this CPU can run, fastest first: the
// architecture's assembly kernels (archImpls), then "generic".
var impls []*impl

var cur atomic.Pointer[impl]

func init() {
	impls = append(append(impls, archImpls...), genericImpl)
	cur.Store(impls[0])
	if env := strings.TrimSpace(os.Getenv("AOTP_GEMM")); env != "" {
		if err := SetImpl(env); err != nil {
			fmt.Fprintf(os.Stderr, "gemm: AOTP_GEMM=%q ignored: %v (using %s)\n", env, err, Impl())
		}
	}
}

// knownImpls are all names SetImpl understands, on any CPU.
var knownImpls = []string{"avx512", "avx2", "neon", "generic"}

// SetImpl selects the micro-kernel by name: "avx512", "avx2", "neon" or "generic"
// (pure Go). It returns an error, and changes nothing, when the name is
// unknown or this CPU (or build) cannot run it. The choice is global; calls
// already running finish with the kernel they started with.
func SetImpl(name string) error {
	for _, im := range impls {
		if im.name == name {
			cur.Store(im)
			return nil
		}
	}
	for _, k := range knownImpls {
		if k == name {
			return fmt.Errorf("gemm: implementation %q not supported by this CPU or build", name)
		}
	}
	return fmt.Errorf("gemm: unknown implementation %q (want avx512, avx2, neon or generic)", name)
}

// Impl returns the name of the selected implementation.
func Impl() string { return cur.Load().name }

// Impls returns the names of the implementations this CPU can run, fastest
// first.
func Impls() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// fmaLoop is a register-only FMA loop that measures the machine's peak
// (BenchmarkPeakFMA): run(n) does n iterations of flops each.
type fmaLoop struct {
	name  string
	run   func(n int)
	flops float64
}
