//go:build arm64 && !purego

#include "textflag.h"

// W8A8 kernel (a8.go) for arm64 CPUs with the dot-product instructions
// (FEAT_DotProd: Neoverse N1 and later, Apple M1 and later, Cortex-A76+).
// The 7-bit activations (0..127) are valid signed bytes, so SDOT (signed ×
// signed, 4 byte products summed into each int32 lane) multiplies them by
// the int8 weights exactly; PackBA8's layout (16 columns × 4 depths per 64
// bytes) is four SDOT operands of 4 columns × 4 depths each.
//
// Go's assembler has no mnemonics for SDOT, MLS, SCVTF, FRINTN, FCVTZS,
// XTN and the vector FMUL, FADD, FMIN, FMAX, FMINV and FMAXV, so they are
// WORDs built from their A64 encodings (registers by number; checked
// against aarch64-linux-gnu-as).

// SDOT Vd.4S, Vn.16B, Vm.4B[i]: Vd[j] += Σ_t Vn.b[4j+t]·Vm.b[4i+t]
#define SDOT(d, n, m, i) WORD $(0x4F80E000|(((i)&1)<<21)|((m)<<16)|(((i)>>1)<<11)|((n)<<5)|(d))

// MLS Vd.4S, Vn.4S, Vm.S[i]: Vd −= Vn·Vm[i] (int32, wrapping)
#define MLS(d, n, m, i) WORD $(0x6F804000|(((i)&1)<<21)|((m)<<16)|(((i)>>1)<<11)|((n)<<5)|(d))

// SCVTF Vd.4S, Vd.4S: int32 → float32, rounding to nearest even
#define SCVTF(d) WORD $(0x4E21D800|((d)<<5)|(d))

// FMUL Vd.4S, Vd.4S, Vm.S[i]
#define FMULE(d, m, i) WORD $(0x4F809000|(((i)&1)<<21)|((m)<<16)|(((i)>>1)<<11)|((d)<<5)|(d))

// FMUL Vd.4S, Vd.4S, Vm.4S and FADD Vd.4S, Vd.4S, Vm.4S
#define FMULV(d, m) WORD $(0x6E20DC00|((m)<<16)|((d)<<5)|(d))
#define FADDV(d, m) WORD $(0x4E20D400|((m)<<16)|((d)<<5)|(d))

// FMIN / FMAX Vd.4S, Vd.4S, Vm.4S (a NaN in either gives a NaN)
#define FMINV3(d, m) WORD $(0x4EA0F400|((m)<<16)|((d)<<5)|(d))
#define FMAXV3(d, m) WORD $(0x4E20F400|((m)<<16)|((d)<<5)|(d))

// FMINV / FMAXV Sd, Vd.4S: across the 4 lanes, into lane 0
#define FMINACROSS(d) WORD $(0x6EB0F800|((d)<<5)|(d))
#define FMAXACROSS(d) WORD $(0x6E30F800|((d)<<5)|(d))

// FRINTN Vd.4S (round to nearest, ties to even) and FCVTZS Vd.4S
// (float32 → int32 toward zero), in place
#define FRINTN(d) WORD $(0x4E218800|((d)<<5)|(d))
#define FCVTZS(d) WORD $(0x4EA1B800|((d)<<5)|(d))

// XTN Vd.4H, Vn.4S; XTN2 Vd.8H, Vn.4S; XTN Vd.8B, Vn.8H (narrowing)
#define XTNS(d, n)  WORD $(0x0E612800|((n)<<5)|(d))
#define XTN2S(d, n) WORD $(0x4E612800|((n)<<5)|(d))
#define XTNH(d, n)  WORD $(0x0E212800|((n)<<5)|(d))

// Registers: V0, V1 the weight panel (4 columns × 4 depths each), V2..V7
// rows 0..5 of the activations (16 bytes: 4 groups of 4 depths), and row
// r's 16 columns accumulate in V(8+4r)..V(11+4r).

// A8COLS adds columns 4c..4c+3 (in V(n)) of depth group i times rows 0..5
// to their accumulators (column group c).
#define A8COLS(c, n, i) \
	SDOT(8+(c), n, 2, i);  \
	SDOT(12+(c), n, 3, i); \
	SDOT(16+(c), n, 4, i); \
	SDOT(20+(c), n, 5, i); \
	SDOT(24+(c), n, 6, i); \
	SDOT(28+(c), n, 7, i)

