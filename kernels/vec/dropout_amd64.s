//go:build amd64 && !purego

#include "textflag.h"

// splitmix64's constants; the multipliers split in 32-bit halves (in the
// low half of each quadword), as VPMULUDQ takes them.
DATA dropC0<>+0(SB)/8, $0x9e3779b97f4a7c15
GLOBL dropC0<>(SB), RODATA|NOPTR, $8
DATA dropC1lo<>+0(SB)/8, $0x1ce4e5b9
GLOBL dropC1lo<>(SB), RODATA|NOPTR, $8
DATA dropC1hi<>+0(SB)/8, $0xbf58476d
GLOBL dropC1hi<>(SB), RODATA|NOPTR, $8
DATA dropC2lo<>+0(SB)/8, $0x133111eb
GLOBL dropC2lo<>(SB), RODATA|NOPTR, $8
DATA dropC2hi<>+0(SB)/8, $0x94d049bb
GLOBL dropC2hi<>(SB), RODATA|NOPTR, $8
DATA dropIota<>+0(SB)/8, $0
DATA dropIota<>+8(SB)/8, $1
DATA dropIota<>+16(SB)/8, $2
DATA dropIota<>+24(SB)/8, $3
GLOBL dropIota<>(SB), RODATA|NOPTR, $32
DATA dropFour<>+0(SB)/8, $4
GLOBL dropFour<>(SB), RODATA|NOPTR, $8

// z = z·c mod 2⁶⁴ in each quadword (AVX2 has no 64-bit multiply):
// zl·cl + ((zh·cl + zl·ch) << 32), with t0, t1 scratch.
#define MUL64(z, clo, chi, t0, t1) \
	VPSRLQ   $32, z, t0;    \
	VPMULUDQ clo, t0, t0;   \
	VPMULUDQ chi, z, t1;    \
	VPADDQ   t1, t0, t0;    \
	VPSLLQ   $32, t0, t0;   \
	VPMULUDQ clo, z, z;     \
	VPADDQ   t0, z, z

// func dropAVX2(x *float32, n16 int, key, g0 uint64, scale float32, thr uint32)
//
// Per 16 elements: the hashes of 4 groups (one per quadword), whose 16
// 16-bit words are the 16 elements' bits in order; a word ≥ thr keeps its
// element (unsigned: max(w, thr) == w), widened to a 32-bit mask that
// selects scale or +0, multiplied into x.
TEXT ·dropAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), DI
	MOVQ         n16+8(FP), CX
	VPBROADCASTQ key+16(FP), Y15
	VPBROADCASTQ g0+24(FP), Y14
	VPADDQ       dropIota<>(SB), Y14, Y14
	VPBROADCASTQ dropFour<>(SB), Y13
	MOVL         scale+32(FP), AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	MOVL         thr+36(FP), AX
	VMOVD        AX, X11
	VPBROADCASTW X11, Y11
	VPBROADCASTQ dropC0<>(SB), Y10
	VPBROADCASTQ dropC1lo<>(SB), Y9
	VPBROADCASTQ dropC1hi<>(SB), Y8
	VPBROADCASTQ dropC2lo<>(SB), Y7
	VPBROADCASTQ dropC2hi<>(SB), Y6

drop_loop:
	VPXOR  Y14, Y15, Y0 // z = key ^ g
	VPADDQ Y10, Y0, Y0
	VPSRLQ $30, Y0, Y1
	VPXOR  Y1, Y0, Y0
	MUL64(Y0, Y9, Y8, Y1, Y2)
	VPSRLQ $27, Y0, Y1
	VPXOR  Y1, Y0, Y0
	MUL64(Y0, Y7, Y6, Y1, Y2)
	VPSRLQ $31, Y0, Y1
	VPXOR  Y1, Y0, Y0   // the 4 hashes

	VPMAXUW      Y11, Y0, Y1
	VPCMPEQW     Y1, Y0, Y1 // 0xffff where the word ≥ thr
	VPMOVSXWD    X1, Y2     // elements 0..7
	VEXTRACTI128 $1, Y1, X3
	VPMOVSXWD    X3, Y3     // elements 8..15
	VPAND        Y12, Y2, Y2
	VPAND        Y12, Y3, Y3
	VMULPS       (DI), Y2, Y2
	VMULPS       32(DI), Y3, Y3
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)

	VPADDQ Y13, Y14, Y14
	ADDQ   $64, DI
	DECQ   CX
	JNZ    drop_loop
	VZEROUPPER
	RET
