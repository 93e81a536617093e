//go:build amd64 && !purego

#include "textflag.h"

// W8A8 kernels (a8.go): unsigned 7-bit activations × signed 8-bit weights,
// summed exactly in int32 by VPMADDUBSW (byte pairs → int16; 2·127·127 <
// 2¹⁵, so it never saturates) and VPMADDWD with ones (int16 pairs → int32).

// A8STEP adds one group of 4 depths of one row (its 4 bytes at addr,
// broadcast) times the panel's 16 columns (DI) to the row's accumulators.
#define A8STEP(addr, lo, hi) \
	VPBROADCASTD addr, Y12 \
	VPMADDUBSW   (DI), Y12, Y13 \
	VPMADDUBSW   32(DI), Y12, Y15 \
	VPMADDWD     Y14, Y13, Y13 \
	VPMADDWD     Y14, Y15, Y15 \
	VPADDD       Y13, lo, lo \
	VPADDD       Y15, hi, hi

// A8ROW is the epilogue of one row (za, sa at byte offset off): subtract
// za·Σq per column, convert, scale by sa then sw, add the bias, store at
// DI and step DI to the next row.
#define A8ROW(lo, hi, off) \
	VPBROADCASTD off(R8), Y12 \
	VPMULLD      (R11), Y12, Y13 \
	VPMULLD      32(R11), Y12, Y15 \
	VPSUBD       Y13, lo, lo \
	VPSUBD       Y15, hi, hi \
	VCVTDQ2PS    lo, lo \
	VCVTDQ2PS    hi, hi \
	VBROADCASTSS off(R10), Y12 \
	VMULPS       Y12, lo, lo \
	VMULPS       Y12, hi, hi \
	VMULPS       (R12), lo, lo \
	VMULPS       32(R12), hi, hi \
	VADDPS       (R13), lo, lo \
	VADDPS       32(R13), hi, hi \
	VMOVUPS      lo, (DI) \
	VMOVUPS      hi, 32(DI) \
	ADDQ         R9, DI

// A8ENTRY loads the arguments the loop uses and sets the int16 ones.
#define A8ENTRY \
	MOVQ     kq+0(FP), CX \
	MOVQ     a+8(FP), SI \
	MOVQ     lda+16(FP), R9 \
	MOVQ     b+24(FP), DI \
	LEAQ     (SI)(R9*2), R10 \
	ADDQ     R9, R10 \
	VPCMPEQW Y14, Y14, Y14 \
	VPSRLW   $15, Y14, Y14

// A8EPI loads the arguments the epilogue uses (DI: C, R9: its row stride
// in bytes).
#define A8EPI \
	MOVQ c+32(FP), DI \
	MOVQ ldc+40(FP), R9 \
	SHLQ $2, R9 \
	MOVQ za+48(FP), R8 \
	MOVQ sa+56(FP), R10 \
	MOVQ cs+64(FP), R11 \
	MOVQ sw+72(FP), R12 \
	MOVQ bias+80(FP), R13

// A8ZERO4 clears four accumulators.
#define A8ZERO4(r0, r1, r2, r3) \
	VPXOR r0, r0, r0 \
	VPXOR r1, r1, r1 \
	VPXOR r2, r2, r2 \
	VPXOR r3, r3, r3

// A8NEXT steps the row pointers by 4 depths and the panel by 64 bytes.
#define A8NEXT \
	ADDQ $4, SI \
	ADDQ $4, R10 \
	ADDQ $64, DI

// func kernA8AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)
//
// C[6×16] = ((float(Σ_k a·b − za·cs)·sa)·sw) + bias, a: 6 rows of lda bytes
// (4·kq used), b: the panel, kq groups of 16 columns × 4 bytes (k-major
// within a column), za/sa per row, cs/sw/bias per column. kq ≥ 1.
TEXT ·kernA8AVX2(SB), NOSPLIT, $0-88
	A8ENTRY
	A8ZERO4(Y0, Y1, Y2, Y3)
	A8ZERO4(Y4, Y5, Y6, Y7)
	A8ZERO4(Y8, Y9, Y10, Y11)