// A8QUAD runs depth group i of the rows loaded in V2..V7: the panel's next
// 64 bytes (R1) times them.
#define A8QUAD(i) \
	VLD1.P 32(R1), [V0.B16, V1.B16]; \
	A8COLS(0, 0, i);                 \
	A8COLS(1, 1, i);                 \
	VLD1.P 32(R1), [V0.B16, V1.B16]; \
	A8COLS(2, 0, i);                 \
	A8COLS(3, 1, i)

// A8MLS (acc −= Vn·V(m)[l]) and A8SCALE (acc ·= V(m)[l]) apply to row r's
// four accumulators.
#define A8MLS(r, m, l) \
	MLS(8+4*(r), 0, m, l);  \
	MLS(9+4*(r), 1, m, l);  \
	MLS(10+4*(r), 2, m, l); \
	MLS(11+4*(r), 3, m, l)

#define A8SCALE(r, m, l) \
	FMULE(8+4*(r), m, l);  \
	FMULE(9+4*(r), m, l);  \
	FMULE(10+4*(r), m, l); \
	FMULE(11+4*(r), m, l)

// A8COLOP applies op(acc, V(g)) to column group g of every row.
#define A8COLOP(op, g) \
	op(8+(g), g);  \
	op(12+(g), g); \
	op(16+(g), g); \
	op(20+(g), g); \
	op(24+(g), g); \
	op(28+(g), g)

#define A8CVT(r) \
	SCVTF(8+4*(r));  \
	SCVTF(9+4*(r));  \
	SCVTF(10+4*(r)); \
	SCVTF(11+4*(r))

// A8ZERO4 clears four accumulators.
#define A8ZERO4(a, b, c, d) \
	VEOR a.B16, a.B16, a.B16; \
	VEOR b.B16, b.B16, b.B16; \
	VEOR c.B16, c.B16, c.B16; \
	VEOR d.B16, d.B16, d.B16

// A8LOADROW puts the next 4 bytes of a row (at ra) into lane 0 of va.
#define A8LOADROW(ra, va) \
	MOVWU.P 4(ra), R14; \
	VMOV    R14, va.S[0]

// func kernA8SDOT(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)
//
// A 6×16 tile: kq groups of 4 bytes of each of 6 activation rows (lda
// bytes apart) times a packed weight panel, then the epilogue of kernA8Go
// (a8.go) in the same float32 operations: ((float(acc − za·cs)·sa)·sw) +
// bias, stored at c (ldc floats a row).
TEXT ·kernA8SDOT(SB), NOSPLIT, $0-88
	MOVD kq+0(FP), R3
	MOVD a+8(FP), R6
	MOVD lda+16(FP), R4
	MOVD b+24(FP), R1
	ADD  R4, R6, R7
	ADD  R4, R7, R8
	ADD  R4, R8, R9
	ADD  R4, R9, R10
	ADD  R4, R10, R11

	A8ZERO4(V8, V9, V10, V11)
	A8ZERO4(V12, V13, V14, V15)
	A8ZERO4(V16, V17, V18, V19)
	A8ZERO4(V20, V21, V22, V23)
	A8ZERO4(V24, V25, V26, V27)
	A8ZERO4(V28, V29, V30, V31)

	LSR  $2, R3, R12 // 4 depth groups (16 bytes of each row) a pass
	AND  $3, R3, R13
	CBZ  R12, a8_tail

a8_loop:
	VLD1.P 16(R6), [V2.B16]
	VLD1.P 16(R7), [V3.B16]
	VLD1.P 16(R8), [V4.B16]
	VLD1.P 16(R9), [V5.B16]
	VLD1.P 16(R10), [V6.B16]
	VLD1.P 16(R11), [V7.B16]
	A8QUAD(0)
	A8QUAD(1)
	A8QUAD(2)
	A8QUAD(3)
	SUBS $1, R12, R12
	BNE  a8_loop

a8_tail:
	CBZ R13, a8_epi

