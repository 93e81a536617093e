//go:build amd64 && !purego

#include "textflag.h"
#include "consts_amd64.h"

// AVX-512F versions of the compute-bound kernels (transcendentals), a
// register-for-register translation of avx2_amd64.s: Y→Z registers,
// VANDPS/VXORPS/VORPS→VPANDD/VPXORD/VPORD (the PS forms need AVX512DQ),
// VROUNDPS→VRNDSCALEPS, 16 floats per step. Same instructions otherwise, so the
// results are bit-identical to the AVX2 kernels. Slice lengths are multiples
// of 16 (the Go wrappers hand the remainder to the AVX2 kernels).

#define ROUND_NEAREST(R) VRNDSCALEPS $0, R, R
#define AND_ABS(X, AC) VPANDD C_ABSMASK, X, AC
#include "vmath_amd64.h"

// func expAVX512(dst, src []float32)
TEXT ·expAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $4, CX
	JZ   expDone

expLoop:
	VMOVUPS (SI), Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     expLoop

expDone:
	VZEROUPPER
	RET

// func geluAVX512(dst, src []float32)
// gelu(x) = max(x,0) - min(|x|,20)·Φ(-|x|), one fused multiply-add.
TEXT ·geluAVX512(SB), NOSPLIT, $0-48
	MOVQ   dst_base+0(FP), DI
	MOVQ   src_base+24(FP), SI
	MOVQ   src_len+32(FP), CX
	SHRQ   $4, CX
	JZ     geluDone
	VPXORD Z15, Z15, Z15

