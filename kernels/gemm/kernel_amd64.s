//go:build amd64 && !purego

#include "textflag.h"

// Micro-kernels: C[mr×nr] = A·B + bias + beta·C, where A is a packed mr×kc
// panel (kc groups of mr floats, one column of A each) and B a packed kc×nr
// panel (kc rows of nr floats). The accumulators live in registers for the
// whole kc loop; C is touched once, at the end.

// ---------------------------------------------------------------- AVX2 6×16

// Load the B row of a k step into Y12:Y13: 16 floats at byte offset bo, or
// 16 F16 values widened (VCVTPH2PS, F16C; PackBHalf's panels).
#define AVX2_LOAD_F32(bo) \
	VMOVUPS bo(BX), Y12;     \
	VMOVUPS bo+32(BX), Y13

#define AVX2_LOAD_F16(bo) \
	VCVTPH2PS bo(BX), Y12;     \
	VCVTPH2PS bo+16(BX), Y13

// One k step of the top 4 rows: B row in Y12:Y13 (LOAD), A broadcasts in
// Y14/Y15, 8 FMAs into Y0..Y7 (row r in Y(2r):Y(2r+1)). ao, bo: byte
// offsets of the step.
#define AVX2_STEP4(LOAD, ao, bo) \
	LOAD(bo);                     \
	VBROADCASTSS ao(AX), Y14;     \
	VFMADD231PS  Y12, Y14, Y0;    \
	VFMADD231PS  Y13, Y14, Y1;    \
	VBROADCASTSS ao+4(AX), Y15;   \
	VFMADD231PS  Y12, Y15, Y2;    \
	VFMADD231PS  Y13, Y15, Y3;    \
	VBROADCASTSS ao+8(AX), Y14;   \
	VFMADD231PS  Y12, Y14, Y4;    \
	VFMADD231PS  Y13, Y14, Y5;    \
	VBROADCASTSS ao+12(AX), Y15;  \
	VFMADD231PS  Y12, Y15, Y6;    \
	VFMADD231PS  Y13, Y15, Y7

// One k step of all 6 rows: 12 FMAs into Y0..Y11.
#define AVX2_STEP(LOAD, ao, bo) \
	AVX2_STEP4(LOAD, ao, bo);     \
	VBROADCASTSS ao+16(AX), Y14;  \
	VFMADD231PS  Y12, Y14, Y8;    \
	VFMADD231PS  Y13, Y14, Y9;    \
	VBROADCASTSS ao+20(AX), Y15;  \
	VFMADD231PS  Y12, Y15, Y10;   \
	VFMADD231PS  Y13, Y15, Y11

#define AVX2_STORE_ROW(r0, r1) \
	VMOVUPS r0, (DI);    \
	VMOVUPS r1, 32(DI);  \
	ADDQ    R8, DI

// Y15 holds beta broadcast.
#define AVX2_BETA_ROW(r0, r1) \
	VFMADD231PS (DI), Y15, r0;    \
	VFMADD231PS 32(DI), Y15, r1;  \
	VMOVUPS     r0, (DI);         \
	VMOVUPS     r1, 32(DI);       \
	ADDQ        R8, DI

// Rows 0–3 (ROW4) or 0–5 (ROW6) of the tile through ROW (store or beta).
#define AVX2_ROWS4(ROW) \
	ROW(Y0, Y1);  \
	ROW(Y2, Y3);  \
	ROW(Y4, Y5);  \
	ROW(Y6, Y7)

#define AVX2_ROWS6(ROW) \
	AVX2_ROWS4(ROW);  \
	ROW(Y8, Y9);      \
	ROW(Y10, Y11)

// The kernels' arguments: CX kc, AX a, BX b, DI c, R8 ldc in bytes, DX bias.
#define KERN_ARGS \
	MOVQ kc+0(FP), CX;    \
	MOVQ a+8(FP), AX;     \
	MOVQ b+16(FP), BX;    \
	MOVQ c+24(FP), DI;    \
	MOVQ ldc+32(FP), R8;  \
	SHLQ $2, R8;          \
	MOVQ bias+48(FP), DX

