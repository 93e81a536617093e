//go:build !linux

package safetensors

import "os"

var pageSize = os.Getpagesize()

const canDropPages = false

// dropPages does nothing outside Linux, where MADV_DONTNEED on a file
// mapping is not guaranteed to keep its contents (or is not available).
func dropPages(b []byte) error { return nil }
