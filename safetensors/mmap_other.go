//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package safetensors

import (
	"fmt"
	"io"
	"os"
	"unsafe"
)

const haveMmap = false

// mapFile reads the whole file into one buffer aligned to 8 bytes, so that
// F32/F64 data at aligned offsets can still be viewed without a further copy.
// The writable flag is irrelevant: the buffer is private memory.
func mapFile(f *os.File, size int64, writable bool) ([]byte, error) {
	if int64(int(size)) != size {
		return nil, fmt.Errorf("file of %d bytes is too large to load on this platform", size)
	}
	words := make([]uint64, (size+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)[:size]
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

func unmapFile(b []byte) error { return nil }