a8_loop6:
	A8STEP((SI), Y0, Y1)
	A8STEP((SI)(R9*1), Y2, Y3)
	A8STEP((SI)(R9*2), Y4, Y5)
	A8STEP((R10), Y6, Y7)
	A8STEP((R10)(R9*1), Y8, Y9)
	A8STEP((R10)(R9*2), Y10, Y11)
	A8NEXT
	DECQ CX
	JNZ  a8_loop6

	A8EPI
	A8ROW(Y0, Y1, 0)
	A8ROW(Y2, Y3, 4)
	A8ROW(Y4, Y5, 8)
	A8ROW(Y6, Y7, 12)
	A8ROW(Y8, Y9, 16)
	A8ROW(Y10, Y11, 20)
	VZEROUPPER
	RET

// func kernA8x4AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)
//
// kernA8AVX2 for the top 4 rows (edge tiles of 3 or 4 rows).
TEXT ·kernA8x4AVX2(SB), NOSPLIT, $0-88
	A8ENTRY
	A8ZERO4(Y0, Y1, Y2, Y3)
	A8ZERO4(Y4, Y5, Y6, Y7)

a8_loop4:
	A8STEP((SI), Y0, Y1)
	A8STEP((SI)(R9*1), Y2, Y3)
	A8STEP((SI)(R9*2), Y4, Y5)
	A8STEP((R10), Y6, Y7)
	A8NEXT
	DECQ CX
	JNZ  a8_loop4

	A8EPI
	A8ROW(Y0, Y1, 0)
	A8ROW(Y2, Y3, 4)
	A8ROW(Y4, Y5, 8)
	A8ROW(Y6, Y7, 12)
	VZEROUPPER
	RET

// func kernA8x2AVX2(kq int, a *uint8, lda int, b *int8, c *float32, ldc int, za *int32, sa *float32, cs *int32, sw *float32, bias *float32)
//
// kernA8AVX2 for the top 2 rows (edge tiles of 1 or 2 rows).
TEXT ·kernA8x2AVX2(SB), NOSPLIT, $0-88
	A8ENTRY
	A8ZERO4(Y0, Y1, Y2, Y3)

a8_loop2:
	A8STEP((SI), Y0, Y1)
	A8STEP((SI)(R9*1), Y2, Y3)
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  a8_loop2

	A8EPI
	A8ROW(Y0, Y1, 0)
	A8ROW(Y2, Y3, 4)
	VZEROUPPER
	RET

// A8QSETUP broadcasts inv (Y0) and the zero point (Y1), and sets 0 (Y2)
// and 127 (Y3) for the clamp.
#define A8QSETUP(inv, za) \
	VBROADCASTSS inv, Y0         \
	VBROADCASTSS za, Y1          \
	VXORPS       Y2, Y2, Y2      \
	MOVL         $0x42fe0000, AX \
	MOVL         AX, X3          \
	VBROADCASTSS X3, Y3

// A8QSTORE rounds the 8 values x·inv in Y4, adds the zero point, clamps to
// [0, 127] and stores them as 8 bytes at DI.
#define A8QSTORE \
	VROUNDPS     $0, Y4, Y4 \
	VADDPS       Y1, Y4, Y4 \
	VMAXPS       Y2, Y4, Y4 \
	VMINPS       Y3, Y4, Y4 \
	VCVTTPS2DQ   Y4, Y4     \
	VEXTRACTI128 $1, Y4, X5 \
	VPACKSSDW    X5, X4, X4 \
	VPACKUSWB    X4, X4, X4 \
	MOVQ         X4, (DI)

// A8MMSTEP folds the 8 values in Y3 into the running min (Y0), max (Y1)
// and NaN lanes (Y2).
#define A8MMSTEP \
	VMINPS Y3, Y0, Y0     \
	VMAXPS Y3, Y1, Y1     \
	VCMPPS $3, Y3, Y3, Y4 \
	VORPS  Y4, Y2, Y2