// The k loop of every kernel: kc (CX) steps, LOOP4 four at a time (it
// advances AX and BX), then STEP1 one at a time, advancing AX by AS and BX
// by BS bytes.
#define KERN_KLOOP(LOOP4, STEP1, AS, BS) \
	MOVQ CX, DX;        \
	SHRQ $2, DX;        \
	JZ   kloop_tail;    \
kloop4:                 \
	LOOP4;              \
	DECQ DX;            \
	JNZ  kloop4;        \
kloop_tail:             \
	ANDQ $3, CX;        \
	JZ   kloop_done;    \
kloop1:                 \
	STEP1;              \
	ADDQ $AS, AX;       \
	ADDQ $BS, BX;       \
	DECQ CX;            \
	JNZ  kloop1;        \
kloop_done:

// Write the tile and return: C = acc through STORE (beta == ±0: C is not
// read), or acc + beta·C through BETA with beta broadcast in BREG.
#define KERN_STORE_RET(BREG, STORE, BETA) \
	MOVL beta+40(FP), DX;            \
	ANDL $0x7fffffff, DX;            \
	JNZ  store_beta;                 \
	STORE;                           \
	VZEROUPPER;                      \
	RET;                             \
store_beta:                          \
	VBROADCASTSS beta+40(FP), BREG;  \
	BETA;                            \
	VZEROUPPER;                      \
	RET

// Rows 0–3 of the accumulators start at the bias row (DX), or at zero.
#define AVX2_BIAS4 \
	VMOVUPS (DX), Y0;    \
	VMOVUPS 32(DX), Y1;  \
	VMOVAPS Y0, Y2;      \
	VMOVAPS Y1, Y3;      \
	VMOVAPS Y0, Y4;      \
	VMOVAPS Y1, Y5;      \
	VMOVAPS Y0, Y6;      \
	VMOVAPS Y1, Y7

#define AVX2_ZERO4 \
	VXORPS Y0, Y0, Y0;  \
	VXORPS Y1, Y1, Y1;  \
	VXORPS Y2, Y2, Y2;  \
	VXORPS Y3, Y3, Y3;  \
	VXORPS Y4, Y4, Y4;  \
	VXORPS Y5, Y5, Y5;  \
	VXORPS Y6, Y6, Y6;  \
	VXORPS Y7, Y7, Y7

// Prefetch one 64-byte row of the C tile at R9 (possibly straddling two
// lines); AVX2_PREFETCH_ROW also steps R9 to the next row.
#define AVX2_PREFETCH_LINE \
	PREFETCHT0 (R9);    \
	PREFETCHT0 60(R9)

#define AVX2_PREFETCH_ROW \
	AVX2_PREFETCH_LINE; \
	ADDQ R8, R9

// Prefetch the C tile (6 rows) and start the 12 accumulators at the bias
// row, or at zero.
#define AVX2_INIT6 \
	MOVQ       DI, R9;      \
	AVX2_PREFETCH_ROW;      \
	AVX2_PREFETCH_ROW;      \
	AVX2_PREFETCH_ROW;      \
	AVX2_PREFETCH_ROW;      \
	AVX2_PREFETCH_ROW;      \
	AVX2_PREFETCH_LINE;     \
	TESTQ      DX, DX;      \
	JZ         init6_zero;  \
	AVX2_BIAS4;             \
	VMOVAPS    Y0, Y8;      \
	VMOVAPS    Y1, Y9;      \
	VMOVAPS    Y0, Y10;     \
	VMOVAPS    Y1, Y11;     \
	JMP        init6_done;  \
init6_zero:                 \
	AVX2_ZERO4;             \
	VXORPS     Y8, Y8, Y8;  \
	VXORPS     Y9, Y9, Y9;  \
	VXORPS     Y10, Y10, Y10; \
	VXORPS     Y11, Y11, Y11; \
init6_done:

#define AVX2_INIT4 \
	TESTQ DX, DX;     \
	JZ    init4_zero; \
	AVX2_BIAS4;       \
	JMP   init4_done; \
init4_zero:           \
	AVX2_ZERO4;       \
init4_done:

