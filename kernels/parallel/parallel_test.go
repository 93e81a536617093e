package parallel

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 4} {
		SetThreads(threads)
		for _, n := range []int{1, 2, 3, 7, 100, 1001} {
			for _, grain := range []int{1, 4, 1000} {
				hits := make([]int32, n)
				For(n, grain, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d hit %d times", threads, n, grain, i, h)
					}
				}
				hits = make([]int32, n)
				ForChunks(n, 5, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("ForChunks threads=%d n=%d: index %d hit %d times", threads, n, i, h)
					}
				}
			}
		}
	}
}

// Nested and concurrent calls must not deadlock: the inner or second call
// runs inline when the pool is taken.
func TestForNestedAndConcurrent(t *testing.T) {
	SetThreads(2)
	var total atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			For(10, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					For(10, 1, func(a, b int) { total.Add(int64(b - a)) })
				}
			})
		}()
	}
	wg.Wait()
	if got := total.Load(); got != 8*10*10 {
		t.Fatalf("total = %d, want 800", got)
	}
}

func BenchmarkForOverhead(b *testing.B) {
	SetThreads(2)
	var sink atomic.Int64
	for i := 0; i < b.N; i++ {
		For(2, 1, func(lo, hi int) { sink.Add(int64(hi - lo)) })
	}
}

// BenchmarkForAfterSerial is a For after 20 µs of serial work on the caller
// (an operation the workers sit out, as between a model's layers): the
// workers' wake-up latency is what it adds to the 20 µs.
func BenchmarkForAfterSerial(b *testing.B) {
	SetThreads(2)
	var sink atomic.Int64
	for i := 0; i < b.N; i++ {
		for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
		}
		For(2, 1, func(lo, hi int) { sink.Add(int64(hi - lo)) })
	}
}

// A panic in any chunk — a worker's or the caller's — reaches the caller as
// a *Panic after every chunk has finished, and the pool keeps working.
func TestPanicReachesCaller(t *testing.T) {
	SetThreads(4)
	defer SetThreads(2)
	catch := func(f func()) (p *Panic) {
		defer func() {
			r := recover()
			p, _ = r.(*Panic)
			if r != nil && p == nil {
				t.Fatalf("recovered %T %v, want *Panic", r, r)
			}
		}()
		f()
		return nil
	}
	for _, bad := range []int{0, 99} { // the caller's chunk, a worker's
		for name, call := range map[string]func(func(lo, hi int)){
			"For":       func(fn func(lo, hi int)) { For(100, 1, fn) },
			"ForChunks": func(fn func(lo, hi int)) { ForChunks(100, 10, fn) },
		} {
			var done atomic.Int32
			p := catch(func() {
				call(func(lo, hi int) {
					if lo <= bad && bad < hi {
						panic("bad index")
					}
					done.Add(int32(hi - lo))
				})
			})
			if p == nil || p.Value != "bad index" || len(p.Stack) == 0 {
				t.Fatalf("%s, panic at %d: recovered %+v", name, bad, p)
			}
			var n atomic.Int32
			For(100, 1, func(lo, hi int) { n.Add(int32(hi - lo)) })
			if n.Load() != 100 {
				t.Fatalf("%s: the pool covers %d of 100 after a panic", name, n.Load())
			}
		}
	}
}
