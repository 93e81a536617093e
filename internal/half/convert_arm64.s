//go:build arm64 && !purego

#include "textflag.h"

// func toFloat32sNEON(dst *float32, src *uint16, n int)
//
// Widens n F16 values (n a multiple of 8) at src to float32 at dst: FCVTL
// and FCVTL2 (not in Go's assembler: encoded as WORDs) on 8 values a step.
TEXT ·toFloat32sNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	CBZ  R2, h2f_done

h2f_loop:
	VLD1.P 16(R1), [V0.H8]
	WORD   $0x0E217801             // FCVTL  V1.4S, V0.4H
	WORD   $0x4E217802             // FCVTL2 V2.4S, V0.8H
	VST1.P [V1.S4, V2.S4], 32(R0)
	SUB    $8, R2, R2
	CBNZ   R2, h2f_loop

h2f_done:
	RET