geluLoop:
	VMOVUPS      (SI), Z0
	GAUSS(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	VMAXPS       Z15, Z0, Z0
	VFNMADD231PS Z3, Z1, Z0
	VMOVUPS      Z0, (DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          geluLoop

geluDone:
	VZEROUPPER
	RET

// func geluBwdAVX512(dinp, inp, dout []float32)
// gelu'(x) = Φ(x) + x·φ(x); Φ(x) = H - copysign(h, x) with H = 1 for x ≥ +0,
// 0 for x ≤ -0 and h = Φ(-|x|); x·φ(x) uses copysign(min(|x|,20), x) so that
// ±Inf give the limits 1 and 0.
TEXT ·geluBwdAVX512(SB), NOSPLIT, $0-72
	MOVQ dinp_base+0(FP), DI
	MOVQ inp_base+24(FP), SI
	MOVQ dout_base+48(FP), DX
	MOVQ inp_len+32(FP), CX
	SHRQ $4, CX
	JZ   geluBwdDone

geluBwdLoop:
	VMOVUPS     (SI), Z0
	GAUSS(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	VPANDD      C_SIGNMASK, Z0, Z4
	VPXORD      Z4, Z3, Z3
	VPXORD      C_HALF, Z4, Z5
	VADDPS      C_HALF, Z5, Z5
	VSUBPS      Z3, Z5, Z5
	VPORD       Z4, Z1, Z1
	VMULPS      C_INVSQRT2PI, Z2, Z2
	VFMADD231PS Z2, Z1, Z5
	VMULPS      (DX), Z5, Z5
	VMOVUPS     Z5, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, DX
	DECQ        CX
	JNZ         geluBwdLoop

geluBwdDone:
	VZEROUPPER
	RET

// func tanhAVX512(dst, src []float32)
// tanh|x| = -m/(2+m), m = expm1(-2·min(|x|,9.5)); expm1(u) = 2^n·expm1(r) +
// (2^n - 1) with u = n·ln2 + r, which is exact relative near 0 (n = 0).
TEXT ·tanhAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $4, CX
	JZ   tanhDone

tanhLoop:
	VMOVUPS     (SI), Z0
	VPANDD      C_SIGNMASK, Z0, Z1
	VPANDD      C_ABSMASK, Z0, Z2
	VMOVUPS     C_TANHMAX, Z3
	VMINPS      Z2, Z3, Z2
	VMULPS      C_NTWO, Z2, Z2
	VMULPS      C_LOG2E, Z2, Z3
	VRNDSCALEPS $0, Z3, Z3
	VFMADD231PS C_NLN2HI, Z3, Z2
	VFMADD231PS C_NLN2LO, Z3, Z2
	VCVTTPS2DQ  Z3, Z3
	VMOVUPS     C_M7, Z4
	VFMADD213PS C_M6, Z2, Z4
	VFMADD213PS C_M5, Z2, Z4
	VFMADD213PS C_M4, Z2, Z4
	VFMADD213PS C_M3, Z2, Z4
	VFMADD213PS C_M2, Z2, Z4
	VMULPS      Z2, Z2, Z5
	VFMADD213PS Z2, Z5, Z4
	VPADDD      C_I127, Z3, Z3
	VPSLLD      $23, Z3, Z3
	VSUBPS      C_ONE, Z3, Z5
	VFMADD213PS Z5, Z3, Z4
	VADDPS      C_TWO, Z4, Z5
	VDIVPS      Z5, Z4, Z4
	VPANDD      C_ABSMASK, Z4, Z4
	VPORD       Z1, Z4, Z4
	VMOVUPS     Z4, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         tanhLoop

tanhDone:
	VZEROUPPER
	RET

// func xsigAVX512(dst, src []float32, b, a float32)
// dst = x/(1+e^{-z}), z = c·(b + a·c²) with c = x clamped to ±100 (beyond
// that σ(z) is 0 or 1 in float32; the clamp keeps a·c² finite when a = 0).
TEXT ·xsigAVX512(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         src_base+24(FP), SI
	MOVQ         src_len+32(FP), CX
	VBROADCASTSS b+48(FP), Z14
	VBROADCASTSS a+52(FP), Z15
	SHRQ         $4, CX
	JZ           xsigDone

xsigLoop:
	VMOVUPS     (SI), Z0
	VMINPS      C_HUNDRED, Z0, Z6
	VMAXPS      C_NHUNDRED, Z6, Z6
	VMULPS      Z6, Z6, Z1
	VMOVAPS     Z14, Z2
	VFMADD231PS Z15, Z1, Z2
	VMULPS      Z2, Z6, Z2
	VPXORD      C_SIGNMASK, Z2, Z2
	EXP(Z2, Z3, Z4, Z5)
	VADDPS      C_ONE, Z2, Z2
	VDIVPS      Z2, Z0, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         xsigLoop

xsigDone:
	VZEROUPPER
	RET

// func xsigBwdAVX512(dinp, inp, dout []float32, b, a float32)
// d/dx x·σ(z) = s·(1 + x·(1-s)·(b + 3a·x²)), s = σ(z), 1-s = e^{-z}·s; x is
// clamped to ±100 and -z to ≤ 88 (exact derivative 0 or 1 there in float32).
TEXT ·xsigBwdAVX512(SB), NOSPLIT, $0-80
	MOVQ         dinp_base+0(FP), DI
	MOVQ         inp_base+24(FP), SI
	MOVQ         dout_base+48(FP), DX
	MOVQ         inp_len+32(FP), CX
	VBROADCASTSS b+72(FP), Z13
	VBROADCASTSS a+76(FP), Z14
	VMULPS       C_THREE, Z14, Z15
	SHRQ         $4, CX
	JZ           xsigBwdDone

xsigBwdLoop:
	VMOVUPS     (SI), Z0
	VMOVUPS     C_HUNDRED, Z1
	VMINPS      Z0, Z1, Z0
	VMOVUPS     C_NHUNDRED, Z1
	VMAXPS      Z0, Z1, Z0
	VMULPS      Z0, Z0, Z1
	VMOVAPS     Z13, Z2
	VFMADD231PS Z14, Z1, Z2
	VMULPS      Z2, Z0, Z2
	VPXORD      C_SIGNMASK, Z2, Z2
	VMOVUPS     C_E88, Z3
	VMINPS      Z2, Z3, Z2
	EXP(Z2, Z3, Z4, Z5)
	VADDPS      C_ONE, Z2, Z3
	VMOVUPS     C_ONE, Z4
	VDIVPS      Z3, Z4, Z4
	VMULPS      Z4, Z2, Z2
	VMOVAPS     Z13, Z3
	VFMADD231PS Z15, Z1, Z3
	VMULPS      Z3, Z0, Z3
	VMULPS      Z2, Z3, Z3
	VFMADD213PS Z4, Z4, Z3
	VMULPS      (DX), Z3, Z3
	VMOVUPS     Z3, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, DX
	DECQ        CX
	JNZ         xsigBwdLoop

xsigBwdDone:
	VZEROUPPER
	RET

// func expSubSumAVX512(x []float32, m float32) float32
// x = e^{x-m} in place; returns Σ (two accumulators, alternating vectors).
TEXT ·expSubSumAVX512(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Z15
	VPXORD       Z14, Z14, Z14
	VPXORD       Z13, Z13, Z13
	MOVQ         CX, BX
	SHRQ         $5, BX
	JZ           essTail

essLoop32:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z4
	VSUBPS  Z15, Z0, Z0
	VSUBPS  Z15, Z4, Z4
	EXP(Z0, Z1, Z2, Z3)
	EXP(Z4, Z5, Z6, Z7)
	VMOVUPS Z0, (SI)
	VMOVUPS Z4, 64(SI)
	VADDPS  Z0, Z14, Z14
	VADDPS  Z4, Z13, Z13
	ADDQ    $128, SI
	DECQ    BX
	JNZ     essLoop32

essTail:
	ANDQ $31, CX
	SHRQ $4, CX
	JZ   essReduce

essLoop16:
	VMOVUPS (SI), Z0
	VSUBPS  Z15, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z0, (SI)
	VADDPS  Z0, Z14, Z14
	ADDQ    $64, SI
	DECQ    CX
	JNZ     essLoop16

essReduce:
	VADDPS        Z13, Z14, Z14
	VEXTRACTF64X4 $1, Z14, Y1
	VADDPS        Y1, Y14, Y14
	VEXTRACTF128  $1, Y14, X1
	VADDPS        X1, X14, X14
	VPERMILPS     $0x4E, X14, X1
	VADDPS        X1, X14, X14
	VPERMILPS     $0xB1, X14, X1
	VADDPS        X1, X14, X14
	VMOVSS X14, ret+32(FP)
	VZEROUPPER
	RET

