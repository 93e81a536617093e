//go:build arm64 && !purego

#include "textflag.h"

// NEON GELU (forward and backward) and softmax's exp-and-sum: the AVX2
// kernels' GAUSS and EXP (vmath_amd64.h) on 4 lanes, the same operations in
// the same order (IEEE fused multiply-adds, FRINTN for VROUNDPS $0), so the
// same results bit for bit (TestGELUSameBitsAcrossISAs); the exps' sum is
// taken in float64, as the generic code does. Go's assembler lacks the
// vector floating-point instructions: they are encoded here as WORDs by
// register number (each checked against GNU as). Constants are broadcast
// from neonConsts (impl_arm64.go) in the order they are used, R4 walking
// the table.
//
// Registers: V0 x, V1 AC, V2 E (e^x for the softmax), V3 H, V4–V7 T0–T3,
// V8/V9 Horner, V10 constant, V11–V14 results and sums, V15 m; R0 dst, R1
// src, R2 count, R3 the table, R5 dout.

#define FADD(d, n, m) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FSUB(d, n, m) WORD $(0x4EA0D400 | ((m)<<16) | ((n)<<5) | (d))
#define FMUL(d, n, m) WORD $(0x6E20DC00 | ((m)<<16) | ((n)<<5) | (d))
#define FDIV(d, n, m) WORD $(0x6E20FC00 | ((m)<<16) | ((n)<<5) | (d))
#define FMAX(d, n, m) WORD $(0x4E20F400 | ((m)<<16) | ((n)<<5) | (d))
#define FMIN(d, n, m) WORD $(0x4EA0F400 | ((m)<<16) | ((n)<<5) | (d))
#define FABS(d, n) WORD $(0x4EA0F800 | ((n)<<5) | (d))
#define FNEG(d, n) WORD $(0x6EA0F800 | ((n)<<5) | (d))
#define FRINTN(d, n) WORD $(0x4E218800 | ((n)<<5) | (d))
#define FCVTZS(d, n) WORD $(0x4EA1B800 | ((n)<<5) | (d))
#define SSHR1(d, n) WORD $(0x4F3F0400 | ((n)<<5) | (d))
#define FCVTL2D(d, n) WORD $(0x0E617800 | ((n)<<5) | (d))
#define FCVTL22D(d, n) WORD $(0x4E617800 | ((n)<<5) | (d))
#define FADD2D(d, n, m) WORD $(0x4E60D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDPD(d, n) WORD $(0x7E70D800 | ((n)<<5) | (d))

// offset of EXP's first constant (EXPHI) in neonConsts
#define EXP_CONSTS 52

// the next constant of the table, broadcast into V
#define NEXTC(V) VLD1R.P 4(R4), [V.S4]

// One Horner step: NEW = next constant + OLD·S (fused).
#define HORNER(OLD, NEW, S) \
	NEXTC(NEW);                   \
	VFMLA S.S4, OLD.S4, NEW.S4

// E = e^E (V2), clobbers V4–V6, V8–V10: EXP of vmath_amd64.h.
#define NEON_EXP \
	NEXTC(V10);                  \
	FMIN(2, 2, 10);              \
	NEXTC(V10);                  \
	FMAX(2, 2, 10);              \
	NEXTC(V10);                  \
	FMUL(4, 2, 10);              \
	FRINTN(4, 4);                \
	NEXTC(V10);                  \
	VFMLA V10.S4, V4.S4, V2.S4;  \
	NEXTC(V10);                  \
	VFMLA V10.S4, V4.S4, V2.S4;  \
	FCVTZS(4, 4);                \
	NEXTC(V8);                   \
	HORNER(V8, V9, V2);          \
	HORNER(V9, V8, V2);          \
	HORNER(V8, V9, V2);          \
	HORNER(V9, V8, V2);          \
	HORNER(V8, V9, V2);          \
	HORNER(V9, V8, V2);          \
	SSHR1(6, 4);                 \
	VSUB  V6.S4, V4.S4, V4.S4;   \
	NEXTC(V10);                  \
	VADD  V10.S4, V6.S4, V6.S4;  \
	VADD  V10.S4, V4.S4, V4.S4;  \
	VSHL  $23, V6.S4, V6.S4;     \
	VSHL  $23, V4.S4, V4.S4;     \
	FMUL(8, 8, 6);               \
	FMUL(2, 8, 4)

