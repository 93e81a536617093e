package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aotp/aotp/kernels/parallel"
	"github.com/aotp/aotp/peft"
)

var (
	errQueueFull    = errors.New("queue is full, retry later")
	errShuttingDown = errors.New("server is shutting down")
)

// seq is one input sequence waiting for (or in) a batch.
type seq struct {
	req   *pending
	idx   int // position in the request's inputs
	ad    *peft.Adapter
	ids   []int32
	types []int32
	enq   time.Time
}

// pending is one request's share of the work. Only the worker touches left
// and logits after enqueue; done is closed (once every sequence has been
// computed or dropped) after the task references are released, so the
// handler may read logits and err once done is closed.
type pending struct {
	ctx    context.Context
	logits [][]float32
	left   int
	err    error
	done   chan struct{}
	onDone func()
}

func (p *pending) finishOne(idx int, logits []float32, err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
	if logits != nil {
		p.logits[idx] = logits
	}
	p.left--
	if p.left == 0 {
		if p.onDone != nil {
			p.onDone()
		}
		close(p.done)
	}
}

// batcher is the bounded queue and its one worker: sequences of any task
// go in FIFO order; the worker takes up to maxTokens tokens at a time,
// waiting at most maxWait after the oldest sequence arrived for the batch
// to fill, and runs each batch as one mixed-task forward pass.
type batcher struct {
	pred      *peft.MixedPredictor
	maxTokens int
	maxWait   time.Duration
	maxQueue  int // tokens
	m         *metrics
	log       *slog.Logger

	// arriving counts requests admitted but not yet queued (being read or
	// tokenized): only while some are on their way is waiting for a fuller
	// batch worth it.
	arriving atomic.Int64
	batches  atomic.Int64 // forward passes run

	// predMu is held for each forward pass: exclusive runs a change to
	// the tasks' serving state (dropping a row cache) between batches.
	predMu sync.Mutex

	mu      sync.Mutex
	items   []*seq
	head    int
	tokens  int // tokens queued
	closed  bool
	hold    chan struct{} // tests: the worker waits for it before taking a batch
	wake    chan struct{}
	stopped chan struct{}
}

func newBatcher(pred *peft.MixedPredictor, maxTokens int, maxWait time.Duration, maxQueue int, m *metrics, log *slog.Logger) *batcher {
	b := &batcher{pred: pred, maxTokens: maxTokens, maxWait: maxWait, maxQueue: maxQueue, m: m, log: log,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go b.run()
	return b
}

// enqueue adds a request's sequences, all or none: a full queue answers
// errQueueFull at once instead of growing.
func (b *batcher) enqueue(p *pending, seqs []*seq) error {
	n := 0
	for _, s := range seqs {
		n += len(s.ids)
	}
	now := time.Now()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errShuttingDown
	}
	if b.tokens+n > b.maxQueue {
		b.mu.Unlock()
		return errQueueFull
	}
	p.left = len(seqs)
	for _, s := range seqs {
		s.enq = now
		b.items = append(b.items, s)
	}
	b.tokens += n
	b.m.queueTokens.Set(float64(b.tokens))
	b.m.queueSeqs.Set(float64(len(b.items) - b.head))
	b.mu.Unlock()
	b.signal()
	return nil
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// setHold makes the worker wait for h (closed) before taking each batch;
// nil lets it run. For tests.
func (b *batcher) setHold(h chan struct{}) {
	b.mu.Lock()
	b.hold = h
	b.mu.Unlock()
}

// queued is the number of sequences waiting.
func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items) - b.head
}

// close stops taking work; the worker finishes what is queued, then exits.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.signal()
}

func (b *batcher) run() {
	defer close(b.stopped)
	var batch []*seq
	for {
		var ok bool
		if batch, ok = b.next(batch[:0]); !ok {
			return
		}
		if len(batch) > 0 {
			b.compute(batch)
		}
		clear(batch)
	}
}

// arrived marks a request admitted by arrive as queued or given up.
func (b *batcher) arrived() {
	b.arriving.Add(-1)
	b.signal()
}

