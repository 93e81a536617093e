// Package gemm is aotp's fp32 matrix multiply: Sgemm (BLAS semantics on
// row-major matrices, all four transpose forms) and Linear (nn.Linear with
// bias and activation fused into the epilogue).
//
// # Why our own
//
// aotp is pure Go (no cgo), so OpenBLAS/MKL are out, and gonum's pure-Go
// sgemm reached about 5% of this machine's peak. Every forward and backward
// pass of the encoder is dominated by these multiplies, so the package is a
// GotoBLAS/BLIS-style GEMM with assembly micro-kernels.
//
// # Algorithm
//
// C (m×n) is computed in blocks; with nc, kc, mc the block sizes:
//
//	for jc in n step nc:            B block kc×nc, packed once, shared by all threads (L3)
//	  for pc in k step kc:
//	    pack op(B)[pc:pc+kc, jc:jc+nc]        (threads split the micro-panels)
//	    for ic in m step mc (each thread its own rows, or its own columns):
//	      pack alpha·op(A)[ic:ic+mc, pc:pc+kc] (per-thread buffer, L2)
//	      for jr in nc step nr:        B micro-panel kc×nr stays in L1
//	        for ir in mc step mr:      A micro-panel mr×kc streams from L2
//	          micro-kernel: C[ir:ir+mr, jr:jr+nr] (+)= A·B
//
// Packing copies each panel into the exact order the micro-kernel reads it
// (A: kc groups of mr floats, B: kc rows of nr floats, 64-byte aligned,
// zero-padded to whole tiles), which turns every transpose form into the same
// kernel: NN/NT/TN/TT differ only in the packing routine, and the transposing
// ones (A not transposed, B transposed: the forward NT case) use AVX2 8×8
// transposes. alpha is folded into packed A. The micro-kernel keeps the
// whole mr×nr tile of C in registers for kc steps and touches C once: it
// stores (first k block with beta == 0: C is never read, so NaNs in C do not
// propagate), or adds beta·C (first block) or C (later blocks). Tiles that
// stick out of C are computed into a scratch tile and copied.
//
// Block sizes are chosen per kernel and split evenly (k = 768 is three
// blocks of 256, not 512+256):
//
//	avx2 (Zen 3): mr×nr = 6×16, kc = 256, mc = 144, nc = 3072
//	  12 ymm accumulators + 2 B + 2 A broadcast registers of 16; per k step
//	  2 loads of B, 6 broadcasts, 12 FMAs: the FMA pipes, not the load
//	  ports, are the limit. B micro-panel 256×16×4 = 16 KiB: half of L1d,
//	  the other half for the streamed A micro-panel (6 KiB) and C. A block
//	  144×256×4 = 144 KiB, under a third of the 512 KiB L2, since the B
//	  micro-panels and C tiles also stream through L2 (the values BLIS uses
//	  on Zen; 96–240 rows measured within the noise of the shared test
//	  machine). B block 256×3072×4 = 3 MiB of L3.
//	avx512: mr×nr = 12×32, kc = 192, mc = 240, nc = 3072
//	  24 zmm accumulators; B micro-panel 192×32×4 = 24 KiB (half the 48 KiB
//	  L1d of Zen 4/5 and Sapphire Rapids). Measured on a lent Sapphire Rapids
//	  VM (docs/device-checks): kc ∈ {128…384} × mc ∈ {240…960} all within
//	  the noise, the kernel at 86–97 % of the FMA peak in cache, GEMMs at
//	  73–85 % on 2 cores. The development machine has no AVX-512: here the
//	  kernel is assembled and vetted, and its blocking tested through a Go
//	  kernel of the same geometry (loop12x32, with an 8-row edge kernel).
//	neon (arm64): mr×nr = 8×8, kc = 256, mc = 128, nc = 2048
//	  16 accumulators of 4 floats, B row in 2 registers, A broadcast by
//	  VLD1R, fused multiply-adds (VFMLA). Tested under qemu-aarch64 (its
//	  results, and every gemm/model/peft/train test); no arm64 hardware was
//	  at hand, so neither its speed nor the blocking is measured.
//	generic (pure Go, any GOARCH, or -tags purego): 4×4 scalar tile,
//	  accumulated in float64 (see kernGeneric4x4).
//
// # Threads
//
// Work is spread with kernels/parallel (its persistent pool; no goroutine
// per call). Per (jc, pc) block the threads first pack B together, then
// split C: by rows (each thread packs only its rows of A; the default) or,
// when m has too few row panels to share evenly (m < ~64), by columns.
// Each thread takes several pieces dynamically so that one slowed by other
// work on its core does not hold the call back. Problems of at most 2^20
// multiply-adds (≈ 20 µs of one core, e.g. 128×128×64) run on the caller
// alone. A call made
// from inside a parallel.For (such as attention over heads) finds the pool
// busy and runs inline on its goroutine with no synchronisation beyond two
// uncontended mutexes for the packing buffers.
//
// Packing buffers are recycled through a free list that the GC never
// empties (a fresh buffer costs a page fault per 4 KiB); a call allocates
// nothing in steady state.
//
// # Epilogue
//
// Linear adds bias in the micro-kernel (the accumulators start from the
// bias row) and calls act on blocks of at most mc rows × 64 columns right
// after their last k block, while they are in L1/L2; every element is passed
// to act exactly once.
//
// # Small M (a batch of one, serving)
//
// With few rows (M ≈ 32 tokens) the threads split C by columns and every
// piece reads all of A, so A is packed once per call (apre) rather than by
// each piece for each k block (that repacking was a tenth of a batch-1
// forward). With pre-packed weights this holds whenever all rows fit in one
// mc block (M ≤ 144 on AVX2, 240 on AVX-512; job.grid): at 128 tokens the
// row split made every thread stream every weight, the column split
// streams each once (1×128: 7 % faster on Zen 3, 8–16 % on Sapphire Rapids). Each weight is then used for few rows and streams from memory
// on its first row panel: the AVX2 kernel prefetches B 1 KiB ahead (the
// packed panels are contiguous, so the prefetch runs on into the next). Edge
// tiles of 1–4 rows take a 4×16 kernel (kernAVX2x4) instead of the 6×16 one
// with zero rows, the same sums bit for bit; on AVX-512, tiles of 1–8 rows an
// 8×32 one (kernAVX512x8: M = 32 or 128 leaves 8 rows of a 12-row tile), and
// that kernel prefetches B the same way. roberta-base, batch 1, 32
// tokens: 67.4 → 60.7 ms (median of 8 alternating runs), on par with
// PyTorch + oneDNN (53–64 ms in the same session).
//
// # Pre-packed weights
//
// A Linear weight is frozen at inference (and in the frozen backbone of
// adapter training), so PackB packs it once, for the selected kernel, into
// exactly the panels the per-call path would build: every k block of the
// same balanced kc split, each holding all ceil(N/nr) micro-panels (no nc
// split: the jc blocks are just offsets into it). LinearPacked then packs
// only A. It runs the same kernel on the same tiles with the same k blocks
// in the same order, so its result is Linear's bit for bit (tested for
// every implementation, odd sizes, 1–3 threads, bias/act).
//
// Without B to pack there is no barrier per (jc, pc) block either: each
// thread takes pieces of C (row panels, or column panels when m is small:
// job.grid) and runs every (jc, pc) block over them itself, in order. The packed data
// (one copy of the weight, N rounded up to nr) lives in an anonymous
// mapping outside the Go heap, so that it does not double the GC's heap
// target; it is unmapped when the PackedB becomes unreachable.
//
// A PackedB records its implementation; LinearPacked panics if another is
// selected (SetImpl after packing) rather than repack silently on every
// call. model.Linear.Forward checks and falls back to Linear instead.
//
// Measured (roberta-base b8 s128 forward, 2 threads, Zen 3, median of
// side-by-side runs): see tools/bench/RESULTS.md, section "pre-packed
// weights". The micro-kernel itself reaches 175–181 GFLOP/s on the large
// shapes on a quiet moment (≈ 88 % of the 206 GFLOP/s nominal peak, and the
// FMA-only loop of BenchmarkPeakFMA measures 177 here), so what is left is
// mostly outside it. kc ∈ {192, 256, 384} × mc ∈ {96, 144, 192} measured
// within the noise of this shared machine on every forward shape
// (TestABTune); the blocking below is unchanged.
//
// # F16 weights (PackBHalf)
//
// A batch of one (serving) reads every weight once per forward pass for a
// few rows of work: roberta-base streams 340 MB of float32 weights per
// call, ≈ 18 ms at the 19 GB/s this machine reads, and a 1×8 forward takes
// 22–27 ms. PackBHalf stores the packed panels as IEEE binary16 (round to
// nearest even) instead: half the bytes to stream and to keep resident.
// On AVX2 CPUs with F16C, kernAVX2H/kernAVX2x4H widen each B row as they
// load it (VCVTPH2PS) and run the float32 kernels' FMAs in the same order;
// elsewhere (AVX-512, NEON, generic) each B micro-panel is widened into a
// kc×nr scratch panel in L1 first (F16C, NEON FCVTL — tested under
// qemu-aarch64 — or Go) and the float32 kernels run on it. Either
// way a result is bit for bit the float32 path's on the weight rounded to
// F16 (tested). F16 keeps 11 significant bits (relative error ≤ 2⁻¹¹ per
// weight); encoder weights fit its range, and values under 2⁻¹⁴ keep their
// absolute, not relative, precision. An opt-in for inference only: results
// are no longer PyTorch's float32 ones to the last digit.
//
// # W8A8 (PackBA8)
//
// Both operands in 8 bits, for inference: the weight on PackBInt8's grid
// (a scale per output channel), each activation row quantized when the
// call runs to 128 levels between its min and max (a8.go has the scheme,
// the packed layout and why 7 bits: VPMADDUBSW never saturates). AVX2 has
// no 8-bit FMA, but VPMADDUBSW + VPMADDWD run 32 byte products a cycle
// where VFMADD231PS runs 16 float ones (97 vs 49 GMAC/s on one core here,
// register-only loops), and the sums are exact int32s: every kernel (6-,
// 4- and 2-row AVX2, arm64's SDOT one, and the Go one other CPUs run)
// gives the same bits, whatever the threads. Measured 1.7–1.9× the float32
// GEMM on the roberta shapes (BenchmarkLinearPacked/w8a8), 1.5–2× at 8–32
// rows (BenchmarkWeightStream). Numerics: tools/bench/RESULTS.md and
// model.Encoder.PackWeightsW8A8.
//
// On arm64 CPUs with the dot-product instructions (FEAT_DotProd: Neoverse
// N1 and later, Apple M1 and later) a 6×16 kernel of SDOTs (a8_arm64.s:
// 16 byte products an instruction where VFMLA runs 4 float ones) and NEON
// row quantizers run; tested bit for bit against the Go kernel under
// qemu-aarch64, not timed on hardware (none at hand). Elsewhere the Go
// kernel runs, slower than float32 weights: A8Kernel says which, and the
// CLI warns.
//
// # Selecting the kernel
//
// The fastest kernel the CPU supports (golang.org/x/sys/cpu: AVX512F, else
// AVX2+FMA, else generic; NEON on every arm64) is chosen at start-up.
// SetImpl("avx512" | "avx2" | "neon" | "generic") or the environment
// variable AOTP_GEMM forces another.
package gemm
