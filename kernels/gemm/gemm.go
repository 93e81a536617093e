package gemm

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/aotp/aotp/kernels/parallel"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices.
// op(A) is m×k (A is k×m when transA), op(B) is k×n (B is n×k when transB),
// C is m×n; lda, ldb, ldc are the row strides. beta == 0 ignores C's contents
// (NaNs included), as BLAS does.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("C", c, m, n, ldc)
	if k == 0 || alpha == 0 {
		scaleC(c, m, n, ldc, beta, nil, nil)
		return
	}
	if transA {
		checkMat("A", a, k, m, lda)
	} else {
		checkMat("A", a, m, k, lda)
	}
	if transB {
		checkMat("B", b, n, k, ldb)
	} else {
		checkMat("B", b, k, n, ldb)
	}
	j := getJob()
	j.transA, j.transB = transA, transB
	j.m, j.n, j.k = m, n, k
	j.alpha, j.beta = alpha, beta
	j.a, j.lda, j.b, j.ldb, j.c, j.ldc = a, lda, b, ldb, c, ldc
	j.run()
	putJob(j)
}

// Linear is a PyTorch nn.Linear over M rows, with the bias and an optional
// activation fused into the epilogue:
//
//	out[M,N] = act(inp[M,K] · weight[N,K]ᵀ + bias[N])
//
// bias may be nil. act, when not nil, is called in place on finished blocks of
// out (whole rows or parts of rows, each element exactly once) while they are
// still in cache; it must be safe to call concurrently on disjoint slices.
func Linear(out, inp, weight, bias []float32, M, K, N int, act func(x []float32)) {
	if M < 0 || K < 0 || N < 0 {
		panic(fmt.Sprintf("gemm: Linear: negative size M=%d K=%d N=%d", M, K, N))
	}
	if M == 0 || N == 0 {
		return
	}
	checkMat("out", out, M, N, N)
	if bias != nil && len(bias) < N {
		panic(fmt.Sprintf("gemm: Linear: len(bias)=%d < N=%d", len(bias), N))
	}
	if K == 0 {
		scaleC(out, M, N, N, 0, bias, act)
		return
	}
	checkMat("inp", inp, M, K, K)
	checkMat("weight", weight, N, K, K)
	j := getJob()
	j.transA, j.transB = false, true
	j.m, j.n, j.k = M, N, K
	j.alpha, j.beta = 1, 0
	j.a, j.lda, j.b, j.ldb, j.c, j.ldc = inp, K, weight, K, out, N
	j.bias, j.act = bias, act
	j.run()
	putJob(j)
}

// checkMat panics unless s holds a rows×cols matrix with row stride ld; the
// assembly kernels rely on it.
func checkMat(name string, s []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols && rows > 1 {
		panic(fmt.Sprintf("gemm: %s: row stride %d < row length %d", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: %s: len %d < %d needed for %d×%d with stride %d", name, len(s), need, rows, cols, ld))
	}
}

// scaleC handles k == 0 or alpha == 0: C = beta·C (+ bias, then act).
func scaleC(c []float32, m, n, ldc int, beta float32, bias []float32, act func([]float32)) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
		if bias != nil {
			for j := range row {
				row[j] += bias[j]
			}
		}
		if act != nil {
			act(row)
		}
	}
}

// parallelMaxSerialMACs: problems with at most this many multiply-adds
// (m·n·k; 2^20 ≈ 20 µs of one core, an attention head's 128×128×64) run on
// the calling goroutine only: waking a worker and joining costs several µs
// and measured slower here.
const parallelMaxSerialMACs = 1 << 20

// chunksPerThread: pieces of C per thread and (jc, pc) block.
const chunksPerThread = 4