a8_tail_loop:
	A8LOADROW(R6, V2)
	A8LOADROW(R7, V3)
	A8LOADROW(R8, V4)
	A8LOADROW(R9, V5)
	A8LOADROW(R10, V6)
	A8LOADROW(R11, V7)
	A8QUAD(0)
	SUBS $1, R13, R13
	BNE  a8_tail_loop

a8_epi:
	// acc −= za[r]·cs (cs in V0..V3, za[0..3] in V4, za[4..5] in V5)
	MOVD cs+64(FP), R14
	VLD1 (R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	MOVD za+48(FP), R14
	VLD1.P 16(R14), [V4.S4]
	VLD1   (R14), [V5.S2]
	A8MLS(0, 4, 0)
	A8MLS(1, 4, 1)
	A8MLS(2, 4, 2)
	A8MLS(3, 4, 3)
	A8MLS(4, 5, 0)
	A8MLS(5, 5, 1)
	A8CVT(0)
	A8CVT(1)
	A8CVT(2)
	A8CVT(3)
	A8CVT(4)
	A8CVT(5)

	// ·sa[r]
	MOVD sa+56(FP), R14
	VLD1.P 16(R14), [V4.S4]
	VLD1   (R14), [V5.S2]
	A8SCALE(0, 4, 0)
	A8SCALE(1, 4, 1)
	A8SCALE(2, 4, 2)
	A8SCALE(3, 4, 3)
	A8SCALE(4, 5, 0)
	A8SCALE(5, 5, 1)

	// ·sw, then + bias, a column group at a time
	MOVD sw+72(FP), R14
	VLD1 (R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	A8COLOP(FMULV, 0)
	A8COLOP(FMULV, 1)
	A8COLOP(FMULV, 2)
	A8COLOP(FMULV, 3)
	MOVD bias+80(FP), R14
	VLD1 (R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	A8COLOP(FADDV, 0)
	A8COLOP(FADDV, 1)
	A8COLOP(FADDV, 2)
	A8COLOP(FADDV, 3)

	MOVD c+32(FP), R2
	MOVD ldc+40(FP), R5
	LSL  $2, R5, R5
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R2)
	ADD  R5, R2, R2
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R2)
	ADD  R5, R2, R2
	VST1 [V16.S4, V17.S4, V18.S4, V19.S4], (R2)
	ADD  R5, R2, R2
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R2)
	ADD  R5, R2, R2
	VST1 [V24.S4, V25.S4, V26.S4, V27.S4], (R2)
	ADD  R5, R2, R2
	VST1 [V28.S4, V29.S4, V30.S4, V31.S4], (R2)
	RET

// A8QUANT4 quantizes the 4 floats in V(v) in place, as quantRowA8's Go
// loop does, in the same float32 operations: roundEven(x·inv) + za,
// clamped to [0, 127] (V0: inv, V1: za, V2: 0, V3: 127), then to int32.
#define A8QUANT4(v) \
	FMULV(v, 0);  \
	FRINTN(v);    \
	FADDV(v, 1);  \
	FMAXV3(v, 2); \
	FMINV3(v, 3); \
	FCVTZS(v)

// A8QSETUPN broadcasts inv (V0) and the zero point (V1), and sets 0 (V2)
// and 127 (V3) for the clamp.
#define A8QSETUPN(inv, za) \
	FMOVS inv, F0;               \
	VDUP  V0.S[0], V0.S4;        \
	FMOVS za, F1;                \
	VDUP  V1.S[0], V1.S4;        \
	VEOR  V2.B16, V2.B16, V2.B16; \
	MOVW  $0x42fe0000, R4;       \
	VDUP  R4, V3.S4

// A8QSTOREN quantizes the 8 values in V4, V5 (A8QUANT4) and stores
// them as 8 bytes at R0, stepping R0.
#define A8QSTOREN \
	A8QUANT4(4);     \
	A8QUANT4(5);     \
	XTNS(6, 4);      \
	XTN2S(6, 5);     \
	XTNH(6, 6);      \
	FMOVD F6, (R0);  \
	ADD   $8, R0