// A8MMREDUCE reduces the lanes of Y0 (min) and Y1 (max) and stores them
// and whether a lane held a NaN.
#define A8MMREDUCE(lo, hi, nan) \
	VEXTRACTF128 $1, Y0, X3 \
	VMINPS       X3, X0, X0 \
	VEXTRACTF128 $1, Y1, X3 \
	VMAXPS       X3, X1, X1 \
	VMOVHLPS     X0, X3, X3 \
	VMINPS       X3, X0, X0 \
	VMOVHLPS     X1, X3, X3 \
	VMAXPS       X3, X1, X1 \
	VPSHUFD      $1, X0, X3 \
	VMINSS       X3, X0, X0 \
	VPSHUFD      $1, X1, X3 \
	VMAXSS       X3, X1, X1 \
	MOVSS        X0, lo     \
	MOVSS        X1, hi     \
	VMOVMSKPS    Y2, AX     \
	TESTL        AX, AX     \
	SETNE        nan

// func quantA8AVX2(dst *uint8, src *float32, n8 int, inv float32, za float32)
//
// dst[i] = min(max(roundEven(src[i]·inv) + za, 0), 127) for 8·n8 values:
// the same float32 operations as quantRowA8's Go loop, so the same bytes.
TEXT ·quantA8AVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n8+16(FP), CX
	A8QSETUP(inv+24(FP), za+28(FP))
	TESTQ CX, CX
	JZ    q_done

q_loop:
	VMULPS (SI), Y0, Y4
	A8QSTORE
	ADDQ   $32, SI
	ADDQ   $8, DI
	DECQ   CX
	JNZ    q_loop

q_done:
	VZEROUPPER
	RET

// func minMaxAVX2(src *float32, n8 int) (lo, hi float32, nan bool)
//
// The smallest and largest of 8·n8 values (n8 ≥ 1), and whether one is a
// NaN (VMINPS/VMAXPS would drop it).
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-25
	MOVQ    src+0(FP), SI
	MOVQ    n8+8(FP), CX
	VMOVUPS (SI), Y0       // min
	VMOVAPS Y0, Y1         // max
	VCMPPS  $3, Y0, Y0, Y2 // NaN lanes
	ADDQ    $32, SI
	DECQ    CX
	JZ      mm_reduce

mm_loop:
	VMOVUPS (SI), Y3
	A8MMSTEP
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mm_loop

mm_reduce:
	A8MMREDUCE(lo+16(FP), hi+20(FP), nan+24(FP))
	VZEROUPPER
	RET

// func quantScaledA8AVX2(dst *uint8, src, scale *float32, n8 int, inv float32, za float32)
//
// quantA8AVX2 of the values src[i]·scale[i] (float32 products, as
// quantRowA8 with scales's Go loop rounds them).
TEXT ·quantScaledA8AVX2(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  scale+16(FP), DX
	MOVQ  n8+24(FP), CX
	A8QSETUP(inv+32(FP), za+36(FP))
	TESTQ CX, CX
	JZ    qs_done

qs_loop:
	VMOVUPS (SI), Y4
	VMULPS  (DX), Y4, Y4
	VMULPS  Y0, Y4, Y4
	A8QSTORE
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $8, DI
	DECQ    CX
	JNZ     qs_loop

qs_done:
	VZEROUPPER
	RET

// func minMaxScaledAVX2(src, scale *float32, n8 int) (lo, hi float32, nan bool)
//
// minMaxAVX2 of the values src[i]·scale[i].
TEXT ·minMaxScaledAVX2(SB), NOSPLIT, $0-33
	MOVQ    src+0(FP), SI
	MOVQ    scale+8(FP), DX
	MOVQ    n8+16(FP), CX
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0   // min
	VMOVAPS Y0, Y1         // max
	VCMPPS  $3, Y0, Y0, Y2 // NaN lanes
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    CX
	JZ      mms_reduce

mms_loop:
	VMOVUPS (SI), Y3
	VMULPS  (DX), Y3, Y3
	A8MMSTEP
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     mms_loop

mms_reduce:
	A8MMREDUCE(lo+24(FP), hi+28(FP), nan+32(FP))
	VZEROUPPER
	RET