// job is one Sgemm/Linear call. Jobs are recycled so that a call allocates
// nothing: the method values handed to parallel.For are bound once.
type job struct {
	im             *impl
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	bias           []float32
	act            func([]float32)
	splitM         bool     // threads split rows (else columns) of C
	pm, pn         int      // pre-packed B: C's tiles, row parts × column parts (grid)
	mPanels        int      // micro-panels in M
	ncStep, kcStep int      // block sizes of B
	pb             *PackedB // pre-packed B (LinearPacked), or nil
	// op(A) packed once for the whole call when the threads split columns
	// (small M): depth block pc at apre[pc·mPanels·mr:]; nil otherwise,
	// each piece then packs its rows of A itself
	apre              []float32
	blk               block // current block of B (packing per call)
	packFn, computeFn func(lo, hi int)
	packedFn          func(lo, hi int)
	prepackFn         func(lo, hi int)
}

// block is one kc×nc block of packed B: columns [jc,jc+nc), depth
// [pc,pc+kc), its micro-panels at bp.
type block struct {
	jc, nc, pc, kc int
	nPanels        int  // micro-panels in the block
	first, last    bool // pc is the first / last depth block
	bp             []float32
	bph            []uint16  // instead of bp: F16 micro-panels (PackBHalf)
	bpq            []int8    // instead of bp: int8 micro-panels (PackBInt8, PackBNInt8)
	scale          []float32 // PackBInt8: per column of the whole B
	rowScale       []float32 // PackBNInt8: per row of the block
	colScale       []float32 // PackBNInt8Smooth: per column of the whole B
}

var jobPool = sync.Pool{New: func() any {
	j := new(job)
	j.packFn = j.packRange
	j.computeFn = j.computeRange
	j.packedFn = j.computePacked
	j.prepackFn = j.prepackRange
	return j
}}

func getJob() *job {
	j := jobPool.Get().(*job)
	j.im = cur.Load()
	return j
}