// Four k steps of STEPM on float32 B rows (64 bytes), B prefetched 1 KiB
// (four steps) ahead, one line a step: the first row panel to use a B
// micro-panel streams it from memory when M is small (a batch of one:
// every weight is read for a few rows), and the packed panels are
// contiguous, so the last iterations fetch the next one. Lines already in
// L1 (later row panels) cost a load slot each.
#define AVX2_LOOP4_F32(STEPM) \
	PREFETCHT0 1024(BX);               \
	STEPM(AVX2_LOAD_F32, 0, 0);        \
	PREFETCHT0 1088(BX);               \
	STEPM(AVX2_LOAD_F32, 24, 64);      \
	PREFETCHT0 1152(BX);               \
	STEPM(AVX2_LOAD_F32, 48, 128);     \
	PREFETCHT0 1216(BX);               \
	STEPM(AVX2_LOAD_F32, 72, 192);     \
	ADDQ       $96, AX;                \
	ADDQ       $256, BX

// The same on F16 B rows (32 bytes): 1 KiB ahead is eight steps, one line
// every two.
#define AVX2_LOOP4_F16(STEPM) \
	PREFETCHT0 1024(BX);               \
	PREFETCHT0 1088(BX);               \
	STEPM(AVX2_LOAD_F16, 0, 0);        \
	STEPM(AVX2_LOAD_F16, 24, 32);      \
	STEPM(AVX2_LOAD_F16, 48, 64);      \
	STEPM(AVX2_LOAD_F16, 72, 96);      \
	ADDQ       $96, AX;                \
	ADDQ       $128, BX

// func kernAVX2(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)
TEXT ·kernAVX2(SB), NOSPLIT, $0-56
	KERN_ARGS
	AVX2_INIT6
	KERN_KLOOP(AVX2_LOOP4_F32(AVX2_STEP), AVX2_STEP(AVX2_LOAD_F32, 0, 0), 24, 64)
	KERN_STORE_RET(Y15, AVX2_ROWS6(AVX2_STORE_ROW), AVX2_ROWS6(AVX2_BETA_ROW))

// ------------------------------------------------------- AVX2 4×16 (edge)
//
// The top 4 rows of a 6-row packed A panel (it still advances 24 bytes a
// k step): for edge tiles of 1–4 rows, which the 6×16 kernel would compute
// with zero rows (a third or more of its work). 8 accumulators still keep
// both FMA pipes busy (latency 4). Each element is summed in the same order
// as by the 6×16 kernel: the result is the same bit for bit.

// func kernAVX2x4(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)
TEXT ·kernAVX2x4(SB), NOSPLIT, $0-56
	KERN_ARGS
	AVX2_INIT4
	KERN_KLOOP(AVX2_LOOP4_F32(AVX2_STEP4), AVX2_STEP4(AVX2_LOAD_F32, 0, 0), 24, 64)
	KERN_STORE_RET(Y15, AVX2_ROWS4(AVX2_STORE_ROW), AVX2_ROWS4(AVX2_BETA_ROW))

// ------------------------------------------- AVX2 6×16 and 4×16, F16 B
//
// kernAVX2 and kernAVX2x4 on a B panel of F16 values (PackBHalf: kc rows
// of 16 halves, 32 bytes), widened by VCVTPH2PS as they are loaded: a
// batch of one streams half the bytes of every weight. The same FMAs in
// the same order as on the widened panel, so the same result bit for bit.

// func kernAVX2H(kc int, a, b, c *float32, ldc int, beta float32, bias *float32), b → F16 values
TEXT ·kernAVX2H(SB), NOSPLIT, $0-56
	KERN_ARGS
	AVX2_INIT6
	KERN_KLOOP(AVX2_LOOP4_F16(AVX2_STEP), AVX2_STEP(AVX2_LOAD_F16, 0, 0), 24, 32)
	KERN_STORE_RET(Y15, AVX2_ROWS6(AVX2_STORE_ROW), AVX2_ROWS6(AVX2_BETA_ROW))

// func kernAVX2x4H(kc int, a, b, c *float32, ldc int, beta float32, bias *float32), b → F16 values
TEXT ·kernAVX2x4H(SB), NOSPLIT, $0-56
	KERN_ARGS
	AVX2_INIT4
	KERN_KLOOP(AVX2_LOOP4_F16(AVX2_STEP4), AVX2_STEP4(AVX2_LOAD_F16, 0, 0), 24, 32)
	KERN_STORE_RET(Y15, AVX2_ROWS4(AVX2_STORE_ROW), AVX2_ROWS4(AVX2_BETA_ROW))

