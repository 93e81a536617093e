//go:build linux

package safetensors

import (
	"os"

	"golang.org/x/sys/unix"
)

var pageSize = os.Getpagesize()

const canDropPages = true

// dropPages unmaps the page-aligned b from the process's resident set. On
// a private file mapping whose pages were never written, MADV_DONTNEED
// discards only this process's page-table entries: the next access maps
// the page cache's copy again, so the contents are unchanged.
func dropPages(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }
