//go:build linux

package safetensors

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// Opening a 64 MB file and taking an F32 view must not make the process
// resident in proportion to the file: only touched pages count.
func TestOpenDoesNotReadTheFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MB file")
	}
	const n = 16 << 20 // 16M floats = 64 MB
	p := filepath.Join(t.TempDir(), "big.safetensors")
	func() {
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(i)
		}
		if err := Write(p, []Tensor{F32Tensor("w", []int{4096, 4096}, vals)}, nil); err != nil {
			t.Fatal(err)
		}
	}()
	runtime.GC()
	debug.FreeOSMemory()

	before := residentBytes(t)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, _, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != n {
		t.Fatalf("len %d", len(v))
	}
	afterView := residentBytes(t)
	if grew := afterView - before; grew > 8<<20 {
		t.Fatalf("RSS grew by %d bytes after Open+view of a 64 MB file (want < 8 MB)", grew)
	}
	// Touching the data makes it resident (file-backed pages): the
	// measurement itself works.
	var sum float32
	for i := 0; i < len(v); i += 1024 {
		sum += v[i]
	}
	afterTouch := residentBytes(t)
	if grew := afterTouch - before; grew < 32<<20 {
		t.Fatalf("RSS grew only %d bytes after touching 64 MB; measurement broken?", grew)
	}
	t.Logf("RSS: +%d KB after open+view, +%d KB after touching all pages (sum %g)", (afterView-before)>>10, (afterTouch-before)>>10, sum)
}
