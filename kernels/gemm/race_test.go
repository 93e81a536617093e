//go:build race

package gemm

// The race detector allocates on its own: allocation counts mean nothing.
const raceEnabled = true
