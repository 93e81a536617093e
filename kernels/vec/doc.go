// Package vec holds aotp's vectorised element-wise and row kernels, forward
// and backward: activations (GELU, GELUTanh, SiLU, Tanh, ReLU), Exp, softmax,
// LayerNorm and BLAS-1 helpers (Add, AddInPlace, AddBias, BiasBackward,
// Scale, Axpy, Dot, Sum, Max), the widening adds of fused tables (AddF16,
// AddBF16, AddI8Scaled) and counter-based dropout (DropoutAt: splitmix64 of
// the element index, hashed 16 elements a step in AVX2 with 32-bit
// multiplies, bit for bit the generic loop).
//
// # Design
//
// Each implementation ("avx512", "avx2", "neon", "generic") supplies a small set of
// primitives (the kernels struct in vec.go); the exported functions check
// shapes and build rows out of them, so row logic (max subtraction, the
// LayerNorm statistics, the all -Inf softmax row) is written once. The
// implementation is picked at init from golang.org/x/sys/cpu: avx512 needs
// AVX512F plus AVX2+FMA, avx2 needs AVX2+FMA, generic is pure Go and always
// there. AOTP_VEC=avx512|avx2|neon|generic overrides the choice at init, SetImpl at
// run time (an atomic pointer swap; calls in flight finish on the old one).
// On arm64 the default is "neon": generic with GELU, its gradient and
// softmax's exp in NEON (neon_arm64.s: the AVX2 kernels' operations on 4
// lanes, bit for bit AVX2's; tested under qemu-aarch64, speed unmeasured;
// AOTP_VEC=generic for the float64 Go kernels). On other targets and with
// -tags purego only generic is built.
//
// The assembly kernels (avx2_amd64.s, avx512_amd64.s) process whole vectors
// only; the Go wrappers in impl_amd64.go pass the last <8 elements through an
// 8-float stack buffer padded with a neutral value (-Inf for max and
// softmax, 0 for sums, the row mean for LayerNorm sums), so a tail element is
// computed by exactly the same instructions as any other and nothing is
// allocated. Constants live in one Go array (consts_amd64.go), one 64-byte row
// per constant, read as full-width memory operands.
//
// AVX-512 is used only where it pays: the transcendental kernels (exp, GELU
// and its backward, tanh, the x·σ(z) family behind SiLU and gelu_new, and
// softmax's exp-and-sum). LayerNorm, the BLAS-1 helpers and the cheap
// backward kernels are load/store bound and use the AVX2 code on AVX-512
// machines too. The AVX-512 file is a mechanical translation of the AVX2 one
// (Y→Z registers, VANDPS/VXORPS/VORPS→VPANDD/VPXORD/VPORD so that only
// AVX512F is needed, VROUNDPS→VRNDSCALEPS, doubled strides), so both give
// bit-identical results. The development machine has no AVX-512: the
// translation was checked by disassembling both with GNU objdump and diffing
// after that renaming (only the strides differ), and the avx512 subtests
// pass on a lent Sapphire Rapids machine (docs/device-checks).
//
// # Why hand-written assembly
//
// Go does not auto-vectorise and has no SIMD intrinsics in the stable
// toolchain, and the scalar code pays for math.Erf/math.Exp in float64: in
// roberta-base an exact-erf GELU over 3072 values per token per layer done
// with math.Erf costs about as much as the GEMMs. The kernels here are
// straight-line FMA pipelines with no branches and no table lookups, so the
// AVX2 GELU runs at about 1.5 ns per element on one Zen 3 core (≈30× the
// scalar code) and exp at ≈0.5 ns.
//
// # Approximations (coefficients fitted for this package, see coeffs.go)
//
// exp: x = n·ln2 + r with a two-constant Cody–Waite reduction done with FMA,
// e^r by a degree-6 polynomial (fit error 3e-9), 2^n applied as two
// exponent-field multiplies so the denormal range is rounded once. Inputs are
// clamped to [-104, 88.8] in a NaN-propagating order.
//
// GELU: x·Φ(x) = max(x,0) − |x|·Φ(−|x|), one fused multiply-add with no
// select, and Φ(−a) = ½erfc(a/√2) ≈ t·P(s)·e^{−a²/2} with t = 1/(1+q·a),
// s = q·a·t (= 1−t without cancellation), q = 0.35 and P of degree 8 (fit error
// 3.6e-8). −a²/2 is split exactly into hi+lo with an FMA so the tail keeps
// full relative accuracy. The backward pass reuses t, P and e^{−a²/2}:
// GELU'(x) = Φ(x) + x·e^{−x²/2}/√(2π), with Φ(x) = [x ≥ 0] − sign(x)·Φ(−|x|)
// built from sign-bit logic (again no select). |x| is clamped at 20 where
// Φ(−|x|) underflows anyway, so ±Inf give the limits.
//
// tanh: tanh|x| = −m/(2+m) with m = expm1(−2|x|) evaluated as
// 2^n·expm1(r) + (2^n − 1) (degree-7 polynomial for expm1(r), fit error
// 4.4e-10), exact in relative terms near 0, so no small-|x| branch is needed.
//
// SiLU and gelu_new share one kernel: x·σ(z) = x/(1+e^{−z}) with
// z = x·(b + a·x²), (b,a) = (1,0) for SiLU and (2√(2/π), 2√(2/π)·0.044715) for
// gelu_new (0.5x(1+tanh(u)) = x·σ(2u)).
//
// LayerNorm: corrected two-pass statistics. m = Σx/C in float32, then
// s1 = Σ(x−m), s2 = Σ(x−m)²; mean = m + s1/C, var = s2/C − (s1/C)² (finished in
// float64), and out = ((x−m) − s1/C)·rstd·w + b, so neither the rounding of
// the mean nor a large |mean|/std ratio costs accuracy. The backward pass
// does the same refinement with Σ(x − mean) from its reduction pass.
//
// # Accuracy (measured by the tests over dense sweeps, AVX2 and generic)
//
//   - GELU: |err| ≤ 1e-6·max(1,|x|) against 0.5x(1+erf(x/√2)) in float64 over
//     the whole float32 range (tested: 2M points on [−10,10], [−100,100],
//     random bit patterns, ±0, denormals, ±Inf, NaN). Measured: max absolute
//     error 2.4e-7 (half an ulp at x≈4), ≤ 1.1 ulp (generic) / 5.5 ulp (AVX2)
//     everywhere the result is a normal float, including the negative tail
//     (relative ≤ 4.5e-7 down to x ≈ −12.9, where Φ(x) becomes denormal).
//     GELU(+Inf) = +Inf, GELU(−Inf) = 0 (the limit; the float64 formula gives
//     NaN), NaN → NaN.
//   - GELU': |err| ≤ 3e-7 absolute (measured 1.4e-7); GELU'(±Inf) = 1, 0.
//   - Exp: ≤ 1 ulp measured (tested ≤ 2.5e-7 relative), denormal results
//     within one denormal step; e^x = 0 for x < −104, +Inf above ≈88.72.
//   - Tanh: ≤ 2.5 ulp (tested 2.5e-7 relative). SiLU, gelu_new: tested
//     2e-7·|y| + 1e-7·min(1,|x|); results below ~1e-37 may flush to ±0, and
//     in the far negative tail of gelu_new (|y| < 1e-20) the relative error
//     grows with |z| (rounding of z and of the float32 constants).
//   - Softmax: |p̂ − p| ≤ (5e-7 + 2^-24·|x − max x|)·p + 1e-12 per entry, the
//     second term being the float32 rounding of x − max (as in PyTorch).
//     −Inf entries give exactly 0; an all −Inf row gives all zeros.
//   - LayerNorm: |err| ≤ 2e-6·(1+|ref|) including rows with mean 1e4 and
//     std 1e-2 (measured 2.4e-7); mean and rstd relative 1e-6.
//   - Dot, Sum: float32 accumulation in 32 lanes (AVX2) then a fixed-order
//     horizontal sum; error ≤ (n/32 + 8)·2^-24·Σ|aᵢbᵢ|. Generic accumulates in
//     float64.
//
// Every backward kernel is checked against float64 central differences of a
// float64 re-implementation of its forward pass (see the test comments for
// the step and tolerance arguments).
//
// # Conventions
//
// Element-wise backward kernels SET dinp = dout ⊙ f'(·) and allow dinp to
// alias dout. GELU, GELUTanh and SiLU backward take the forward input; Tanh
// and ReLU backward take the forward output (so they work after the in-place
// forward). SoftmaxBackwardRow sets dinp. LayerNormBackward ACCUMULATES into
// dinp, and into dweight/dbias when they are non-nil (nil: frozen backbone,
// activation gradients only), like llm.c. Mismatched lengths panic.
package vec