// ------------------------------------------ AVX2 6×16 and 4×16, int8 B
//
// kernAVX2 and kernAVX2x4 on a B panel of int8 values (PackBInt8: kc rows
// of 16 bytes), sign-extended and converted as they are loaded: a batch of
// one streams a quarter of the bytes of every weight. The accumulators
// start at zero; at the end each column's sum is multiplied by its scale
// and the bias added, from [scale | bias] (32 floats) where the other
// kernels take the bias.

// Load the B row of a k step into Y12:Y13: 16 int8 values as floats.
#define AVX2_LOAD_I8(bo) \
	VPMOVSXBD bo(BX), Y12;   \
	VPMOVSXBD bo+8(BX), Y13; \
	VCVTDQ2PS Y12, Y12;      \
	VCVTDQ2PS Y13, Y13

// Four k steps on int8 B rows (16 bytes): 1 KiB ahead is 64 steps, one
// line every four.
#define AVX2_LOOP4_I8(STEPM) \
	PREFETCHT0 1024(BX);         \
	STEPM(AVX2_LOAD_I8, 0, 0);   \
	STEPM(AVX2_LOAD_I8, 24, 16); \
	STEPM(AVX2_LOAD_I8, 48, 32); \
	STEPM(AVX2_LOAD_I8, 72, 48); \
	ADDQ       $96, AX;          \
	ADDQ       $64, BX

// Prefetch the C tile (6 rows) and zero the 12 accumulators.
#define AVX2_INITQ6 \
	MOVQ   DI, R9;        \
	AVX2_PREFETCH_ROW;    \
	AVX2_PREFETCH_ROW;    \
	AVX2_PREFETCH_ROW;    \
	AVX2_PREFETCH_ROW;    \
	AVX2_PREFETCH_ROW;    \
	AVX2_PREFETCH_LINE;   \
	AVX2_ZERO4;           \
	VXORPS Y8, Y8, Y8;    \
	VXORPS Y9, Y9, Y9;    \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

// Scale and bias (at R10) into Y12:Y13 and Y14:Y15.
#define AVX2_SCALE_LOAD \
	VMOVUPS (R10), Y12;   \
	VMOVUPS 32(R10), Y13; \
	VMOVUPS 64(R10), Y14; \
	VMOVUPS 96(R10), Y15

// acc = acc·scale + bias for one row.
#define AVX2_SCALE_ROW(r0, r1) \
	VFMADD213PS Y14, Y12, r0; \
	VFMADD213PS Y15, Y13, r1

// func kernAVX2Q(kc int, a, b, c *float32, ldc int, beta float32, sb *float32), b → int8 values
TEXT ·kernAVX2Q(SB), NOSPLIT, $0-56
	KERN_ARGS
	MOVQ DX, R10
	AVX2_INITQ6
	KERN_KLOOP(AVX2_LOOP4_I8(AVX2_STEP), AVX2_STEP(AVX2_LOAD_I8, 0, 0), 24, 16)
	AVX2_SCALE_LOAD
	AVX2_ROWS6(AVX2_SCALE_ROW)
	KERN_STORE_RET(Y15, AVX2_ROWS6(AVX2_STORE_ROW), AVX2_ROWS6(AVX2_BETA_ROW))

// func kernAVX2x4Q(kc int, a, b, c *float32, ldc int, beta float32, sb *float32), b → int8 values
TEXT ·kernAVX2x4Q(SB), NOSPLIT, $0-56
	KERN_ARGS
	MOVQ DX, R10
	AVX2_ZERO4
	KERN_KLOOP(AVX2_LOOP4_I8(AVX2_STEP4), AVX2_STEP4(AVX2_LOAD_I8, 0, 0), 24, 16)
	AVX2_SCALE_LOAD
	AVX2_ROWS4(AVX2_SCALE_ROW)
	KERN_STORE_RET(Y15, AVX2_ROWS4(AVX2_STORE_ROW), AVX2_ROWS4(AVX2_BETA_ROW))

