//go:build amd64 && !purego

#include "textflag.h"
#include "consts_amd64.h"

// AVX2+FMA kernels. Every kernel takes slices whose length is a positive or
// zero multiple of 8 (the Go wrappers in impl_amd64.go handle the tails) and
// whose lengths agree. Argument order in comments is Intel's where it says so;
// Go assembly lists sources first and the destination last.

#define ROUND_NEAREST(R) VROUNDPS $0, R, R
#define AND_ABS(X, AC) VANDPS C_ABSMASK, X, AC
#include "vmath_amd64.h"

// HSUM: X (the low half of Y) = horizontal sum of Y's 8 lanes, in lane 0.
#define HSUM(Y, X, XT) \
	VEXTRACTF128 $1, Y, XT;     \
	VADDPS       XT, X, X;      \
	VPERMILPS    $0x4E, X, XT;  \
	VADDPS       XT, X, X;      \
	VPERMILPS    $0xB1, X, XT;  \
	VADDPS       XT, X, X

// func expAVX2(dst, src []float32)
TEXT ·expAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   expDone

expLoop:
	VMOVUPS (SI), Y0
	EXP(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     expLoop

expDone:
	VZEROUPPER
	RET

// func geluAVX2(dst, src []float32)
// gelu(x) = max(x,0) - min(|x|,20)·Φ(-|x|), one fused multiply-add.
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ   dst_base+0(FP), DI
	MOVQ   src_base+24(FP), SI
	MOVQ   src_len+32(FP), CX
	SHRQ   $3, CX
	JZ     geluDone
	VXORPS Y15, Y15, Y15

geluLoop:
	VMOVUPS      (SI), Y0
	GAUSS(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	VMAXPS       Y15, Y0, Y0
	VFNMADD231PS Y3, Y1, Y0
	VMOVUPS      Y0, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          geluLoop

geluDone:
	VZEROUPPER
	RET

// func geluBwdAVX2(dinp, inp, dout []float32)
// gelu'(x) = Φ(x) + x·φ(x); Φ(x) = H - copysign(h, x) with H = 1 for x ≥ +0,
// 0 for x ≤ -0 and h = Φ(-|x|); x·φ(x) uses copysign(min(|x|,20), x) so that
// ±Inf give the limits 1 and 0.
TEXT ·geluBwdAVX2(SB), NOSPLIT, $0-72
	MOVQ dinp_base+0(FP), DI
	MOVQ inp_base+24(FP), SI
	MOVQ dout_base+48(FP), DX
	MOVQ inp_len+32(FP), CX
	SHRQ $3, CX
	JZ   geluBwdDone

geluBwdLoop:
	VMOVUPS     (SI), Y0
	GAUSS(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	VANDPS      C_SIGNMASK, Y0, Y4
	VXORPS      Y4, Y3, Y3
	VXORPS      C_HALF, Y4, Y5
	VADDPS      C_HALF, Y5, Y5
	VSUBPS      Y3, Y5, Y5
	VORPS       Y4, Y1, Y1
	VMULPS      C_INVSQRT2PI, Y2, Y2
	VFMADD231PS Y2, Y1, Y5
	VMULPS      (DX), Y5, Y5
	VMOVUPS     Y5, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         geluBwdLoop

geluBwdDone:
	VZEROUPPER
	RET

// func tanhAVX2(dst, src []float32)
// tanh|x| = -m/(2+m), m = expm1(-2·min(|x|,9.5)); expm1(u) = 2^n·expm1(r) +
// (2^n - 1) with u = n·ln2 + r, which is exact relative near 0 (n = 0).
TEXT ·tanhAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ   tanhDone

tanhLoop:
	VMOVUPS     (SI), Y0
	VANDPS      C_SIGNMASK, Y0, Y1
	VANDPS      C_ABSMASK, Y0, Y2
	VMOVUPS     C_TANHMAX, Y3
	VMINPS      Y2, Y3, Y2
	VMULPS      C_NTWO, Y2, Y2
	VMULPS      C_LOG2E, Y2, Y3
	VROUNDPS    $0, Y3, Y3
	VFMADD231PS C_NLN2HI, Y3, Y2
	VFMADD231PS C_NLN2LO, Y3, Y2
	VCVTTPS2DQ  Y3, Y3
	VMOVUPS     C_M7, Y4
	VFMADD213PS C_M6, Y2, Y4
	VFMADD213PS C_M5, Y2, Y4
	VFMADD213PS C_M4, Y2, Y4
	VFMADD213PS C_M3, Y2, Y4
	VFMADD213PS C_M2, Y2, Y4
	VMULPS      Y2, Y2, Y5
	VFMADD213PS Y2, Y5, Y4
	VPADDD      C_I127, Y3, Y3
	VPSLLD      $23, Y3, Y3
	VSUBPS      C_ONE, Y3, Y5
	VFMADD213PS Y5, Y3, Y4
	VADDPS      C_TWO, Y4, Y5
	VDIVPS      Y5, Y4, Y4
	VANDPS      C_ABSMASK, Y4, Y4
	VORPS       Y1, Y4, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         tanhLoop

tanhDone:
	VZEROUPPER
	RET

// func tanhBwdAVX2(dinp, out, dout []float32)
// dinp = dout·(1-y)·(1+y)
TEXT ·tanhBwdAVX2(SB), NOSPLIT, $0-72
	MOVQ    dinp_base+0(FP), DI
	MOVQ    out_base+24(FP), SI
	MOVQ    dout_base+48(FP), DX
	MOVQ    out_len+32(FP), CX
	SHRQ    $3, CX
	JZ      tanhBwdDone
	VMOVUPS C_ONE, Y15

tanhBwdLoop:
	VMOVUPS (SI), Y0
	VSUBPS  Y0, Y15, Y1
	VADDPS  Y15, Y0, Y2
	VMULPS  Y2, Y1, Y1
	VMULPS  (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     tanhBwdLoop

tanhBwdDone:
	VZEROUPPER
	RET

// func xsigAVX2(dst, src []float32, b, a float32)
// dst = x/(1+e^{-z}), z = c·(b + a·c²) with c = x clamped to ±100 (beyond
// that σ(z) is 0 or 1 in float32; the clamp keeps a·c² finite when a = 0).
TEXT ·xsigAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         src_base+24(FP), SI
	MOVQ         src_len+32(FP), CX
	VBROADCASTSS b+48(FP), Y14
	VBROADCASTSS a+52(FP), Y15
	SHRQ         $3, CX
	JZ           xsigDone

xsigLoop:
	VMOVUPS     (SI), Y0
	VMINPS      C_HUNDRED, Y0, Y6
	VMAXPS      C_NHUNDRED, Y6, Y6
	VMULPS      Y6, Y6, Y1
	VMOVAPS     Y14, Y2
	VFMADD231PS Y15, Y1, Y2
	VMULPS      Y2, Y6, Y2
	VXORPS      C_SIGNMASK, Y2, Y2
	EXP(Y2, Y3, Y4, Y5)
	VADDPS      C_ONE, Y2, Y2
	VDIVPS      Y2, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         xsigLoop

xsigDone:
	VZEROUPPER
	RET

// func xsigBwdAVX2(dinp, inp, dout []float32, b, a float32)
// d/dx x·σ(z) = s·(1 + x·(1-s)·(b + 3a·x²)), s = σ(z), 1-s = e^{-z}·s; x is
// clamped to ±100 and -z to ≤ 88 (exact derivative 0 or 1 there in float32).
TEXT ·xsigBwdAVX2(SB), NOSPLIT, $0-80
	MOVQ         dinp_base+0(FP), DI
	MOVQ         inp_base+24(FP), SI
	MOVQ         dout_base+48(FP), DX
	MOVQ         inp_len+32(FP), CX
	VBROADCASTSS b+72(FP), Y13
	VBROADCASTSS a+76(FP), Y14
	VMULPS       C_THREE, Y14, Y15
	SHRQ         $3, CX
	JZ           xsigBwdDone

xsigBwdLoop:
	VMOVUPS     (SI), Y0
	VMOVUPS     C_HUNDRED, Y1
	VMINPS      Y0, Y1, Y0
	VMOVUPS     C_NHUNDRED, Y1
	VMAXPS      Y0, Y1, Y0
	VMULPS      Y0, Y0, Y1
	VMOVAPS     Y13, Y2
	VFMADD231PS Y14, Y1, Y2
	VMULPS      Y2, Y0, Y2
	VXORPS      C_SIGNMASK, Y2, Y2
	VMOVUPS     C_E88, Y3
	VMINPS      Y2, Y3, Y2
	EXP(Y2, Y3, Y4, Y5)
	VADDPS      C_ONE, Y2, Y3
	VMOVUPS     C_ONE, Y4
	VDIVPS      Y3, Y4, Y4
	VMULPS      Y4, Y2, Y2
	VMOVAPS     Y13, Y3
	VFMADD231PS Y15, Y1, Y3
	VMULPS      Y3, Y0, Y3
	VMULPS      Y2, Y3, Y3
	VFMADD213PS Y4, Y4, Y3
	VMULPS      (DX), Y3, Y3
	VMOVUPS     Y3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         xsigBwdLoop

xsigBwdDone:
	VZEROUPPER
	RET

// func reluAVX2(dst, src []float32)
TEXT ·reluAVX2(SB), NOSPLIT, $0-48
	MOVQ   dst_base+0(FP), DI
	MOVQ   src_base+24(FP), SI
	MOVQ   src_len+32(FP), CX
	SHRQ   $3, CX
	JZ     reluDone
	VXORPS Y15, Y15, Y15

reluLoop:
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     reluLoop

reluDone:
	VZEROUPPER
	RET

// func reluBwdAVX2(dinp, out, dout []float32)
TEXT ·reluBwdAVX2(SB), NOSPLIT, $0-72
	MOVQ   dinp_base+0(FP), DI
	MOVQ   out_base+24(FP), SI
	MOVQ   dout_base+48(FP), DX
	MOVQ   out_len+32(FP), CX
	SHRQ   $3, CX
	JZ     reluBwdDone
	VXORPS Y15, Y15, Y15

reluBwdLoop:
	VMOVUPS (SI), Y0
	VCMPPS  $14, Y15, Y0, Y0
	VANDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     reluBwdLoop

reluBwdDone:
	VZEROUPPER
	RET

// func maxAVX2(x []float32) float32
// Requires len(x) ≥ 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ    x_base+0(FP), SI
	MOVQ    x_len+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	MOVQ    CX, BX
	SHRQ    $5, BX
	JZ      maxTail

maxLoop32:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	VMAXPS 64(SI), Y2, Y2
	VMAXPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	DECQ   BX
	JNZ    maxLoop32

maxTail:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   maxReduce

maxLoop8:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JNZ    maxLoop8

maxReduce:
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4E, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xB1, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET

// func sumAVX2(x []float32) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   CX, BX
	SHRQ   $5, BX
	JZ     sumTail

sumLoop32:
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	DECQ   BX
	JNZ    sumLoop32

sumTail:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   sumReduce

sumLoop8:
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	DECQ   CX
	JNZ    sumLoop8

sumReduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM(Y0, X0, X1)
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotAVX2(a, b []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   b_base+24(FP), DX
	MOVQ   a_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   CX, BX
	SHRQ   $5, BX
	JZ     dotTail

dotLoop32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y5, Y1
	VFMADD231PS 64(DX), Y6, Y2
	VFMADD231PS 96(DX), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DX
	DECQ        BX
	JNZ         dotLoop32

dotTail:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   dotReduce

dotLoop8:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DX), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         dotLoop8

dotReduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM(Y0, X0, X1)
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// func expSubSumAVX2(x []float32, m float32) float32
// x = e^{x-m} in place; returns Σ (two accumulators, alternating vectors).
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VXORPS       Y14, Y14, Y14
	VXORPS       Y13, Y13, Y13
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           essTail

essLoop16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y4
	VSUBPS  Y15, Y0, Y0
	VSUBPS  Y15, Y4, Y4
	EXP(Y0, Y1, Y2, Y3)
	EXP(Y4, Y5, Y6, Y7)
	VMOVUPS Y0, (SI)
	VMOVUPS Y4, 32(SI)
	VADDPS  Y0, Y14, Y14
	VADDPS  Y4, Y13, Y13
	ADDQ    $64, SI
	DECQ    BX
	JNZ     essLoop16

essTail:
	ANDQ $15, CX
	SHRQ $3, CX
	JZ   essReduce

essLoop8:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	EXP(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (SI)
	VADDPS  Y0, Y14, Y14
	ADDQ    $32, SI
	DECQ    CX
	JNZ     essLoop8

essReduce:
	VADDPS Y13, Y14, Y14
	HSUM(Y14, X14, X1)
	VMOVSS X14, ret+32(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x []float32, s float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y15
	SHRQ         $3, CX
	JZ           scaleDone

scaleLoop:
	VMULPS  (SI), Y15, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     scaleLoop

scaleDone:
	VZEROUPPER
	RET

// func softmaxBwdAVX2(dinp, out, dout []float32, d float32)
// dinp = out·(dout - d)
TEXT ·softmaxBwdAVX2(SB), NOSPLIT, $0-76
	MOVQ         dinp_base+0(FP), DI
	MOVQ         out_base+24(FP), SI
	MOVQ         dout_base+48(FP), DX
	MOVQ         out_len+32(FP), CX
	VBROADCASTSS d+72(FP), Y15
	SHRQ         $3, CX
	JZ           smbDone

smbLoop:
	VMOVUPS (DX), Y0
	VSUBPS  Y15, Y0, Y0
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     smbLoop

smbDone:
	VZEROUPPER
	RET

// func addAVX2(dst, a, b []float32)
TEXT ·addAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	MOVQ a_len+32(FP), CX
	SHRQ $3, CX
	JZ   addDone

addLoop:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     addLoop

addDone:
	VZEROUPPER
	RET

// func axpyAVX2(y, x []float32, a float32)
// y += a·x
TEXT ·axpyAVX2(SB), NOSPLIT, $0-52
	MOVQ         y_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS a+48(FP), Y15
	SHRQ         $3, CX
	JZ           axpyDone

axpyLoop:
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axpyLoop

axpyDone:
	VZEROUPPER
	RET

// func devSumsAVX2(x []float32, m float32) (s1, s2 float32)
// s1 = Σ(x-m), s2 = Σ(x-m)²
TEXT ·devSumsAVX2(SB), NOSPLIT, $0-40
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11
	VXORPS       Y12, Y12, Y12
	VXORPS       Y13, Y13, Y13
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           dsTail

dsLoop16:
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VSUBPS      Y15, Y0, Y0
	VSUBPS      Y15, Y1, Y1
	VADDPS      Y0, Y10, Y10
	VADDPS      Y1, Y11, Y11
	VFMADD231PS Y0, Y0, Y12
	VFMADD231PS Y1, Y1, Y13
	ADDQ        $64, SI
	DECQ        BX
	JNZ         dsLoop16

dsTail:
	ANDQ $15, CX
	SHRQ $3, CX
	JZ   dsReduce

dsLoop8:
	VMOVUPS     (SI), Y0
	VSUBPS      Y15, Y0, Y0
	VADDPS      Y0, Y10, Y10
	VFMADD231PS Y0, Y0, Y12
	ADDQ        $32, SI
	DECQ        CX
	JNZ         dsLoop8

dsReduce:
	VADDPS Y11, Y10, Y10
	VADDPS Y13, Y12, Y12
	HSUM(Y10, X10, X1)
	HSUM(Y12, X12, X1)
	VMOVSS X10, s1+32(FP)
	VMOVSS X12, s2+36(FP)
	VZEROUPPER
	RET

// func lnFwdAVX2(out, inp, w, b []float32, m, c, rstd float32)
// out = ((x-m)-c)·rstd·w + b
TEXT ·lnFwdAVX2(SB), NOSPLIT, $0-108
	MOVQ         out_base+0(FP), DI
	MOVQ         inp_base+24(FP), SI
	MOVQ         w_base+48(FP), BX
	MOVQ         b_base+72(FP), DX
	MOVQ         inp_len+32(FP), CX
	VBROADCASTSS m+96(FP), Y13
	VBROADCASTSS c+100(FP), Y14
	VBROADCASTSS rstd+104(FP), Y15
	SHRQ         $3, CX
	JZ           lnfDone

lnfLoop:
	VMOVUPS     (SI), Y0
	VSUBPS      Y13, Y0, Y0
	VSUBPS      Y14, Y0, Y0
	VMULPS      Y15, Y0, Y0
	VMOVUPS     (BX), Y1
	VFMADD213PS (DX), Y1, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, BX
	ADDQ        $32, DX
	DECQ        CX
	JNZ         lnfLoop

lnfDone:
	VZEROUPPER
	RET

// func lnBwdSumsAVX2(dout, inp, w []float32, m float32) (sd, sdx, sx float32)
// sd = Σ w·dout, sdx = Σ w·dout·(x-m), sx = Σ(x-m)
TEXT ·lnBwdSumsAVX2(SB), NOSPLIT, $0-92
	MOVQ         dout_base+0(FP), DX
	MOVQ         inp_base+24(FP), SI
	MOVQ         w_base+48(FP), BX
	MOVQ         inp_len+32(FP), CX
	VBROADCASTSS m+72(FP), Y15
	VXORPS       Y7, Y7, Y7
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11
	VXORPS       Y12, Y12, Y12
	MOVQ         CX, AX
	SHRQ         $4, AX
	JZ           lbsTail

lbsLoop16:
	VMOVUPS     (BX), Y0
	VMOVUPS     32(BX), Y2
	VMULPS      (DX), Y0, Y0
	VMULPS      32(DX), Y2, Y2
	VMOVUPS     (SI), Y1
	VMOVUPS     32(SI), Y3
	VSUBPS      Y15, Y1, Y1
	VSUBPS      Y15, Y3, Y3
	VADDPS      Y0, Y10, Y10
	VADDPS      Y2, Y7, Y7
	VFMADD231PS Y1, Y0, Y11
	VFMADD231PS Y3, Y2, Y8
	VADDPS      Y1, Y12, Y12
	VADDPS      Y3, Y9, Y9
	ADDQ        $64, BX
	ADDQ        $64, DX
	ADDQ        $64, SI
	DECQ        AX
	JNZ         lbsLoop16

lbsTail:
	ANDQ $15, CX
	SHRQ $3, CX
	JZ   lbsReduce

lbsLoop8:
	VMOVUPS     (BX), Y0
	VMULPS      (DX), Y0, Y0
	VMOVUPS     (SI), Y1
	VSUBPS      Y15, Y1, Y1
	VADDPS      Y0, Y10, Y10
	VFMADD231PS Y1, Y0, Y11
	VADDPS      Y1, Y12, Y12
	ADDQ        $32, BX
	ADDQ        $32, DX
	ADDQ        $32, SI
	DECQ        CX
	JNZ         lbsLoop8

lbsReduce:
	VADDPS Y7, Y10, Y10
	VADDPS Y8, Y11, Y11
	VADDPS Y9, Y12, Y12
	HSUM(Y10, X10, X1)
	HSUM(Y11, X11, X1)
	HSUM(Y12, X12, X1)
	VMOVSS X10, sd+80(FP)
	VMOVSS X11, sdx+84(FP)
	VMOVSS X12, sx+88(FP)
	VZEROUPPER
	RET

// func lnBwdAVX2(dinp, dout, inp, w []float32, m, c, rstd, A, B float32)
// nrm = ((x-m)-c)·rstd; dinp += (w·dout - A - nrm·B)·rstd
TEXT ·lnBwdAVX2(SB), NOSPLIT, $0-116
	MOVQ         dinp_base+0(FP), DI
	MOVQ         dout_base+24(FP), DX
	MOVQ         inp_base+48(FP), SI
	MOVQ         w_base+72(FP), BX
	MOVQ         inp_len+56(FP), CX
	VBROADCASTSS m+96(FP), Y11
	VBROADCASTSS c+100(FP), Y12
	VBROADCASTSS rstd+104(FP), Y13
	VBROADCASTSS A+108(FP), Y14
	VBROADCASTSS B+112(FP), Y15
	SHRQ         $3, CX
	JZ           lbDone

lbLoop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y11, Y0, Y0
	VSUBPS       Y12, Y0, Y0
	VMULPS       Y13, Y0, Y0
	VMOVUPS      (BX), Y1
	VMULPS       (DX), Y1, Y1
	VSUBPS       Y14, Y1, Y1
	VFNMADD231PS Y15, Y0, Y1
	VMOVUPS      (DI), Y2
	VFMADD231PS  Y13, Y1, Y2
	VMOVUPS      Y2, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         $32, BX
	ADDQ         $32, DX
	DECQ         CX
	JNZ          lbLoop

lbDone:
	VZEROUPPER
	RET

// func lnBwdParAVX2(dinp, dw, db, dout, inp, w []float32, m, c, rstd, A, B float32)
// as lnBwdAVX2, plus dw += nrm·dout, db += dout
TEXT ·lnBwdParAVX2(SB), NOSPLIT, $0-164
	MOVQ         dinp_base+0(FP), DI
	MOVQ         dw_base+24(FP), R8
	MOVQ         db_base+48(FP), R9
	MOVQ         dout_base+72(FP), DX
	MOVQ         inp_base+96(FP), SI
	MOVQ         w_base+120(FP), BX
	MOVQ         inp_len+104(FP), CX
	VBROADCASTSS m+144(FP), Y11
	VBROADCASTSS c+148(FP), Y12
	VBROADCASTSS rstd+152(FP), Y13
	VBROADCASTSS A+156(FP), Y14
	VBROADCASTSS B+160(FP), Y15
	SHRQ         $3, CX
	JZ           lbpDone

lbpLoop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y11, Y0, Y0
	VSUBPS       Y12, Y0, Y0
	VMULPS       Y13, Y0, Y0
	VMOVUPS      (DX), Y3
	VADDPS       (R9), Y3, Y4
	VMOVUPS      Y4, (R9)
	VMOVUPS      (R8), Y5
	VFMADD231PS  Y3, Y0, Y5
	VMOVUPS      Y5, (R8)
	VMULPS       (BX), Y3, Y1
	VSUBPS       Y14, Y1, Y1
	VFNMADD231PS Y15, Y0, Y1
	VMOVUPS      (DI), Y2
	VFMADD231PS  Y13, Y1, Y2
	VMOVUPS      Y2, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         $32, BX
	ADDQ         $32, DX
	ADDQ         $32, R8
	ADDQ         $32, R9
	DECQ         CX
	JNZ          lbpLoop

lbpDone:
	VZEROUPPER
	RET
