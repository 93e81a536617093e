//go:build amd64 && !purego

package vec

// dropAVX2 drops n16 runs of 16 elements of x, whose first is the first of
// group g0 (four elements a group), as DropoutAt's Go loop does.
//
//go:noescape
func dropAVX2(x *float32, n16 int, key, g0 uint64, scale float32, thr uint32)

// dropGroups does the whole runs of 16 elements of x (group g0 first) in
// assembly and returns how many elements it did.
func dropGroups(x []float32, key, g0 uint64, scale float32, thr uint64) int {
	n16 := len(x) / 16
	if n16 == 0 || !hasAVX2 || !useAsm() || thr > 0xffff {
		return 0 // thr 65536 (p within 2⁻¹⁷ of 1) does not fit the words compared
	}
	dropAVX2(&x[0], n16, key, g0, scale, uint32(thr))
	return 16 * n16
}
