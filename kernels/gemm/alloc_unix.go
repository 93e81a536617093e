//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gemm

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocPacked returns n zeroed elements for long-lived packed weights,
// page-aligned, in an anonymous mapping outside the Go heap: hundreds of MB
// of weights on the heap would double the GC's heap target (GOGC sizes it
// from the live heap) and so the process's memory. The mapping is unmapped
// when owner becomes unreachable.
func allocPacked[T float32 | uint16 | int8](owner *PackedB, n int) []T {
	if n == 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, int(unsafe.Sizeof(T(0)))*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]T, n)
	}
	runtime.AddCleanup(owner, func(b []byte) { _ = unix.Munmap(b) }, b)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
