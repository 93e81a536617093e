// Package parallel runs loops across a persistent pool of worker goroutines.
//
// Kernels call For once per operation; the workers live for the whole process,
// so no goroutine is started per call. A For issued while the pool is busy (a
// nested For from inside a worker, or a second goroutine such as another HTTP
// request) runs inline on the caller instead of queueing behind the first:
// that can never deadlock, and on a 2-core machine one saturated loop is all
// the hardware can use anyway.
//
// A panic in any chunk is caught, the other chunks run to the end, and the
// first panic is raised again on the caller as a *Panic: a recover there
// (the server's, per batch) then sees it, instead of the process dying in a
// worker goroutine.
//
// Idle workers block on a channel; a For after serial work on the caller
// pays their wake-up, 5–7 µs here (BenchmarkForAfterSerial). Spinning
// instead, as OpenMP runtimes do, was measured slower on this 2-vCPU VM:
// workers polling for 50 µs made a For 2–36 µs instead of 0.5–0.9, and a
// caller polling for its workers kept them off its P (a readied goroutine
// waits in the caller's run queue) for the whole 50 µs.
package parallel

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
	fault  *atomic.Pointer[Panic]
}

// Panic is a panic raised in a chunk of For or ForChunks, raised again on
// the caller once every chunk has finished.
type Panic struct {
	Value any    // what the chunk panicked with
	Stack []byte // the chunk's stack at the panic
}

func (p *Panic) Error() string { return fmt.Sprintf("%v (in a parallel chunk)", p.Value) }

// run calls fn(lo, hi), keeping the first panic in fault.
func run(fault *atomic.Pointer[Panic], fn func(lo, hi int), lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			fault.CompareAndSwap(nil, &Panic{Value: r, Stack: debug.Stack()})
		}
	}()
	fn(lo, hi)
}

// raise panics on the caller with the first chunk's panic, if any.
func (p *pool) raise() {
	if f := p.fault.Swap(nil); f != nil {
		panic(f)
	}
}

type pool struct {
	mu      sync.Mutex // held by the one For that owns the workers
	tasks   chan task
	workers int // goroutines started (threads-1: the caller works too)
	wg      sync.WaitGroup
	fault   atomic.Pointer[Panic] // the first panic of the current call's chunks

	// ForChunks' pieces (set while it holds mu), and chunkLoop bound once:
	// a closure over a local counter would escape to the workers and cost
	// two allocations a call
	next      atomic.Int32
	n, chunks int
	chunkFn   func(lo, hi int)
	runChunks func(lo, hi int)
}

// chunkLoop runs pieces of the current ForChunks until none is left.
func (p *pool) chunkLoop(_, _ int) {
	for {
		i := int(p.next.Add(1)) - 1
		if i >= p.chunks {
			return
		}
		p.chunkFn(i*p.n/p.chunks, (i+1)*p.n/p.chunks)
	}
}

var (
	p       = newPool()
	threads atomic.Int32
	startMu sync.Mutex
)

func newPool() *pool {
	p := &pool{tasks: make(chan task, 256)}
	p.runChunks = p.chunkLoop
	return p
}

func init() { SetThreads(runtime.GOMAXPROCS(0)) }

// SetThreads sets how many threads (caller included) For uses. n < 1 means 1.
// Workers are started on demand and never stopped; lowering n only makes
// later calls use fewer of them.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	startMu.Lock()
	defer startMu.Unlock()
	for p.workers < n-1 {
		p.workers++
		go worker(p.tasks)
	}
	threads.Store(int32(n))
}

// Threads reports the number of threads For uses.
func Threads() int { return int(threads.Load()) }

func worker(tasks <-chan task) {
	for t := range tasks {
		run(t.fault, t.fn, t.lo, t.hi)
		t.wg.Done()
	}
}

// For calls fn over [0, n) split into contiguous chunks of at least grain
// items, one chunk per thread at most, and returns when all are done. fn must
// be safe to run concurrently on disjoint ranges.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	nt := Threads()
	if chunks := (n + grain - 1) / grain; chunks < nt {
		nt = chunks
	}
	if nt <= 1 || !p.mu.TryLock() {
		fn(0, n)
		return
	}
	defer p.mu.Unlock()
	wg := &p.wg
	wg.Add(nt - 1)
	// Chunk i covers [i*n/nt, (i+1)*n/nt): sizes differ by at most one.
	for i := 1; i < nt; i++ {
		p.tasks <- task{fn: fn, lo: i * n / nt, hi: (i + 1) * n / nt, wg: wg, fault: &p.fault}
	}
	run(&p.fault, fn, 0, n/nt)
	wg.Wait()
	p.raise()
}

// ForChunks is For with exactly `chunks` pieces (or fewer when n is smaller),
// for work whose cost per item is uneven or whose caller wants more pieces
// than threads for load balance; pieces are handed out dynamically.
func ForChunks(n, chunks int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if chunks > n {
		chunks = n
	}
	nt := Threads()
	if nt > chunks {
		nt = chunks
	}
	if nt <= 1 || !p.mu.TryLock() {
		fn(0, n)
		return
	}
	defer p.mu.Unlock()
	p.next.Store(0)
	p.n, p.chunks, p.chunkFn = n, chunks, fn
	wg := &p.wg
	wg.Add(nt - 1)
	for i := 1; i < nt; i++ {
		p.tasks <- task{fn: p.runChunks, wg: wg, fault: &p.fault}
	}
	run(&p.fault, p.runChunks, 0, 0)
	wg.Wait()
	p.chunkFn = nil
	p.raise()
}