// ------------------------------------------------------------- AVX-512 12×32

// One k step: B row in Z24:Z25, A broadcasts in Z26/Z27, 24 FMAs into
// Z0..Z23 (row r in Z(2r):Z(2r+1)).
#define AVX512_ROW(ao, bz, z0, z1) \
	VBROADCASTSS ao(AX), bz;  \
	VFMADD231PS  Z24, bz, z0; \
	VFMADD231PS  Z25, bz, z1

// One k step of the top 8 rows: 16 FMAs into Z0..Z15.
#define AVX512_STEP8(ao, bo) \
	VMOVUPS bo(BX), Z24;                \
	VMOVUPS bo+64(BX), Z25;             \
	AVX512_ROW(ao, Z26, Z0, Z1);        \
	AVX512_ROW(ao+4, Z27, Z2, Z3);      \
	AVX512_ROW(ao+8, Z26, Z4, Z5);      \
	AVX512_ROW(ao+12, Z27, Z6, Z7);     \
	AVX512_ROW(ao+16, Z26, Z8, Z9);     \
	AVX512_ROW(ao+20, Z27, Z10, Z11);   \
	AVX512_ROW(ao+24, Z26, Z12, Z13);   \
	AVX512_ROW(ao+28, Z27, Z14, Z15)

// One k step of all 12 rows: 24 FMAs into Z0..Z23.
#define AVX512_STEP(ao, bo) \
	AVX512_STEP8(ao, bo);               \
	AVX512_ROW(ao+32, Z26, Z16, Z17);   \
	AVX512_ROW(ao+36, Z27, Z18, Z19);   \
	AVX512_ROW(ao+40, Z26, Z20, Z21);   \
	AVX512_ROW(ao+44, Z27, Z22, Z23)

// Four k steps of STEPM with B prefetched 1 KiB (eight steps) ahead, as in
// the AVX2 kernels: two lines of B per step.
#define AVX512_LOOP4(STEPM) \
	PREFETCHT0 1024(BX);  \
	PREFETCHT0 1088(BX);  \
	STEPM(0, 0);          \
	PREFETCHT0 1152(BX);  \
	PREFETCHT0 1216(BX);  \
	STEPM(48, 128);       \
	PREFETCHT0 1280(BX);  \
	PREFETCHT0 1344(BX);  \
	STEPM(96, 256);       \
	PREFETCHT0 1408(BX);  \
	PREFETCHT0 1472(BX);  \
	STEPM(144, 384);      \
	ADDQ $192, AX;        \
	ADDQ $512, BX

#define AVX512_STORE_ROW(z0, z1) \
	VMOVUPS z0, (DI);    \
	VMOVUPS z1, 64(DI);  \
	ADDQ    R8, DI

// Z31 holds beta broadcast.
#define AVX512_BETA_ROW(z0, z1) \
	VFMADD231PS (DI), Z31, z0;    \
	VFMADD231PS 64(DI), Z31, z1;  \
	VMOVUPS     z0, (DI);         \
	VMOVUPS     z1, 64(DI);       \
	ADDQ        R8, DI

// Rows 0–7 (ROWS8) or 0–11 (ROWS12) of the tile through ROW (store, beta
// or init).
#define AVX512_ROWS8(ROW) \
	ROW(Z0, Z1);    \
	ROW(Z2, Z3);    \
	ROW(Z4, Z5);    \
	ROW(Z6, Z7);    \
	ROW(Z8, Z9);    \
	ROW(Z10, Z11);  \
	ROW(Z12, Z13);  \
	ROW(Z14, Z15)

#define AVX512_ROWS12(ROW) \
	AVX512_ROWS8(ROW);  \
	ROW(Z16, Z17);      \
	ROW(Z18, Z19);      \
	ROW(Z20, Z21);      \
	ROW(Z22, Z23)

#define AVX512_PREFETCH_ROW \
	PREFETCHT0 (R9);     \
	PREFETCHT0 64(R9);   \
	PREFETCHT0 124(R9);  \
	ADDQ       R8, R9