// next waits for a batch: up to maxTokens tokens, taken at once unless the
// budget is not reached and more requests are arriving, and then at most
// until the oldest sequence has waited maxWait (or the queue closes).
// Sequences of cancelled or timed-out requests are dropped here.
func (b *batcher) next(batch []*seq) ([]*seq, bool) {
	b.mu.Lock()
	for {
		n := len(b.items) - b.head
		if n == 0 {
			if b.closed {
				b.mu.Unlock()
				return batch, false
			}
			b.mu.Unlock()
			<-b.wake
			b.mu.Lock()
			continue
		}
		if b.tokens < b.maxTokens && !b.closed && b.arriving.Load() > 0 {
			if d := time.Until(b.items[b.head].enq.Add(b.maxWait)); d > 0 {
				b.mu.Unlock()
				t := time.NewTimer(d)
				select {
				case <-b.wake:
				case <-t.C:
				}
				t.Stop()
				b.mu.Lock()
				continue
			}
		}
		break
	}
	if h := b.hold; h != nil {
		b.mu.Unlock()
		<-h
		b.mu.Lock()
	}
	tokens := 0
	var dropped []*seq
	for b.head < len(b.items) {
		s := b.items[b.head]
		if s.req.ctx.Err() != nil {
			dropped = append(dropped, s)
		} else {
			if len(batch) > 0 && tokens+len(s.ids) > b.maxTokens {
				break
			}
			batch = append(batch, s)
			tokens += len(s.ids)
		}
		b.items[b.head] = nil
		b.head++
		b.tokens -= len(s.ids)
	}
	if b.head == len(b.items) {
		b.items, b.head = b.items[:0], 0
	} else if b.head > 1024 && b.head > len(b.items)/2 {
		b.items = append(b.items[:0], b.items[b.head:]...)
		b.head = 0
	}
	b.m.queueTokens.Set(float64(b.tokens))
	b.m.queueSeqs.Set(float64(len(b.items) - b.head))
	b.mu.Unlock()
	for _, s := range dropped {
		b.m.dropped.Inc()
		s.req.finishOne(s.idx, nil, s.req.ctx.Err())
	}
	return batch, true
}

// compute runs one batch and hands each sequence its logits.
func (b *batcher) compute(batch []*seq) {
	start := time.Now()
	ts := make([]peft.TaskSeq, len(batch))
	tokens := 0
	for i, s := range batch {
		ts[i] = peft.TaskSeq{Adapter: s.ad, IDs: s.ids, TypeIDs: s.types}
		tokens += len(s.ids)
		b.m.queueWait.Observe(start.Sub(s.enq).Seconds())
	}
	logits, err := b.predict(ts)
	if err != nil {
		b.log.Error("batch failed", "sequences", len(batch), "tokens", tokens, "err", err)
	} else {
		b.m.batchSeqs.Observe(float64(len(batch)))
		b.m.batchTokens.Observe(float64(tokens))
		b.m.tokens.Add(float64(tokens))
		b.m.sequences.Add(float64(len(batch)))
		b.m.batchSeconds.Observe(time.Since(start).Seconds())
		b.batches.Add(1)
	}
	for i, s := range batch {
		var l []float32
		e := err
		if e == nil {
			if l = logits[i]; l == nil {
				e = fmt.Errorf("no logits for sequence %d of the batch", i)
			}
		}
		s.req.finishOne(s.idx, l, e)
	}
}

// exclusive runs fn while no forward pass is running.
func (b *batcher) exclusive(fn func()) {
	b.predMu.Lock()
	defer b.predMu.Unlock()
	fn()
}

// predict runs the forward pass; a panic becomes an error for this batch
// only, so one bad batch never takes the server down.
func (b *batcher) predict(ts []peft.TaskSeq) (logits [][]float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("forward pass panicked: %v", r)
			stack := debug.Stack()
			if p, ok := r.(*parallel.Panic); ok {
				stack = p.Stack // where the worker panicked, not where it was raised again
			}
			b.log.Error("forward pass panicked", "panic", r, "stack", string(stack))
		}
	}()
	b.predMu.Lock()
	defer b.predMu.Unlock()
	logits, _, err = b.pred.Predict(context.Background(), ts)
	if err != nil {
		err = fmt.Errorf("forward pass: %w", err)
	}
	return logits, err
}
