package gemm

import "unsafe"

// genericImpl is the pure-Go fallback: a 4×4 register tile (16 scalar
// accumulators fit the 16 SSE registers of amd64 and the 32 FP registers of
// arm64 without spilling much).
var genericImpl = &impl{name: "generic", mr: 4, nr: 4, kc: 256, mc: 128, nc: 2048, kern: kernGeneric4x4}

// kernGeneric4x4 accumulates in float64. The assembly kernels accumulate in
// float32 with fused multiply-adds; plain Go float32 code is fused or not at
// the compiler's choice (arm64 fuses, amd64 does not), and unfused float32
// sums drift past the golden tests' 1e-5 on some tiny checkpoints. A float32
// product is exact in float64, so these sums are at least as accurate as the
// fused ones on every platform, at the same speed (conversions are cheap
// next to scalar multiply-adds).
func kernGeneric4x4(kc int, a, b, c *float32, ldc int, beta float32, bias *float32) {
	as := unsafe.Slice(a, 4*kc)
	bs := unsafe.Slice(b, 4*kc)
	var c00, c01, c02, c03, c10, c11, c12, c13 float64
	var c20, c21, c22, c23, c30, c31, c32, c33 float64
	if bias != nil {
		bb := unsafe.Slice(bias, 4)
		c00, c01, c02, c03 = float64(bb[0]), float64(bb[1]), float64(bb[2]), float64(bb[3])
		c10, c11, c12, c13 = c00, c01, c02, c03
		c20, c21, c22, c23 = c00, c01, c02, c03
		c30, c31, c32, c33 = c00, c01, c02, c03
	}
	for p := 0; p < kc; p++ {
		ap := as[4*p : 4*p+4 : 4*p+4]
		bp := bs[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := float64(bp[0]), float64(bp[1]), float64(bp[2]), float64(bp[3])
		a0 := float64(ap[0])
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := float64(ap[1])
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := float64(ap[2])
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := float64(ap[3])
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	rows := [4][]float32{cs[0:4:4], cs[ldc : ldc+4 : ldc+4], cs[2*ldc : 2*ldc+4 : 2*ldc+4], cs[3*ldc : 3*ldc+4 : 3*ldc+4]}
	acc := [4][4]float64{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i, r := range rows {
		for j := range r {
			// rounded first, as macro merges an edge tile computed with
			// beta = 0: a row's result must not depend on its tile
			v := float32(acc[i][j])
			if beta != 0 {
				v += beta * r[j]
			}
			r[j] = v
		}
	}
}

// loopKernel returns a plain-loop micro-kernel for any mr×nr tile. Tests use
// it to run the blocking and packing code with the geometry of an assembly
// kernel the CPU may lack (the AVX-512 12×32 tile on an AVX2 machine).
func loopKernel(mr, nr int) kernelFunc { return loopKernelRows(mr, mr, nr) }

// loopKernelRows is loopKernel computing only the top rows of the tile (an
// edge kernel, as kernAVX512x8 is for 12×32).
func loopKernelRows(mr, rows, nr int) kernelFunc {
	return func(kc int, a, b, c *float32, ldc int, beta float32, bias *float32) {
		as := unsafe.Slice(a, mr*kc)
		bs := unsafe.Slice(b, nr*kc)
		cs := unsafe.Slice(c, (rows-1)*ldc+nr)
		var acc [32 * 32]float32
		for i := 0; i < rows; i++ {
			for j := 0; j < nr; j++ {
				var s float32
				if bias != nil {
					s = unsafe.Slice(bias, nr)[j]
				}
				for p := 0; p < kc; p++ {
					s += as[p*mr+i] * bs[p*nr+j]
				}
				acc[i*nr+j] = s
			}
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < nr; j++ {
				if beta == 0 {
					cs[i*ldc+j] = acc[i*nr+j]
				} else {
					cs[i*ldc+j] = acc[i*nr+j] + beta*cs[i*ldc+j]
				}
			}
		}
	}
}