// A8MMSTEPN folds the 8 values in V0, V1 into the running min (V2) and
// max (V4).
#define A8MMSTEPN \
	FMINV3(2, 0); \
	FMAXV3(4, 0); \
	FMINV3(2, 1); \
	FMAXV3(4, 1)

// A8MMREDUCEN reduces V2 (min) and V4 (max) across lanes and stores them
// and whether either is a NaN.
#define A8MMREDUCEN(lo, hi, nan) \
	FMINACROSS(2);  \
	FMAXACROSS(4);  \
	FMOVS F2, lo;   \
	FMOVS F4, hi;   \
	FCMPS F2, F2;   \
	CSET  VS, R5;   \
	FCMPS F4, F4;   \
	CSET  VS, R6;   \
	ORR   R5, R6, R5; \
	MOVB  R5, nan

// func quantA8NEON(dst *uint8, src *float32, n8 int, inv float32, za float32)
//
// dst[i] = min(max(roundEven(src[i]·inv) + za, 0), 127) for 8·n8 values.
TEXT ·quantA8NEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n8+16(FP), R3
	A8QSETUPN(inv+24(FP), za+28(FP))
	CBZ  R3, q_done

q_loop:
	VLD1.P 32(R1), [V4.S4, V5.S4]
	A8QSTOREN
	SUBS   $1, R3, R3
	BNE    q_loop

q_done:
	RET

// func minMaxNEON(src *float32, n8 int) (lo, hi float32, nan bool)
//
// The smallest and largest of 8·n8 values (n8 ≥ 1), and whether one is a
// NaN (FMIN and FMAX carry a NaN through, so lo is then a NaN).
TEXT ·minMaxNEON(SB), NOSPLIT, $0-25
	MOVD   src+0(FP), R0
	MOVD   n8+8(FP), R3
	VLD1.P 32(R0), [V2.S4, V3.S4]
	VORR   V2.B16, V2.B16, V4.B16
	FMINV3(2, 3)
	FMAXV3(4, 3)
	SUBS   $1, R3, R3
	BEQ    mm_reduce

mm_loop:
	VLD1.P 32(R0), [V0.S4, V1.S4]
	A8MMSTEPN
	SUBS   $1, R3, R3
	BNE    mm_loop

mm_reduce:
	A8MMREDUCEN(lo+16(FP), hi+20(FP), nan+24(FP))
	RET

// func quantScaledA8NEON(dst *uint8, src, scale *float32, n8 int, inv float32, za float32)
//
// quantA8NEON of the values src[i]·scale[i] (float32 products).
TEXT ·quantScaledA8NEON(SB), NOSPLIT, $0-40
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD scale+16(FP), R2
	MOVD n8+24(FP), R3
	A8QSETUPN(inv+32(FP), za+36(FP))
	CBZ  R3, qs_done

qs_loop:
	VLD1.P 32(R1), [V4.S4, V5.S4]
	VLD1.P 32(R2), [V6.S4, V7.S4]
	FMULV(4, 6)
	FMULV(5, 7)
	A8QSTOREN
	SUBS   $1, R3, R3
	BNE    qs_loop

qs_done:
	RET

// func minMaxScaledNEON(src, scale *float32, n8 int) (lo, hi float32, nan bool)
//
// minMaxNEON of the values src[i]·scale[i].
TEXT ·minMaxScaledNEON(SB), NOSPLIT, $0-33
	MOVD   src+0(FP), R0
	MOVD   scale+8(FP), R1
	MOVD   n8+16(FP), R3
	VLD1.P 32(R0), [V2.S4, V3.S4]
	VLD1.P 32(R1), [V6.S4, V7.S4]
	FMULV(2, 6)
	FMULV(3, 7)
	VORR   V2.B16, V2.B16, V4.B16
	FMINV3(2, 3)
	FMAXV3(4, 3)
	SUBS   $1, R3, R3
	BEQ    mms_reduce

mms_loop:
	VLD1.P 32(R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V6.S4, V7.S4]
	FMULV(0, 6)
	FMULV(1, 7)
	A8MMSTEPN
	SUBS   $1, R3, R3
	BNE    mms_loop

mms_reduce:
	A8MMREDUCEN(lo+24(FP), hi+28(FP), nan+32(FP))
	RET
