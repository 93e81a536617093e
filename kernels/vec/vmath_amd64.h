// Vector math shared by avx2_amd64.s and avx512_amd64.s: the same
// instructions on Y or Z registers. Each file defines, before including it,
// ROUND_NEAREST(R) (R = round-to-nearest-even(R)) and AND_ABS(X, AC)
// (AC = |X|), the two operations whose AVX2 and AVX-512F forms differ
// (VROUNDPS/VRNDSCALEPS; VANDPS needs AVX512DQ on Z registers, VPANDD does
// not). Needs consts_amd64.h.

// EXP: V = e^V, every lane. NaN propagates (the clamps return V when it is NaN);
// V < -104 gives 0, V > 88.72 gives +Inf. n = round(V/ln2) lies in [-150,128]
// and 2^n is applied as 2^(n>>1)·2^(n-(n>>1)), both factors normal, so that
// results in the denormal range are rounded once. Clobbers T0, T1, T2.
#define EXP(V, T0, T1, T2) \
	VMOVUPS     C_EXPHI, T0;     \
	VMINPS      V, T0, V;        \
	VMOVUPS     C_EXPLO, T0;     \
	VMAXPS      V, T0, V;        \
	VMULPS      C_LOG2E, V, T0;  \
	ROUND_NEAREST(T0);           \
	VFMADD231PS C_NLN2HI, T0, V; \
	VFMADD231PS C_NLN2LO, T0, V; \
	VCVTTPS2DQ  T0, T0;          \
	VMOVUPS     C_E6, T1;        \
	VFMADD213PS C_E5, V, T1;     \
	VFMADD213PS C_E4, V, T1;     \
	VFMADD213PS C_E3, V, T1;     \
	VFMADD213PS C_E2, V, T1;     \
	VFMADD213PS C_ONE, V, T1;    \
	VFMADD213PS C_ONE, V, T1;    \
	VPSRAD      $1, T0, T2;      \
	VPSUBD      T2, T0, T0;      \
	VPADDD      C_I127, T2, T2;  \
	VPADDD      C_I127, T0, T0;  \
	VPSLLD      $23, T2, T2;     \
	VPSLLD      $23, T0, T0;     \
	VMULPS      T2, T1, T1;      \
	VMULPS      T0, T1, V

// GAUSS: from X = x computes AC = min(|x|,20), E = e^{-AC²/2} and
// H = Φ(-|x|) = ½erfc(|x|/√2) ≈ t·P(s)·E with t = 1/(1+q·AC), s = q·AC·t.
// For |x| ≥ 20 the true E and H are 0 and so are the computed ones (e^{-200}
// underflows), so the clamp changes nothing there but keeps ±Inf and huge x
// from producing Inf·0; the clamp returns AC when it is NaN, so NaN
// propagates to E and H. -AC²/2 is
// split exactly as hi+lo (lo by a fused multiply-subtract) and
// E = e^hi·(1+lo), so the rounding of x²/2 costs no relative accuracy in the
// tail. Clobbers T0-T3.
#define GAUSS(X, AC, E, H, T0, T1, T2, T3) \
	AND_ABS(X, AC);               \
	VMOVUPS     C_TWENTY, T0;     \
	VMINPS      AC, T0, AC;       \
	VMULPS      C_GQ, AC, T0;     \
	VADDPS      C_ONE, T0, T1;    \
	VMOVUPS     C_ONE, H;         \
	VDIVPS      T1, H, H;         \
	VMULPS      H, T0, T0;        \
	VMOVUPS     C_P8, T1;         \
	VFMADD213PS C_P7, T0, T1;     \
	VFMADD213PS C_P6, T0, T1;     \
	VFMADD213PS C_P5, T0, T1;     \
	VFMADD213PS C_P4, T0, T1;     \
	VFMADD213PS C_P3, T0, T1;     \
	VFMADD213PS C_P2, T0, T1;     \
	VFMADD213PS C_P1, T0, T1;     \
	VFMADD213PS C_P0, T0, T1;     \
	VMULPS      T1, H, H;         \
	VMULPS      C_NHALF, AC, T3;  \
	VMULPS      AC, T3, E;        \
	VFMSUB213PS E, AC, T3;        \
	EXP(E, T0, T1, T2);           \
	VFMADD231PS T3, E, E;         \
	VMULPS      E, H, H
