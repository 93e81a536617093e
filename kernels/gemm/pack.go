package gemm

// packA copies rows [i0, i0+mc) × columns [p0, p0+kc) of op(A), times
// alpha, into dst as ceil(mc/mr) micro-panels of kc×mr floats: panel ip holds
// dst[ip*mr*kc + p*mr + r] = alpha·op(A)[i0+ip*mr+r, p0+p]. Rows past mc are
// zero so the micro-kernel can always compute whole tiles.
func packA(dst, a []float32, lda int, trans bool, i0, mc, p0, kc, mr int, alpha float32, asm bool) {
	if trans {
		packAT(dst, a, lda, i0, mc, p0, kc, mr, alpha, asm)
		return
	}
	for ip := 0; ip*mr < mc; ip++ {
		d := dst[ip*mr*kc : (ip+1)*mr*kc]
		rows := min(mr, mc-ip*mr)
		r0 := i0 + ip*mr
		// op(A)[i,p] = a[i*lda+p]: interleave mr row streams.
		if asm && rows == mr && mr%6 == 0 && kc >= 8 {
			k8 := kc &^ 7
			for g := 0; g < mr; g += 6 {
				packA6AVX2(&d[g], mr, &a[(r0+g)*lda+p0], lda, k8/8, alpha)
			}
			for r := 0; r < mr; r++ {
				src := a[(r0+r)*lda+p0:][:kc]
				for p := k8; p < kc; p++ {
					d[p*mr+r] = src[p] * alpha
				}
			}
			continue
		}
		if rows == 6 && mr == 6 {
			s0 := a[r0*lda+p0:][:kc]
			s1 := a[(r0+1)*lda+p0:][:kc]
			s2 := a[(r0+2)*lda+p0:][:kc]
			s3 := a[(r0+3)*lda+p0:][:kc]
			s4 := a[(r0+4)*lda+p0:][:kc]
			s5 := a[(r0+5)*lda+p0:][:kc]
			for p := range s0 {
				o := d[p*6 : p*6+6 : p*6+6]
				o[0] = s0[p] * alpha
				o[1] = s1[p] * alpha
				o[2] = s2[p] * alpha
				o[3] = s3[p] * alpha
				o[4] = s4[p] * alpha
				o[5] = s5[p] * alpha
			}
			continue
		}
		for r := 0; r < rows; r++ {
			src := a[(r0+r)*lda+p0:][:kc]
			for p, v := range src {
				d[p*mr+r] = v * alpha
			}
		}
		for r := rows; r < mr; r++ {
			for p := 0; p < kc; p++ {
				d[p*mr+r] = 0
			}
		}
	}
}

// packB copies micro-panels [jlo, jhi) of the block rows [p0, p0+kc) ×
// columns [j0, j0+nc) of op(B) into dst: panel jp holds
// dst[jp*nr*kc + p*nr + j] = op(B)[p0+p, j0+jp*nr+j], zero past nc.
func packB(dst, b []float32, ldb int, trans bool, p0, kc, j0, nc, nr, jlo, jhi int, asm bool) {
	for jp := jlo; jp < jhi; jp++ {
		d := dst[jp*nr*kc : (jp+1)*nr*kc]
		cols := min(nr, nc-jp*nr)
		c0 := j0 + jp*nr
		if !trans {
			// op(B)[p,j] = b[p*ldb+j]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				o := d[p*nr : p*nr+nr]
				copy(o, b[(p0+p)*ldb+c0:][:cols])
				clear(o[cols:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p]: scatter nr column streams.
		if asm && cols == nr && nr%8 == 0 && kc >= 8 {
			k8 := kc &^ 7
			for g := 0; g < nr; g += 8 {
				packT8AVX2(&d[g], nr, &b[(c0+g)*ldb+p0], ldb, k8/8)
			}
			for c := 0; c < nr; c++ {
				src := b[(c0+c)*ldb+p0:][:kc]
				for p := k8; p < kc; p++ {
					d[p*nr+c] = src[p]
				}
			}
			continue
		}
		for c := 0; c < cols; c++ {
			src := b[(c0+c)*ldb+p0:][:kc]
			for p, v := range src {
				d[p*nr+c] = v
			}
		}
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(d[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// packAT is packA for op(A) = aᵀ: op(A)[i,p] = a[p*lda+i], so each panel
// takes mr contiguous floats from each of kc runs of a. In Go this loop
// spills registers and checks bounds at ~6 ns a step (the attention
// backward's Pᵀ·dO and dSᵀ·Q at T = 128 spent a third of their time
// packing); whole panels of mr = 6k rows take the assembly loop.
func packAT(dst, a []float32, lda, i0, mc, p0, kc, mr int, alpha float32, asm bool) {
	for ip := 0; ip*mr < mc; ip++ {
		rows := min(mr, mc-ip*mr)
		d := dst[ip*mr*kc : (ip+1)*mr*kc]
		col := p0*lda + i0 + ip*mr
		if asm && rows == mr && mr%6 == 0 && kc > 0 {
			_ = a[col+(kc-1)*lda+mr-1] // the last element read
			for g := 0; g < mr; g += 6 {
				packAT6AVX2(&d[g], mr, &a[col+g], lda, kc, alpha)
			}
			continue
		}
		for p := 0; p < kc; p++ {
			o := d[p*mr : p*mr+mr]
			for r, v := range a[col+p*lda:][:rows] {
				o[r] = v * alpha
			}
			clear(o[rows:])
		}
	}
}
