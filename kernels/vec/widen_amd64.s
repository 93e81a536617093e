//go:build amd64 && !purego

#include "textflag.h"

// func addF16AVX2(dst *float32, src *uint16, n int)
// dst[i] += half(src[i]), n a multiple of 8 (F16C).
TEXT ·addF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   f16Done

f16Loop:
	VCVTPH2PS (SI), Y0
	VADDPS    (DI), Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       f16Loop

f16Done:
	VZEROUPPER
	RET

// func addBF16AVX2(dst *float32, src *uint16, n int)
// dst[i] += bf16(src[i]): zero-extend to 32 bits and shift into the high half.
TEXT ·addBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   bf16Done

bf16Loop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VADDPS    (DI), Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bf16Loop

bf16Done:
	VZEROUPPER
	RET

// func addI8AVX2(dst *float32, src *int8, n int, scale float32)
// dst[i] += float32(src[i])·scale (sign-extend, convert, multiply, add:
// two roundings, exactly as the generic code, so every path agrees).
TEXT ·addI8AVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y2
	SHRQ         $3, CX
	JZ           i8Done

i8Loop:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    Y2, Y0, Y0
	VADDPS    (DI), Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ        $8, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         i8Loop

i8Done:
	VZEROUPPER
	RET
