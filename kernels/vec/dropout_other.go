//go:build !amd64 || purego

package vec

// dropGroups: no assembly here, DropoutAt's Go loop does every group.
func dropGroups(x []float32, key, g0 uint64, scale float32, thr uint64) int { return 0 }