#define AVX512_PREFETCH4 \
	AVX512_PREFETCH_ROW; \
	AVX512_PREFETCH_ROW; \
	AVX512_PREFETCH_ROW; \
	AVX512_PREFETCH_ROW

#define AVX512_INIT_ROW(z0, z1) \
	VMOVAPS Z28, z0; \
	VMOVAPS Z29, z1

// Z28:Z29 = the bias row (DX), or zero.
#define AVX512_BIAS \
	VPXORD  Z28, Z28, Z28;  \
	VPXORD  Z29, Z29, Z29;  \
	TESTQ   DX, DX;         \
	JZ      bias_done;      \
	VMOVUPS (DX), Z28;      \
	VMOVUPS 64(DX), Z29;    \
bias_done:

// func kernAVX512(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)
TEXT ·kernAVX512(SB), NOSPLIT, $0-56
	KERN_ARGS

	// Prefetch the C tile (12 rows of 128 bytes).
	MOVQ DI, R9
	AVX512_PREFETCH4
	AVX512_PREFETCH4
	AVX512_PREFETCH4

	AVX512_BIAS
	AVX512_ROWS12(AVX512_INIT_ROW)
	KERN_KLOOP(AVX512_LOOP4(AVX512_STEP), AVX512_STEP(0, 0), 48, 128)
	KERN_STORE_RET(Z31, AVX512_ROWS12(AVX512_STORE_ROW), AVX512_ROWS12(AVX512_BETA_ROW))

// ------------------------------------------------------- AVX-512 8×32 (edge)
//
// The top 8 rows of a 12-row packed A panel (it still advances 48 bytes a
// k step), for edge tiles of 1–8 rows: M = 32 or 128 (a sequence, a head's
// T) leaves 8 rows, which the 12×32 kernel computes with 4 zero rows. 16
// accumulators keep both FMA pipes busy. Same summation order as the 12×32
// kernel: the same result bit for bit.

// func kernAVX512x8(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)
TEXT ·kernAVX512x8(SB), NOSPLIT, $0-56
	KERN_ARGS
	AVX512_BIAS
	AVX512_ROWS8(AVX512_INIT_ROW)
	KERN_KLOOP(AVX512_LOOP4(AVX512_STEP8), AVX512_STEP8(0, 0), 48, 128)
	KERN_STORE_RET(Z31, AVX512_ROWS8(AVX512_STORE_ROW), AVX512_ROWS8(AVX512_BETA_ROW))

// ------------------------------------------------------------ peak measure

