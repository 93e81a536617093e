package vec

// Counter-based dropout: the keep/drop decision of element i of a site is a
// pure function of the site's key and i (splitmix64's finaliser of key ^
// i/4, 16 bits per element), so a backward pass recomputes the mask
// instead of storing it, any split of the work across threads gives the
// same mask, and the AVX2 path gives the generic one's bits exactly.

// Mix is splitmix64's finaliser.
func Mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// DropThreshold is p in units of 2⁻¹⁶: an element whose 16 bits are below
// it is dropped (p = 0.1 becomes 6554/65536 = 0.100006).
func DropThreshold(p float32) uint64 { return uint64(p*65536 + 0.5) }

// DropKeep reports whether element i of the site with key survives dropout
// with probability p.
func DropKeep(key uint64, i int, p float32) bool {
	h := Mix(key ^ uint64(i>>2))
	return (h>>(uint(i&3)*16))&0xffff >= DropThreshold(p)
}

// DropoutAt applies dropout with probability p to x, whose element i is
// element off+i of the site with key: a dropped element becomes x·0 (a
// signed zero, as PyTorch's x·mask·scale), a kept one x·1/(1−p). The
// backward pass applies the same to the gradient.
func DropoutAt(x []float32, key uint64, off int, p float32) {
	if p == 0 || len(x) == 0 {
		return
	}
	scale := 1 / (1 - p)
	thr := DropThreshold(p)
	i := 0
	// up to the first whole group of four
	for ; i < len(x) && (off+i)&3 != 0; i++ {
		x[i] = keepOrZero(x[i], scale, Mix(key^uint64((off+i)>>2))>>(uint((off+i)&3)*16), thr)
	}
	// whole groups of four, sixteen elements at a time in assembly
	if n := dropGroups(x[i:], key, uint64((off+i)>>2), scale, thr); n > 0 {
		i += n
	}
	// whole groups: one hash each, no branches (the 10% drops would
	// mispredict)
	for ; i+4 <= len(x); i += 4 {
		h := Mix(key ^ uint64((off+i)>>2))
		g := x[i : i+4 : i+4]
		g[0] = keepOrZero(g[0], scale, h, thr)
		g[1] = keepOrZero(g[1], scale, h>>16, thr)
		g[2] = keepOrZero(g[2], scale, h>>32, thr)
		g[3] = keepOrZero(g[3], scale, h>>48, thr)
	}
	for ; i < len(x); i++ {
		x[i] = keepOrZero(x[i], scale, Mix(key^uint64((off+i)>>2))>>(uint((off+i)&3)*16), thr)
	}
}

// keepOrZero is v·scale when the low 16 bits of h are at least thr, else
// v·0, without a branch.
func keepOrZero(v, scale float32, h, thr uint64) float32 {
	keep := (((h & 0xffff) - thr) >> 63) ^ 1 // 0 when h&0xffff < thr
	return v * (scale * float32(keep))
}
