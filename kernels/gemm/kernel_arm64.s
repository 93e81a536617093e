//go:build arm64 && !purego

#include "textflag.h"

// NEON micro-kernel: C[8×8] = A·B + bias + beta·C, A a packed 8×kc panel
// (kc groups of 8 floats), B a packed kc×8 panel (kc rows of 8 floats).
// Row r of C accumulates in V(16+2r) (columns 0–3) and V(17+2r) (4–7) for
// the whole kc loop; each k step loads the B row into V0:V1 and broadcasts
// the 8 A elements (VLD1R) into V2..V9, 16 fused multiply-adds.

// One row of a k step: broadcast the next A element into va, then
// acc0 += va·V0, acc1 += va·V1.
#define NEON_ROW(va, acc0, acc1) \
	VLD1R.P 4(R0), [va.S4];  \
	VFMLA   va.S4, V0.S4, acc0.S4; \
	VFMLA   va.S4, V1.S4, acc1.S4

// Row accumulators start as copies of V16:V17 (the bias row, or zero).
#define NEON_INIT(acc0, acc1) \
	VORR V16.B16, V16.B16, acc0.B16; \
	VORR V17.B16, V17.B16, acc1.B16

// Store a row at R2 and step R2 to the next row (R4: ldc in bytes).
#define NEON_STORE(acc0, acc1) \
	VST1 [acc0.S4, acc1.S4], (R2); \
	ADD  R4, R2, R2

// The same after acc += beta·C (V11: beta broadcast).
#define NEON_BETA(acc0, acc1) \
	VLD1  (R2), [V12.S4, V13.S4];  \
	VFMLA V11.S4, V12.S4, acc0.S4; \
	VFMLA V11.S4, V13.S4, acc1.S4; \
	NEON_STORE(acc0, acc1)

// func kernNEON(kc int, a, b, c *float32, ldc int, beta float32, bias *float32)
TEXT ·kernNEON(SB), NOSPLIT, $0-56
	MOVD kc+0(FP), R3
	MOVD a+8(FP), R0
	MOVD b+16(FP), R1
	MOVD c+24(FP), R2
	MOVD ldc+32(FP), R4
	LSL  $2, R4, R4
	MOVD bias+48(FP), R5

	// accumulators start at the bias row, or zero
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	CBZ  R5, neon_init
	VLD1 (R5), [V16.S4, V17.S4]

neon_init:
	NEON_INIT(V18, V19)
	NEON_INIT(V20, V21)
	NEON_INIT(V22, V23)
	NEON_INIT(V24, V25)
	NEON_INIT(V26, V27)
	NEON_INIT(V28, V29)
	NEON_INIT(V30, V31)
	CBZ R3, neon_store

neon_loop:
	VLD1.P 32(R1), [V0.S4, V1.S4]
	NEON_ROW(V2, V16, V17)
	NEON_ROW(V3, V18, V19)
	NEON_ROW(V4, V20, V21)
	NEON_ROW(V5, V22, V23)
	NEON_ROW(V6, V24, V25)
	NEON_ROW(V7, V26, V27)
	NEON_ROW(V8, V28, V29)
	NEON_ROW(V9, V30, V31)
	SUBS $1, R3, R3
	BNE  neon_loop

neon_store:
	FMOVS beta+40(FP), F10
	FCMPS $(0.0), F10
	BNE   neon_beta // beta == ±0: do not read C
	NEON_STORE(V16, V17)
	NEON_STORE(V18, V19)
	NEON_STORE(V20, V21)
	NEON_STORE(V22, V23)
	NEON_STORE(V24, V25)
	NEON_STORE(V26, V27)
	NEON_STORE(V28, V29)
	NEON_STORE(V30, V31)
	RET

neon_beta:
	VDUP V10.S[0], V11.S4
	NEON_BETA(V16, V17)
	NEON_BETA(V18, V19)
	NEON_BETA(V20, V21)
	NEON_BETA(V22, V23)
	NEON_BETA(V24, V25)
	NEON_BETA(V26, V27)
	NEON_BETA(V28, V29)
	NEON_BETA(V30, V31)
	RET

// func fmaLoopNEON(n int): 12 independent FMA chains (more than latency ×
// pipes on current cores: 4 × 4 on Apple's, 4 × 2 on Neoverse N1/V1).
TEXT ·fmaLoopNEON(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R3
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	CBZ  R3, fma_done

fma_loop:
	VFMLA V0.S4, V1.S4, V16.S4
	VFMLA V0.S4, V1.S4, V17.S4
	VFMLA V0.S4, V1.S4, V18.S4
	VFMLA V0.S4, V1.S4, V19.S4
	VFMLA V0.S4, V1.S4, V20.S4
	VFMLA V0.S4, V1.S4, V21.S4
	VFMLA V0.S4, V1.S4, V22.S4
	VFMLA V0.S4, V1.S4, V23.S4
	VFMLA V0.S4, V1.S4, V24.S4
	VFMLA V0.S4, V1.S4, V25.S4
	VFMLA V0.S4, V1.S4, V26.S4
	VFMLA V0.S4, V1.S4, V27.S4
	SUBS $1, R3, R3
	BNE  fma_loop

fma_done:
	RET
