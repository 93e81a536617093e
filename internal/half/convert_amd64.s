//go:build amd64 && !purego

#include "textflag.h"

// func toFloat32sF16C(dst *float32, src *uint16, n int)
//
// Widens n F16 values (n a multiple of 8) at src to float32 at dst
// (VCVTPH2PS, exact), 32 a step while at least 32 remain.
TEXT ·toFloat32sF16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	CMPQ CX, $32
	JB   h2f_tail

h2f_loop32:
	PREFETCHT0 8192(SI)
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	CMPQ      CX, $32
	JAE       h2f_loop32

h2f_tail:
	TESTQ CX, CX
	JZ    h2f_done

h2f_loop8:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       h2f_loop8

h2f_done:
	VZEROUPPER
	RET

// func fromFloat32sF16C(dst *uint16, src *float32, n int)
//
// Rounds n float32 values (n a multiple of 8) at src to F16 at dst
// (VCVTPS2PH, immediate 0: round to nearest even whatever MXCSR says).
TEXT ·fromFloat32sF16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   f2h_done

f2h_loop8:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VMOVDQU   X1, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	SUBQ      $8, CX
	JNZ       f2h_loop8

f2h_done:
	VZEROUPPER
	RET
