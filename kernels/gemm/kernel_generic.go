package gemm

import "unsafe"

// genericImpl is the pure-Go fallback: a 4×4 register tile (16 scalar
// accumulators fit the 16 SSE registers of amd64 and the 32 FP registers of
// arm64 without spilling much).
var genericImpl = &impl{name: "generic", mr: 4, nr: 4, kc: 256, mc: 128, nc: 2048, kern: kernGeneric4x4}

func kernGeneric4x4(kc int, a, b, c *float32, ldc int, beta float32, bias *float32) {
	as := unsafe.Slice(a, 4*kc)
	bs := unsafe.Slice(b, 4*kc)
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	if bias != nil {
		bb := unsafe.Slice(bias, 4)
		c00, c01, c02, c03 = bb[0], bb[1], bb[2], bb[3]
		c10, c11, c12, c13 = c00, c01, c02, c03
		c20, c21, c22, c23 = c00, c01, c02, c03
		c30, c31, c32, c33 = c00, c01, c02, c03
	}
	for p := 0; p < kc; p++ {
		ap := as[4*p : 4*p+4 : 4*p+4]
		bp := bs[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	r0 := cs[0:4:4]
	r1 := cs[ldc : ldc+4 : ldc+4]
	r2 := cs[2*ldc : 2*ldc+4 : 2*ldc+4]
	r3 := cs[3*ldc : 3*ldc+4 : 3*ldc+4]
	if beta != 0 {
		c00 += beta * r0[0]
		c01 += beta * r0[1]
		c02 += beta * r0[2]
		c03 += beta * r0[3]
		c10 += beta * r1[0]
		c11 += beta * r1[1]
		c12 += beta * r1[2]
		c13 += beta * r1[3]
		c20 += beta * r2[0]
		c21 += beta * r2[1]
		c22 += beta * r2[2]
		c23 += beta * r2[3]
		c30 += beta * r3[0]
		c31 += beta * r3[1]
		c32 += beta * r3[2]
		c33 += beta * r3[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	r2[0], r2[1], r2[2], r2[3] = c20, c21, c22, c23
	r3[0], r3[1], r3[2], r3[3] = c30, c31, c32, c33
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