func putJob(j *job) {
	j.a, j.b, j.c, j.bias, j.act, j.pb, j.blk.bp = nil, nil, nil, nil, nil, nil, nil
	jobPool.Put(j)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (j *job) run() {
	im := j.im
	mr, nr := im.mr, im.nr
	// Balanced blocks: split n and k into as few blocks as the limits allow,
	// of equal size (k = 768 → 3×256 rather than 2×384 or 256+256+256).
	j.ncStep = ceilDiv(ceilDiv(j.n, ceilDiv(j.n, im.nc)), nr) * nr
	j.kcStep = kcStepFor(j.k, im.kc)
	j.mPanels = ceilDiv(j.m, mr)

	nt := parallel.Threads()
	if int64(j.m)*int64(j.n)*int64(j.k) <= parallelMaxSerialMACs {
		nt = 1
	}
	if nt > 1 {
		// Split the dimension whose micro-panels divide more evenly among
		// the threads; prefer rows (each thread packs only its own A).
		j.splitM = imbalance(j.m, mr, nt) <= imbalance(min(j.ncStep, j.n), nr, nt)+0.1
	}
	if nt > 1 && j.pb == nil && !j.splitM && j.mPanels*mr*j.k <= maxPrepackA {
		// Every column piece reads all of A: pack it once here, not once
		// per piece and block (for M = 32 that repacking took a tenth of
		// a forward pass)
		buf := aPrePool.get(j.mPanels * mr * j.k)
		for pc := 0; pc < j.k; pc += j.kcStep {
			packA(buf[pc*j.mPanels*mr:], j.a, j.lda, j.transA, 0, j.m, pc, min(j.kcStep, j.k-pc), mr, j.alpha, im.asmPack)
		}
		j.apre = buf
		defer func() {
			aPrePool.put(buf)
			j.apre = nil
		}()
	}

	if j.pb != nil {
		// B is packed already: no barrier per block. Each thread takes
		// tiles of C (a grid of row parts × column parts of every jc
		// block) and runs all (jc, pc) blocks over them itself, in the
		// same order as below, so every element is summed exactly as
		// Linear sums it.
		j.pm, j.pn = j.grid(nt)
		if nt == 1 {
			j.computePacked(0, 1)
			return
		}
		parallel.ForChunks(j.pm*j.pn, j.pm*j.pn, j.packedFn)
		j.releaseGrid()
		return
	}

	bbuf := bPool.get(im.kc * im.nc)
	bl := &j.blk
	bl.bp = bbuf[:j.kcStep*j.ncStep]
	for jc := 0; jc < j.n; jc += j.ncStep {
		bl.jc, bl.nc = jc, min(j.ncStep, j.n-jc)
		bl.nPanels = ceilDiv(bl.nc, nr)
		for pc := 0; pc < j.k; pc += j.kcStep {
			bl.pc, bl.kc = pc, min(j.kcStep, j.k-pc)
			bl.first, bl.last = pc == 0, pc+bl.kc == j.k
			if nt == 1 {
				j.packRange(0, bl.nPanels)
				j.compute(bl, 0, j.mPanels, 0, bl.nPanels)
				continue
			}
			parallel.For(bl.nPanels, 2, j.packFn)
			// A few pieces per thread, handed out dynamically: a thread
			// slowed by other work on its core hands pieces to the others.
			units := bl.nPanels
			if j.splitM {
				units = j.mPanels
			}
			parallel.ForChunks(units, min(units, chunksPerThread*nt), j.computeFn)
		}
	}
	bPool.put(bbuf)
	bl.bp = nil
}

// kcStepFor is the depth of the k blocks: as few as kc allows, of equal size.
func kcStepFor(k, kc int) int { return ceilDiv(k, ceilDiv(k, kc)) }

// grid splits C for the pre-packed path into pm row parts × pn column parts
// (of each jc block), about chunksPerThread·nt tiles. Row parts by default:
// each packs its own rows of A and sweeps every B micro-panel over them.
// When all rows fit in one mc block and row pieces would be thinner than
// half of one (a batch of one: 32 or 128 tokens), the columns are split
// instead and A is packed once for the call (apre), which every tile reads:
// each weight then streams through one thread only, not through every row
// piece. roberta-base 1×128 on 2 threads: 184–187 → 170–174 ms (Zen 3),
// 120–126 → 106–111 ms (Sapphire Rapids). Tiles of both kinds (row parts of
// an mc block × column parts) measured 10–12 % slower than rows alone on
// Sapphire Rapids at 8 and 16 threads (1024 rows), so larger M keeps rows.
func (j *job) grid(nt int) (pm, pn int) {
	im := j.im
	if nt == 1 {
		return 1, 1
	}
	pm, pn = gridShape(j.mPanels, max(1, im.mc/im.mr), ceilDiv(j.ncStep, im.nr), chunksPerThread*nt, j.mPanels*im.mr*j.k, j.splitM)
	if pn > 1 {
		j.apre = aPrePool.get(j.mPanels * im.mr * j.k)
		if j.mPanels*im.mr*j.k <= maxPrepackA {
			j.prepackRange(0, j.mPanels) // a few rows: cheaper than waking the workers
		} else {
			parallel.ForChunks(j.mPanels, min(j.mPanels, chunksPerThread*nt), j.prepackFn)
		}
	}
	return pm, pn
}

// gridShape is grid's choice for mPanels row micro-panels, mc blocks of
// mcPanels, colPanels column micro-panels in a jc block, want tiles and an
// A of aFloats; splitM is run's row/column choice, which gridMode "rows"
// follows as the former split did.
func gridShape(mPanels, mcPanels, colPanels, want, aFloats int, splitM bool) (pm, pn int) {
	rows := min(mPanels, want)
	if gridMode == "rows" {
		if splitM {
			return rows, 1
		}
		return 1, min(want, colPanels)
	}
	if 2*mPanels >= want*mcPanels || colPanels < 2 || aFloats > maxGridA {
		return rows, 1
	}
	if mPanels < mcPanels {
		return 1, min(want, colPanels)
	}
	if gridMode != "tiles" {
		return rows, 1
	}
	pm = max(1, mPanels/mcPanels)
	return pm, max(1, min(ceilDiv(want, pm), colPanels))
}

// releaseGrid returns grid's packed A to its pool.
func (j *job) releaseGrid() {
	if j.apre != nil {
		aPrePool.put(j.apre)
		j.apre = nil
	}
}

// prepackRange packs micro-panel rows [lo, hi) of op(A), every depth block,
// into apre (depth block pc at apre[pc·mPanels·mr:]).
func (j *job) prepackRange(lo, hi int) {
	mr := j.im.mr
	r0, r1 := lo*mr, min(hi*mr, j.m)
	for pc := 0; pc < j.k; pc += j.kcStep {
		kb := min(j.kcStep, j.k-pc)
		packA(j.apre[pc*j.mPanels*mr+lo*mr*kb:], j.a, j.lda, j.transA, r0, r1-r0, pc, kb, mr, j.alpha, j.im.asmPack)
	}
}

// gridMode selects grid's rule, for A/B measurements (AOTP_GEMM_GRID):
// "" the rule above; "rows" the former split (rows, or columns where rows
// divide unevenly); "tiles" also 2-D tiles of an mc block's rows × column
// parts where rows alone are thin (slower on Sapphire Rapids at 8–16
// threads; kept to measure other machines).
var gridMode = os.Getenv("AOTP_GEMM_GRID")

// maxGridA bounds the A that grid packs whole (floats, 16 MiB); past it
// the parts stay rows only.
const maxGridA = 1024 * 4096

// widen writes micro-panel jp of an F16 or int8 block as floats into dst
// (kc×nr), for the float32 kernels; asm: AVX2 may be used.
func (bl *block) widen(dst []float32, jp, nr int, asm bool) {
	n := bl.kc * nr
	src := jp * n
	switch {
	case bl.bph != nil:
		halfToFloats(dst[:n], bl.bph[src:src+n])
	case bl.rowScale != nil:
		var cs []float32 // PackBNInt8Smooth
		if bl.colScale != nil {
			cs = bl.colScale[bl.jc+jp*nr : bl.jc+(jp+1)*nr]
		}
		dequantizeRows(dst[:n], bl.bpq[src:src+n], bl.rowScale, cs, nr, asm)
	default:
		col := bl.jc + jp*nr
		dequantize(dst[:n], bl.bpq[src:src+n], bl.scale[col:col+nr], asm)
	}
}

// computePacked runs every (jc, pc) block of the pre-packed B over the
// tiles [lo, hi) of grid's pm × pn (row part u / pn, column part u % pn).
func (j *job) computePacked(lo, hi int) {
	nr := j.im.nr
	var bl block
	for u := lo; u < hi; u++ {
		mi, ni := u/j.pn, u%j.pn
		mlo, mhi := mi*j.mPanels/j.pm, (mi+1)*j.mPanels/j.pm
		for jc := 0; jc < j.n; jc += j.ncStep {
			bl.jc, bl.nc = jc, min(j.ncStep, j.n-jc)
			bl.nPanels = ceilDiv(bl.nc, nr)
			nlo, nhi := ni*bl.nPanels/j.pn, (ni+1)*bl.nPanels/j.pn
			for pc := 0; pc < j.k; pc += j.kcStep {
				bl.pc, bl.kc = pc, min(j.kcStep, j.k-pc)
				bl.first, bl.last = pc == 0, pc+bl.kc == j.k
				switch {
				case j.pb.q != nil:
					bl.bpq, bl.scale, bl.rowScale, bl.colScale = j.pb.blockInt8(pc, jc), j.pb.scale, nil, nil
					if j.pb.rowScale != nil {
						bl.scale, bl.rowScale, bl.colScale = nil, j.pb.rowScale[pc:pc+bl.kc], j.pb.colScale
					}
				case j.pb.half != nil:
					bl.bph = j.pb.blockHalf(pc, jc)
				default:
					bl.bp = j.pb.block(pc, jc)
				}
				j.compute(&bl, mlo, mhi, nlo, nhi)
			}
		}
	}
}

// imbalance is the largest thread's share of n items, split at multiples of
// r among nt threads, relative to an even split (1 is perfect).
func imbalance(n, r, nt int) float64 {
	return float64(min(ceilDiv(ceilDiv(n, r), nt)*r, n)) / (float64(n) / float64(nt))
}

func (j *job) packRange(lo, hi int) {
	bl := &j.blk
	packB(bl.bp, j.b, j.ldb, j.transB, bl.pc, bl.kc, bl.jc, bl.nc, j.im.nr, lo, hi, j.im.asmPack)
}

func (j *job) computeRange(lo, hi int) {
	if j.splitM {
		j.compute(&j.blk, lo, hi, 0, j.blk.nPanels)
	} else {
		j.compute(&j.blk, 0, j.mPanels, lo, hi)
	}
}

// compute does micro-panel rows [mlo,mhi) × columns [nlo,nhi) of the current
// (jc, pc) block: it packs A in blocks of at most mc rows and runs the
// micro-kernels against the shared packed B.
func (j *job) compute(bl *block, mlo, mhi, nlo, nhi int) {
	im := j.im
	mr, nr := im.mr, im.nr
	rowLo, rowHi := mlo*mr, min(mhi*mr, j.m)
	if rowLo >= rowHi || nlo >= nhi {
		return
	}
	mcStep := ceilDiv(ceilDiv(rowHi-rowLo, ceilDiv(rowHi-rowLo, im.mc)), mr) * mr
	// the pooled buffer holds packed A, then a B micro-panel widened from
	// F16 or int8, then an edge tile, then nr floats for an edge tile's
	// padded bias and 2·nr for the int8 kernels' scales and bias (a local
	// array would escape: the kernel is called through a func value)
	buf := aPool.get(im.mc*im.kc + im.kc*nr + mr*nr + 3*nr)
	ap := buf[:mcStep*bl.kc]
	wide := buf[im.mc*im.kc : im.mc*im.kc+bl.kc*nr]
	tmp := buf[len(buf)-mr*nr-3*nr:]
	if j.apre != nil {
		// all of A is packed already (column split: every row)
		ap = j.apre[bl.pc*j.mPanels*mr:][:j.mPanels*mr*bl.kc]
		j.macro(bl, ap[mlo*mr*bl.kc:], wide, tmp, rowLo, rowHi-rowLo, nlo, nhi)
		aPool.put(buf)
		return
	}
	for ic := rowLo; ic < rowHi; ic += mcStep {
		mc := min(mcStep, rowHi-ic)
		packA(ap, j.a, j.lda, j.transA, ic, mc, bl.pc, bl.kc, mr, j.alpha, im.asmPack)
		j.macro(bl, ap, wide, tmp, ic, mc, nlo, nhi)
	}
	aPool.put(buf)
}

// epiCols is the column width of the C blocks handed to act: the block
// (≤ mc rows × epiCols) is still in L2 when act runs on it.
const epiCols = 64

// macro multiplies the packed A block (rows [ic, ic+mc)) by B micro-panels
// [nlo, nhi): for each B micro-panel (kept in L1) it sweeps the A
// micro-panels (streamed from L2). F16 and int8 panels go to the
// implementation's own kernels for them where it has them, else each is
// first widened into wide (kc×nr floats, then in L1) and used from there:
// once per A block (a tile of 2048 rows widens each panel 14 times; with
// AVX2, by count of instructions, ~1 % of the kernels' work). Widening each
// block once per tile instead measured within the noise (int8 training step
// 5383 vs 5505 ms, medians of 3 alternating rounds), so it is not done.
func (j *job) macro(bl *block, ap, wide, tmp []float32, ic, mc, nlo, nhi int) {
	im := j.im
	mr, nr, kc, ldc := im.mr, im.nr, bl.kc, j.ldc
	kern, kernE := im.kern, im.kernE
	halfKern := bl.bph != nil && im.kernH != nil
	if halfKern {
		kern, kernE = im.kernH, im.kernEH
	}
	// int8 kernels take [scale | bias] (2·nr floats) where the others take
	// the bias: they scale each column's sum, then add the bias
	quantKern := bl.bpq != nil && bl.scale != nil && im.kernQ != nil
	if quantKern {
		kern, kernE = im.kernQ, im.kernEQ
	}
	c := j.c
	beta := float32(1)
	if bl.first {
		beta = j.beta
	}
	var bias []float32
	if bl.first {
		bias = j.bias
	}
	epi := bl.last && j.act != nil
	step := max(1, epiCols/nr)
	for jp0 := nlo; jp0 < nhi; jp0 += step {
		jp1 := min(jp0+step, nhi)
		for jp := jp0; jp < jp1; jp++ {
			col := bl.jc + jp*nr
			cols := min(nr, j.n-col)
			var bp *float32 // the B micro-panel as the kernels take it
			switch {
			case halfKern:
				bp = (*float32)(unsafe.Pointer(&bl.bph[jp*nr*kc]))
			case quantKern:
				bp = (*float32)(unsafe.Pointer(&bl.bpq[jp*nr*kc]))
			case bl.bph != nil || bl.bpq != nil:
				bl.widen(wide, jp, nr, im.asmPack)
				bp = &wide[0]
			default:
				bp = &bl.bp[jp*nr*kc]
			}
			// The kernels start their accumulators at the bias, so edge
			// tiles get the bias through the kernel too (padded to nr):
			// every element is then summed in the same order wherever its
			// tile falls, and a row's result does not depend on M.
			var bptr *float32
			switch {
			case quantKern:
				sb := tmp[mr*nr+nr : mr*nr+3*nr]
				copy(sb, bl.scale[col:col+nr])
				clear(sb[nr:])
				if bias != nil {
					copy(sb[nr:], bias[col:col+cols])
				}
				bptr = &sb[0]
			case bias != nil:
				if cols == nr {
					bptr = &bias[col]
				} else {
					padded := tmp[mr*nr : mr*nr+nr]
					copy(padded, bias[col:col+cols])
					clear(padded[cols:])
					bptr = &padded[0]
				}
			}
			for ir := 0; ir < mc; ir += mr {
				apan := ap[ir*kc:]
				rows := min(mr, mc-ir)
				off := (ic+ir)*ldc + col
				if rows == mr && cols == nr {
					kern(kc, &apan[0], bp, &c[off], ldc, beta, bptr)
					continue
				}
				ek := kern
				if rows <= im.mrE {
					if rows == im.mrE && cols == nr {
						kernE(kc, &apan[0], bp, &c[off], ldc, beta, bptr)
						continue
					}
					ek = kernE
				}
				// Edge tile: compute the tile (or its top mrE rows) into tmp,
				// merge the part inside C.
				ek(kc, &apan[0], bp, &tmp[0], nr, 0, bptr)
				for r := 0; r < rows; r++ {
					t := tmp[r*nr : r*nr+cols]
					cr := c[off+r*ldc : off+r*ldc+cols]
					if beta == 0 {
						copy(cr, t)
					} else {
						for q := range cr {
							cr[q] = t[q] + beta*cr[q]
						}
					}
				}
			}
		}
		if epi {
			c0 := bl.jc + jp0*nr
			c1 := min(bl.jc+jp1*nr, j.n)
			for r := ic; r < ic+mc; r++ {
				j.act(c[r*ldc+c0 : r*ldc+c1])
			}
		}
	}
}

// bufPool recycles packing buffers. Unlike sync.Pool it is never emptied by
// the GC: a fresh buffer costs a page fault per 4 KiB, so buffers are kept
// for the life of the process (one per concurrently running packer).
type bufPool struct {
	mu   sync.Mutex
	free [][]float32
}

var aPool, bPool, aPrePool bufPool

// maxPrepackA bounds the A a call packs whole (floats): 64 rows × 4096.
const maxPrepackA = 64 * 4096

func (p *bufPool) get(n int) []float32 {
	var b []float32
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		b = p.free[k-1]
		p.free = p.free[:k-1]
	}
	p.mu.Unlock()
	if cap(b) < n {
		b = alignedFloats(n)
	}
	return b[:n]
}

func (p *bufPool) put(b []float32) {
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// alignedFloats returns n float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	b := make([]float32, n+16)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0]))&63) / 4; r != 0 {
		off = 16 - r
	}
	return b[off : off+n : off+n]
}
