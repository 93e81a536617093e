//go:build (!amd64 && !arm64) || purego

package gemm

// No assembly kernel for this architecture (or -tags purego): only the
// generic Go kernel.
var archImpls []*impl

func fmaLoops() []fmaLoop { return nil }