// func fmaLoopAVX2(n int)
TEXT ·fmaLoopAVX2(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ  CX, CX
	JZ     fma_done

fma_loop:
	VFMADD231PS Y10, Y11, Y0
	VFMADD231PS Y10, Y11, Y1
	VFMADD231PS Y10, Y11, Y2
	VFMADD231PS Y10, Y11, Y3
	VFMADD231PS Y10, Y11, Y4
	VFMADD231PS Y10, Y11, Y5
	VFMADD231PS Y10, Y11, Y6
	VFMADD231PS Y10, Y11, Y7
	VFMADD231PS Y10, Y11, Y8
	VFMADD231PS Y10, Y11, Y9
	DECQ        CX
	JNZ         fma_loop

fma_done:
	VZEROUPPER
	RET

// func fmaLoopAVX512(n int): 12 independent zmm FMA chains (384 flops an
// iteration), more than latency × pipes = 4 × 2.
TEXT ·fmaLoopAVX512(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	TESTQ  CX, CX
	JZ     fma512_done

fma512_loop:
	VFMADD231PS Z12, Z13, Z0
	VFMADD231PS Z12, Z13, Z1
	VFMADD231PS Z12, Z13, Z2
	VFMADD231PS Z12, Z13, Z3
	VFMADD231PS Z12, Z13, Z4
	VFMADD231PS Z12, Z13, Z5
	VFMADD231PS Z12, Z13, Z6
	VFMADD231PS Z12, Z13, Z7
	VFMADD231PS Z12, Z13, Z8
	VFMADD231PS Z12, Z13, Z9
	VFMADD231PS Z12, Z13, Z10
	VFMADD231PS Z12, Z13, Z11
	DECQ        CX
	JNZ         fma512_loop

fma512_done:
	VZEROUPPER
	RET

// ------------------------------------------------------------------ packing

// Transpose the 8×8 block in Y0..Y7 (row i in Yi) into Y8..Y15 (column i,
// that is element j of Y(8+i) is row j's element i). Clobbers Y0..Y7.
#define TRANSPOSE8X8 \
	VUNPCKLPS  Y1, Y0, Y8;         \
	VUNPCKHPS  Y1, Y0, Y9;         \
	VUNPCKLPS  Y3, Y2, Y10;        \
	VUNPCKHPS  Y3, Y2, Y11;        \
	VUNPCKLPS  Y5, Y4, Y12;        \
	VUNPCKHPS  Y5, Y4, Y13;        \
	VUNPCKLPS  Y7, Y6, Y14;        \
	VUNPCKHPS  Y7, Y6, Y15;        \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8;  \
	VPERM2F128 $0x20, Y5, Y1, Y9;  \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func packT8AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int)
//
// Transposes 8 rows of src (row stride lds floats) into dst: for p in
// [0, 8·n8), dst[p*dstStride + r] = src[r*lds + p], r < 8.
TEXT ·packT8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	SHLQ $2, R8
	MOVQ n8+32(FP), CX
	LEAQ (R8)(R8*2), R9  // 3 rows
	LEAQ (SI)(R8*4), R10 // row 4
	LEAQ (DX)(DX*2), R11 // 3 dst rows
	TESTQ CX, CX
	JZ   pt8_done

pt8_loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	TRANSPOSE8X8
	LEAQ    (DI)(DX*4), R12
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(DX*1)
	VMOVUPS Y10, (DI)(DX*2)
	VMOVUPS Y11, (DI)(R11*1)
	VMOVUPS Y12, (R12)
	VMOVUPS Y13, (R12)(DX*1)
	VMOVUPS Y14, (R12)(DX*2)
	VMOVUPS Y15, (R12)(R11*1)
	LEAQ    (R12)(DX*4), DI
	ADDQ    $32, SI
	ADDQ    $32, R10
	DECQ    CX
	JNZ     pt8_loop

pt8_done:
	VZEROUPPER
	RET

// Store the low 6 floats of ymm y (x: its low half) at (reg): 4 from the
// low lane, 2 from the high lane via the scratch xs.
#define STORE6(y, x, xs, reg) \
	VMOVUPS      x, (reg);    \
	VEXTRACTF128 $1, y, xs;   \
	VMOVLPS      xs, 16(reg)

// func packA6AVX2(dst *float32, dstStride int, src *float32, lds int, n8 int, alpha float32)
//
// Transposes 6 rows of src (row stride lds floats), times alpha, into dst:
// for p in [0, 8·n8), dst[p*dstStride + r] = alpha·src[r*lds + p], r < 6.
TEXT ·packA6AVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	SHLQ $2, R8
	MOVQ n8+32(FP), CX
	VBROADCASTSS alpha+40(FP), Y6
	LEAQ (R8)(R8*2), R9  // 3 rows
	LEAQ (SI)(R8*4), R10 // row 4
	TESTQ CX, CX
	JZ   pa6_done

pa6_loop:
	VMULPS  (SI), Y6, Y0
	VMULPS  (SI)(R8*1), Y6, Y1
	VMULPS  (SI)(R8*2), Y6, Y2
	VMULPS  (SI)(R9*1), Y6, Y3
	VMULPS  (R10), Y6, Y4
	VMULPS  (R10)(R8*1), Y6, Y5
	VMOVAPS Y5, Y7
	TRANSPOSE8X8  // rows 6, 7 are junk (Y6 = alpha, Y7 = row 5)
	STORE6(Y8, X8, X0, DI)
	ADDQ    DX, DI
	STORE6(Y9, X9, X0, DI)
	ADDQ    DX, DI
	STORE6(Y10, X10, X0, DI)
	ADDQ    DX, DI
	STORE6(Y11, X11, X0, DI)
	ADDQ    DX, DI
	STORE6(Y12, X12, X0, DI)
	ADDQ    DX, DI
	STORE6(Y13, X13, X0, DI)
	ADDQ    DX, DI
	STORE6(Y14, X14, X0, DI)
	ADDQ    DX, DI
	STORE6(Y15, X15, X0, DI)
	ADDQ    DX, DI
	VBROADCASTSS alpha+40(FP), Y6
	ADDQ    $32, SI
	ADDQ    $32, R10
	DECQ    CX
	JNZ     pa6_loop

pa6_done:
	VZEROUPPER
	RET

// func packAT6AVX2(dst *float32, dstStride int, src *float32, lds int, n int, alpha float32)
//
// dst[p*dstStride+r] = alpha·src[p*lds+r] for r < 6, p < n: six floats of
// each of n runs (4 + 2, in xmm registers).
TEXT ·packAT6AVX2(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         dstStride+8(FP), R8
	SHLQ         $2, R8
	MOVQ         src+16(FP), SI
	MOVQ         lds+24(FP), DX
	SHLQ         $2, DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS alpha+40(FP), X2
	TESTQ        CX, CX
	JZ           pat6_done

pat6_loop:
	VMOVUPS (SI), X0
	VMOVSD  16(SI), X1
	VMULPS  X2, X0, X0
	VMULPS  X2, X1, X1
	VMOVUPS X0, (DI)
	VMOVSD  X1, 16(DI)
	ADDQ    DX, SI
	ADDQ    R8, DI
	DECQ    CX
	JNZ     pat6_loop

pat6_done:
	RET

// func dequantAVX2(dst *float32, src *int8, scale *float32, nr8, rows int)
//
// Widens rows of 8·nr8 int8 values into floats times the row's scales:
// dst[p*nr+j] = src[p*nr+j]·scale[j], nr = 8·nr8 (an int8 micro-panel for
// the float32 kernels of an implementation without int8 ones).
TEXT ·dequantAVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  scale+16(FP), R8
	MOVQ  nr8+24(FP), R9
	MOVQ  rows+32(FP), CX
	TESTQ R9, R9
	JZ    dq_done
	TESTQ CX, CX
	JZ    dq_done

dq_row:
	MOVQ R8, R10
	MOVQ R9, DX

dq_col:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    (R10), Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, R10
	ADDQ      $32, DI
	DECQ      DX
	JNZ       dq_col
	DECQ      CX
	JNZ       dq_row

dq_done:
	VZEROUPPER
	RET

// func dequantRowsAVX2(dst *float32, src *int8, rowScale *float32, nr8, rows int)
//
// dequantAVX2 with one scale per row: dst[p*nr+j] = src[p*nr+j]·rowScale[p].
TEXT ·dequantRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rowScale+16(FP), R8
	MOVQ  nr8+24(FP), R9
	MOVQ  rows+32(FP), CX
	TESTQ R9, R9
	JZ    dqr_done
	TESTQ CX, CX
	JZ    dqr_done

dqr_row:
	VBROADCASTSS (R8), Y1
	MOVQ         R9, DX

dqr_col:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    Y1, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, DI
	DECQ      DX
	JNZ       dqr_col
	ADDQ      $4, R8
	DECQ      CX
	JNZ       dqr_row

dqr_done:
	VZEROUPPER
	RET

// func dequantRowsColsAVX2(dst *float32, src *int8, rowScale, colScale *float32, nr8, rows int)
//
// dequantRowsAVX2 times a scale per column as well:
// dst[p*nr+j] = (src[p*nr+j]·rowScale[p])·colScale[j].
TEXT ·dequantRowsColsAVX2(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rowScale+16(FP), R8
	MOVQ  colScale+24(FP), R10
	MOVQ  nr8+32(FP), R9
	MOVQ  rows+40(FP), CX
	TESTQ R9, R9
	JZ    dqrc_done
	TESTQ CX, CX
	JZ    dqrc_done

dqrc_row:
	VBROADCASTSS (R8), Y1
	MOVQ         R9, DX
	MOVQ         R10, BX

dqrc_col:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    Y1, Y0, Y0
	VMULPS    (BX), Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, DI
	ADDQ      $32, BX
	DECQ      DX
	JNZ       dqrc_col
	ADDQ      $4, R8
	DECQ      CX
	JNZ       dqrc_row

dqrc_done:
	VZEROUPPER
	RET