// From x (V0): AC = min(|x|,20) (V1), E = e^{-AC²/2} (V2), H = Φ(-|x|) (V3):
// GAUSS of vmath_amd64.h. Starts R4 at the table.
#define NEON_GAUSS \
	MOVD R3, R4;                 \
	FABS(1, 0);                  \
	NEXTC(V10);                  \
	FMIN(1, 1, 10);              \
	NEXTC(V10);                  \
	FMUL(4, 1, 10);              \
	NEXTC(V10);                  \
	FADD(5, 4, 10);              \
	FDIV(3, 10, 5);              \
	FMUL(4, 4, 3);               \
	NEXTC(V8);                   \
	HORNER(V8, V9, V4);          \
	HORNER(V9, V8, V4);          \
	HORNER(V8, V9, V4);          \
	HORNER(V9, V8, V4);          \
	HORNER(V8, V9, V4);          \
	HORNER(V9, V8, V4);          \
	HORNER(V8, V9, V4);          \
	HORNER(V9, V8, V4);          \
	FMUL(3, 3, 8);               \
	NEXTC(V10);                  \
	FMUL(7, 1, 10);              \
	FMUL(2, 7, 1);               \
	FNEG(10, 2);                 \
	VFMLA V1.S4, V7.S4, V10.S4;  \
	VORR  V10.B16, V10.B16, V7.B16; \
	NEON_EXP;                    \
	VFMLA V7.S4, V2.S4, V2.S4;   \
	FMUL(3, 3, 2)

// func geluNEON(dst, src []float32), len(src) a multiple of 4
TEXT ·geluNEON(SB), NOSPLIT, $0-48
	MOVD dst_base+0(FP), R0
	MOVD src_base+24(FP), R1
	MOVD src_len+32(FP), R2
	MOVD $·neonConsts(SB), R3
	LSR  $2, R2, R2
	CBZ  R2, gelu_done

gelu_loop:
	VLD1.P 16(R1), [V0.S4]
	NEON_GAUSS
	VEOR  V10.B16, V10.B16, V10.B16
	FMAX(11, 0, 10)
	VFMLS V3.S4, V1.S4, V11.S4
	VST1.P [V11.S4], 16(R0)
	SUB   $1, R2, R2
	CBNZ  R2, gelu_loop

gelu_done:
	RET

// func geluBwdNEON(dinp, inp, dout []float32), len(inp) a multiple of 4
// gelu'(x) = Φ(x) + x·φ(x) as geluBwdAVX2 computes it.
TEXT ·geluBwdNEON(SB), NOSPLIT, $0-72
	MOVD dinp_base+0(FP), R0
	MOVD inp_base+24(FP), R1
	MOVD inp_len+32(FP), R2
	MOVD dout_base+48(FP), R5
	MOVD $·neonConsts(SB), R3
	LSR  $2, R2, R2
	CBZ  R2, bwd_done

bwd_loop:
	VLD1.P 16(R1), [V0.S4]
	NEON_GAUSS
	NEXTC(V10)
	VAND  V10.B16, V0.B16, V12.B16
	VEOR  V12.B16, V3.B16, V3.B16
	NEXTC(V10)
	VEOR  V10.B16, V12.B16, V13.B16
	FADD(13, 13, 10)
	FSUB(13, 13, 3)
	VORR  V12.B16, V1.B16, V1.B16
	NEXTC(V10)
	FMUL(2, 2, 10)
	VFMLA V1.S4, V2.S4, V13.S4
	VLD1.P 16(R5), [V14.S4]
	FMUL(13, 13, 14)
	VST1.P [V13.S4], 16(R0)
	SUB   $1, R2, R2
	CBNZ  R2, bwd_loop

bwd_done:
	RET

// func expSubSumNEON(x []float32, m float32) float64, len(x) a multiple of 4
// x = e^(x-m) in place, returns Σx in float64 (4 lane sums, then added).
TEXT ·expSubSumNEON(SB), NOSPLIT, $0-40
	MOVD  x_base+0(FP), R1
	MOVD  x_len+8(FP), R2
	FMOVS m+24(FP), F15
	VDUP  V15.S[0], V15.S4
	MOVD  $·neonConsts(SB), R3
	VEOR  V13.B16, V13.B16, V13.B16
	VEOR  V14.B16, V14.B16, V14.B16
	LSR   $2, R2, R2
	CBZ   R2, ess_done

ess_loop:
	VLD1   (R1), [V2.S4]
	FSUB(2, 2, 15)
	ADD    $EXP_CONSTS, R3, R4
	NEON_EXP
	VST1.P [V2.S4], 16(R1)
	FCVTL2D(11, 2)
	FCVTL22D(12, 2)
	FADD2D(13, 13, 11)
	FADD2D(14, 14, 12)
	SUB    $1, R2, R2
	CBNZ   R2, ess_loop

ess_done:
	FADD2D(13, 13, 14)
	FADDPD(13, 13)
	FMOVD F13, ret+32(FP)
	RET
