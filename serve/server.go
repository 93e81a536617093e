package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/tokenizer"
)

// Options configures a Server; zero fields take the defaults below.
type Options struct {
	ModelID         string        // reported by TEI /info (default "aotp")
	MaxBatchTokens  int           // tokens per forward pass (8192)
	MaxWait         time.Duration // longest wait for a batch to fill (5ms); negative: no wait
	MaxQueueTokens  int           // tokens queued at most before 429 (8 × MaxBatchTokens)
	MaxBody         int64         // request body bytes (1 MiB) before 413
	MaxInputs       int           // inputs per request (256) before 413
	MaxInputLength  int           // tokens per input (the backbone's maximum)
	Truncate        bool          // truncate too-long inputs by default instead of 413
	RequestTimeout  time.Duration // per prediction request (30s); negative: none
	MaxConcurrent   int           // prediction requests handled at once (512) before 429
	AdminToken      string        // bearer token for PUT/DELETE /v1/tasks/{name}; "" disables them (403)
	DefaultTask     string        // also serve this task's TEI routes at the root
	DrainDelay      time.Duration // on shutdown, answer 503 (readyz false) this long before closing the listener
	ShutdownTimeout time.Duration // longest wait for in-flight requests on shutdown (30s)
	Logger          *slog.Logger  // default slog.Default()

	// MemoryBudget bounds the backbone's weights plus every task's memory
	// (bytes; 0: no bound); a task that does not fit is refused (507).
	MemoryBudget int64
	// FuseOnLoad fuses factor (FC/Kron) adapters into tables of this dtype
	// (f32, f16, bf16, int8) when the budget allows; "" or "none": compact.
	FuseOnLoad string
	// RowCacheRows caps a compact task's row cache at this many ids per
	// layer (DefaultRowCacheRows); negative: no row caches.
	RowCacheRows int
}

func (o *Options) fill(enc *model.Encoder) error {
	if o.ModelID == "" {
		o.ModelID = "aotp"
	}
	if o.MaxBatchTokens == 0 {
		o.MaxBatchTokens = 8192
	}
	if o.MaxWait == 0 {
		o.MaxWait = 5 * time.Millisecond
	}
	if o.MaxWait < 0 {
		o.MaxWait = 0
	}
	if o.MaxQueueTokens == 0 {
		o.MaxQueueTokens = 8 * o.MaxBatchTokens
	}
	if o.MaxBody == 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxInputs == 0 {
		o.MaxInputs = 256
	}
	if max := enc.Config.MaxSequenceLength(); o.MaxInputLength == 0 || o.MaxInputLength > max {
		o.MaxInputLength = max
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = 512
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RowCacheRows == 0 {
		o.RowCacheRows = DefaultRowCacheRows
	}
	if err := CheckFuse(o.FuseOnLoad); err != nil {
		return fmt.Errorf("serve: --fuse-on-load: %w", err)
	}
	switch {
	case o.MemoryBudget < 0:
		return fmt.Errorf("serve: memory budget must not be negative")
	case o.MaxBatchTokens < 1 || o.MaxQueueTokens < 1 || o.MaxBody < 1 || o.MaxInputs < 1 || o.MaxConcurrent < 1:
		return fmt.Errorf("serve: batch tokens, queue, body, inputs and concurrency limits must be positive")
	case o.MaxInputLength < 3:
		return fmt.Errorf("serve: max input length %d is too small", o.MaxInputLength)
	case o.MaxBatchTokens < o.MaxInputLength:
		return fmt.Errorf("serve: --max-batch-tokens %d is below the longest input (%d tokens)", o.MaxBatchTokens, o.MaxInputLength)
	case o.MaxQueueTokens < o.MaxInputLength:
		return fmt.Errorf("serve: --max-queue %d tokens is below the longest input (%d tokens)", o.MaxQueueTokens, o.MaxInputLength)
	}
	return nil
}

// Server serves every loaded task of one backbone over HTTP. Create it with
// New, add tasks with LoadTask, then Serve (or mount Handler and Close it).
type Server struct {
	enc     *model.Encoder
	tok     tokenizer.Tokenizer
	opts    Options
	log     *slog.Logger
	reg     registry
	b       *batcher
	m       *metrics
	sem     chan struct{}
	handler http.Handler

	backboneBytes int64 // the backbone's weights, counted in the memory budget

	adminMu   sync.Mutex // one task change at a time
	closed    bool       // guarded by adminMu
	draining  atomic.Bool
	closeOnce sync.Once
}

// New starts a server's batching worker for enc and tok. The server does
// not own enc: close it after Close.
func New(enc *model.Encoder, tok tokenizer.Tokenizer, opts Options) (*Server, error) {
	if err := opts.fill(enc); err != nil {
		return nil, err
	}
	if tok.VocabSize() > enc.Config.VocabSize {
		return nil, fmt.Errorf("serve: tokenizer has %d tokens, backbone vocabulary %d", tok.VocabSize(), enc.Config.VocabSize)
	}
	s := &Server{enc: enc, tok: tok, opts: opts, log: opts.Logger, m: newMetrics(), sem: make(chan struct{}, opts.MaxConcurrent),
		backboneBytes: enc.WeightBytes()}
	if opts.MemoryBudget > 0 && s.backboneBytes > opts.MemoryBudget {
		return nil, fmt.Errorf("serve: the backbone's weights (%s) alone exceed the memory budget (%s)",
			FormatBytes(s.backboneBytes), FormatBytes(opts.MemoryBudget))
	}
	s.m.budget.Set(float64(opts.MemoryBudget))
	s.m.backbone.Set(float64(s.backboneBytes))
	s.b = newBatcher(&peft.MixedPredictor{Enc: enc, FirstTokensOnly: true}, opts.MaxBatchTokens, opts.MaxWait, opts.MaxQueueTokens, s.m, s.log)
	s.handler = s.routes()
	return s, nil
}

// Options returns the server's options with defaults filled in.
func (s *Server) Options() Options { return s.opts }

// LoadTask loads the adapter in dir and serves it as name, replacing any
// task of that name; requests already running finish on the old adapter,
// which is closed after the last of them. It reports whether a task was
// replaced. The task's form follows the server's options and memory budget.
func (s *Server) LoadTask(name, dir string) (bool, error) {
	return s.LoadTaskWith(name, dir, TaskOptions{})
}

// LoadTaskWith is LoadTask with per-task overrides of the serving form. A
// task over the memory budget is refused with an error wrapping
// errOverBudget (IsOverBudget), the server unchanged.
func (s *Server) LoadTaskWith(name, dir string, o TaskOptions) (bool, error) {
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	if s.closed {
		return false, errShuttingDown
	}
	t, err := s.loadTask(name, dir, o)
	if err != nil {
		return false, err
	}
	old := s.reg.put(t)
	if old != nil {
		old.release()
		s.m.taskForm.DeletePartialMatch(map[string]string{"task": name})
	} else {
		s.m.tasks.Inc()
	}
	s.setTaskMetrics(t)
	return old != nil, nil
}

// IsOverBudget reports whether a LoadTask error is a refusal for memory.
func IsOverBudget(err error) bool { return errors.Is(err, errOverBudget) }

// setTaskMetrics publishes a task's bytes and form and the budget's state.
// Call with adminMu held.
func (s *Server) setTaskMetrics(t *task) {
	info := t.info()
	s.m.taskBytes.WithLabelValues(t.name).Set(float64(t.tableBytes))
	s.m.taskResident.WithLabelValues(t.name).Set(float64(info.ResidentBytes))
	s.m.taskCache.WithLabelValues(t.name).Set(float64(info.RowCacheBytes))
	s.m.taskMapped.WithLabelValues(t.name).Set(float64(info.MappedBytes))
	s.m.taskForm.DeletePartialMatch(map[string]string{"task": t.name})
	s.m.taskForm.WithLabelValues(t.name, info.Form).Set(1)
	s.setMemoryMetrics()
}

func (s *Server) setMemoryMetrics() {
	m := s.memory()
	s.m.committed.Set(float64(m.Backbone + m.TaskResident + m.RowCaches))
	s.m.mapped.Set(float64(m.Mapped))
}

// UnloadTask stops serving name; requests already running finish first.
func (s *Server) UnloadTask(name string) bool {
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	t := s.reg.remove(name)
	if t == nil {
		return false
	}
	t.release()
	s.m.tasks.Dec()
	s.m.taskBytes.DeleteLabelValues(name)
	s.m.taskResident.DeleteLabelValues(name)
	s.m.taskCache.DeleteLabelValues(name)
	s.m.taskMapped.DeleteLabelValues(name)
	s.m.taskForm.DeletePartialMatch(map[string]string{"task": name})
	s.setMemoryMetrics()
	return true
}

// Tasks lists the loaded tasks by name.
func (s *Server) Tasks() []TaskInfo { return s.reg.list() }

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// StartDrain makes the server refuse new work (503, /readyz false) while
// requests in flight go on.
func (s *Server) StartDrain() { s.draining.Store(true) }

// Close refuses new work, lets the worker finish what is queued, then
// releases every task. Call it after the HTTP server has stopped.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.draining.Store(true)
		s.b.close()
		<-s.b.stopped
		s.adminMu.Lock()
		s.closed = true
		for _, t := range s.reg.removeAll() {
			t.release()
		}
		s.adminMu.Unlock()
		s.m.tasks.Set(0)
	})
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: readyz turns false and new requests get 503 (for DrainDelay),
// the listener closes, requests in flight finish (up to ShutdownTimeout),
// the queue drains and the tasks are released.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining requests in flight", "drain_delay", s.opts.DrainDelay, "timeout", s.opts.ShutdownTimeout)
	s.StartDrain()
	if s.opts.DrainDelay > 0 {
		time.Sleep(s.opts.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	<-errc
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	s.log.Info("shut down")
	return nil
}

// apiError is an error answer: {"error": msg, "error_type": typ}.
type apiError struct {
	code int
	typ  string
	msg  string
}

func errorf(code int, typ, format string, a ...any) *apiError {
	return &apiError{code: code, typ: typ, msg: fmt.Sprintf(format, a...)}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h func(http.ResponseWriter, *http.Request) *apiError) {
		mux.Handle(pattern, s.wrap(route, h))
	}
	handle("POST /v1/predict", "predict", s.handlePredict)
	handle("GET /v1/tasks", "tasks", s.handleTasks)
	handle("PUT /v1/tasks/{name}", "task_put", s.admin(s.handlePutTask))
	handle("DELETE /v1/tasks/{name}", "task_delete", s.admin(s.handleDeleteTask))
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, r *http.Request) *apiError {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	handle("GET /readyz", "readyz", s.handleReady)
	promH := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
	handle("GET /metrics", "metrics", func(w http.ResponseWriter, r *http.Request) *apiError {
		promH.ServeHTTP(w, r)
		return nil
	})
	for _, prefix := range []string{"/tasks/{name}", ""} {
		if prefix == "" && s.opts.DefaultTask == "" {
			continue
		}
		handle("POST "+prefix+"/predict", "tei_predict", s.handleTEIPredict)
		handle("POST "+prefix+"/tokenize", "tei_tokenize", s.handleTEITokenize)
		handle("GET "+prefix+"/info", "tei_info", s.handleTEIInfo)
		handle("GET "+prefix+"/health", "tei_health", s.handleTEIHealth)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// not found or wrong method: the mux's status with a JSON body
			s.wrap("other", func(w http.ResponseWriter, r *http.Request) *apiError {
				h, _ := mux.Handler(r)
				rec := &codeOnly{header: http.Header{}}
				h.ServeHTTP(rec, r)
				if a := rec.header.Get("Allow"); a != "" {
					w.Header().Set("Allow", a)
				}
				code := rec.code
				if code == 0 || code == http.StatusOK {
					code = http.StatusNotFound
				}
				return errorf(code, "validation", "%s %s: %s", r.Method, r.URL.Path, strings.ToLower(http.StatusText(code)))
			}).ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// codeOnly records the status a handler would send.
type codeOnly struct {
	header http.Header
	code   int
}

func (c *codeOnly) Header() http.Header         { return c.header }
func (c *codeOnly) Write(b []byte) (int, error) { return len(b), nil }
func (c *codeOnly) WriteHeader(code int)        { c.code = code }

// statusWriter remembers the status code sent.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap turns a handler's *apiError into a JSON answer, a panic into a
// logged 500, and counts the request by route and code.
func (s *Server) wrap(route string, h func(http.ResponseWriter, *http.Request) *apiError) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panicked", "route", route, "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if w.code == 0 {
					writeError(w, errorf(http.StatusInternalServerError, "backend", "internal error"))
				}
			}
			code := w.code
			if code == 0 {
				code = 499 // client went away before an answer
			}
			s.m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		}()
		if e := h(w, r); e != nil {
			if e.code >= 500 && e.code != http.StatusServiceUnavailable {
				s.log.Error("request failed", "route", route, "code", e.code, "err", e.msg)
			}
			writeError(w, e)
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "backend", "encoding the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.code == http.StatusTooManyRequests || e.code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	b, _ := json.Marshal(map[string]string{"error": e.msg, "error_type": e.typ})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.code)
	w.Write(append(b, '\n'))
}

// readBody reads at most MaxBody bytes of valid UTF-8.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > s.opts.MaxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "validation", "request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.opts.MaxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "validation", "request body is over the limit of %d bytes", s.opts.MaxBody)
		}
		return nil, errorf(http.StatusBadRequest, "validation", "reading the request body: %v", err)
	}
	if !utf8.Valid(body) {
		return nil, errorf(http.StatusBadRequest, "validation", "request body is not valid UTF-8")
	}
	return body, nil
}

func decodeJSON(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "validation", "invalid JSON: %v", err)
	}
	return nil
}

// admission: not draining and a concurrency slot free; release the slot
// with the returned func.
func (s *Server) admit() (func(), *apiError) {
	if s.draining.Load() {
		return nil, errorf(http.StatusServiceUnavailable, "unhealthy", "%v", errShuttingDown)
	}
	select {
	case s.sem <- struct{}{}:
		s.m.inflight.Inc()
		return func() { <-s.sem; s.m.inflight.Dec() }, nil
	default:
		return nil, errorf(http.StatusTooManyRequests, "overloaded", "too many concurrent requests (limit %d), retry later", s.opts.MaxConcurrent)
	}
}

// input is one text (or text pair) for a task.
type input struct {
	task    string
	text    string
	pair    string
	hasPair bool
}

// result is one input's outcome.
type result struct {
	task   string
	cfg    *peft.AdapterConfig
	logits []float32
}

// predict tokenizes the inputs, queues their sequences and waits for the
// worker: the core of /v1/predict and the TEI predict route.
func (s *Server) predict(ctx context.Context, inputs []input, truncate bool) ([]result, *apiError) {
	s.b.arriving.Add(1)
	queued := false
	defer func() {
		if !queued {
			s.b.arrived()
		}
	}()
	if len(inputs) == 0 {
		return nil, errorf(http.StatusBadRequest, "empty", "`inputs` cannot be empty")
	}
	if len(inputs) > s.opts.MaxInputs {
		return nil, errorf(http.StatusRequestEntityTooLarge, "validation", "batch size %d > maximum allowed batch size %d", len(inputs), s.opts.MaxInputs)
	}
	tasks := map[string]*task{}
	releaseAll := func() {
		for _, t := range tasks {
			t.release()
		}
	}
	seqs := make([]*seq, len(inputs))
	res := make([]result, len(inputs))
	start := time.Now()
	p := &pending{logits: make([][]float32, len(inputs)), done: make(chan struct{}), onDone: releaseAll}
	maxLen := s.opts.MaxInputLength
	for i, in := range inputs {
		t := tasks[in.task]
		if t == nil {
			if in.task == "" {
				releaseAll()
				return nil, errorf(http.StatusBadRequest, "validation", "input %d: no task given (set \"task\")", i)
			}
			if t = s.reg.acquire(in.task); t == nil {
				releaseAll()
				return nil, errorf(http.StatusBadRequest, "validation", "unknown task %q", in.task)
			}
			tasks[in.task] = t
		}
		var enc tokenizer.Encoding
		var err error
		switch {
		case truncate:
			enc, err = tokenizer.EncodeTruncated(s.tok, in.text, in.pair, in.hasPair, maxLen)
		case in.hasPair:
			enc, err = s.tok.EncodePair(in.text, in.pair)
		default:
			enc, err = s.tok.Encode(in.text)
		}
		if err != nil {
			releaseAll()
			return nil, errorf(http.StatusBadRequest, "tokenizer", "input %d: %v", i, err)
		}
		if len(enc.IDs) > maxLen {
			releaseAll()
			return nil, errorf(http.StatusRequestEntityTooLarge, "validation",
				"input %d has %d tokens, more than the maximum of %d: shorten it or ask for truncation (\"truncate\": true)", i, len(enc.IDs), maxLen)
		}
		seqs[i] = &seq{req: p, idx: i, ad: t.ad, ids: enc.IDs, types: enc.TypeIDs}
		res[i] = result{task: in.task, cfg: t.ad.Config}
	}
	if s.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}
	p.ctx = ctx
	err := s.b.enqueue(p, seqs)
	queued = true
	s.b.arrived()
	if err != nil {
		releaseAll()
		if err == errQueueFull {
			return nil, errorf(http.StatusTooManyRequests, "overloaded", "%v", err)
		}
		return nil, errorf(http.StatusServiceUnavailable, "unhealthy", "%v", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		// the worker drops what is still queued and releases the tasks
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errorf(http.StatusServiceUnavailable, "overloaded", "request timed out after %v", s.opts.RequestTimeout)
		}
		return nil, errorf(499, "canceled", "request canceled")
	}
	if p.err != nil {
		if errors.Is(p.err, context.DeadlineExceeded) {
			return nil, errorf(http.StatusServiceUnavailable, "overloaded", "request timed out after %v", s.opts.RequestTimeout)
		}
		if errors.Is(p.err, context.Canceled) {
			return nil, errorf(499, "canceled", "request canceled")
		}
		return nil, errorf(http.StatusInternalServerError, "backend", "%v", p.err)
	}
	for i := range res {
		res[i].logits = p.logits[i]
	}
	d := time.Since(start).Seconds()
	for name := range tasks {
		s.m.latency.WithLabelValues(name).Observe(d)
	}
	return res, nil
}

// predictRequest is the body of POST /v1/predict.
type predictRequest struct {
	Task     string         `json:"task"`
	Inputs   []predictInput `json:"inputs"`
	Truncate *bool          `json:"truncate"`
}

// predictInput is {"text", "text_pair"?, "task"?} or just a string.
type predictInput struct {
	Task     string  `json:"task"`
	Text     *string `json:"text"`
	TextPair *string `json:"text_pair"`
}

func (p *predictInput) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = predictInput{Text: &s}
		return nil
	}
	type plain predictInput
	return json.Unmarshal(b, (*plain)(p))
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) *apiError {
	done, e := s.admit()
	if e != nil {
		return e
	}
	defer done()
	body, e := s.readBody(w, r)
	if e != nil {
		return e
	}
	var req predictRequest
	if e := decodeJSON(body, &req); e != nil {
		return e
	}
	if req.Inputs == nil {
		return errorf(http.StatusBadRequest, "validation", "\"inputs\" is required")
	}
	def := req.Task
	if def == "" {
		def = s.opts.DefaultTask
	}
	inputs := make([]input, len(req.Inputs))
	for i, in := range req.Inputs {
		if in.Text == nil {
			return errorf(http.StatusBadRequest, "validation", "input %d: \"text\" is required", i)
		}
		inputs[i] = input{task: in.Task, text: *in.Text}
		if inputs[i].task == "" {
			inputs[i].task = def
		}
		if in.TextPair != nil && *in.TextPair != "" { // as `aotp predict`: an empty pair is no pair
			inputs[i].pair, inputs[i].hasPair = *in.TextPair, true
		}
	}
	truncate := s.opts.Truncate
	if req.Truncate != nil {
		truncate = *req.Truncate
	}
	res, e := s.predict(r.Context(), inputs, truncate)
	if e != nil {
		return e
	}
	out := struct {
		Predictions []Prediction `json:"predictions"`
	}{make([]Prediction, len(res))}
	for i, r := range res {
		out.Predictions[i] = NewPrediction(r.cfg, r.logits)
		out.Predictions[i].Task = r.task
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]any{"tasks": s.reg.list(), "memory": s.Memory()})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) *apiError {
	if s.draining.Load() {
		return errorf(http.StatusServiceUnavailable, "unhealthy", "shutting down")
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tasks": len(s.reg.list())})
	return nil
}

// admin guards task changes with the bearer token.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request) *apiError) func(http.ResponseWriter, *http.Request) *apiError {
	return func(w http.ResponseWriter, r *http.Request) *apiError {
		if s.opts.AdminToken == "" {
			return errorf(http.StatusForbidden, "forbidden", "task changes are disabled: start the server with --admin-token or AOTP_ADMIN_TOKEN")
		}
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aotp"`)
			return errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong admin token (Authorization: Bearer TOKEN)")
		}
		if s.draining.Load() {
			return errorf(http.StatusServiceUnavailable, "unhealthy", "%v", errShuttingDown)
		}
		return h(w, r)
	}
}

func (s *Server) handlePutTask(w http.ResponseWriter, r *http.Request) *apiError {
	name := r.PathValue("name")
	body, e := s.readBody(w, r)
	if e != nil {
		return e
	}
	var req struct {
		Adapter string `json:"adapter"`
		TaskOptions
	}
	if e := decodeJSON(body, &req); e != nil {
		return e
	}
	if req.Adapter == "" {
		return errorf(http.StatusBadRequest, "validation", "\"adapter\" (a directory) is required")
	}
	start := time.Now()
	replaced, err := s.LoadTaskWith(name, req.Adapter, req.TaskOptions)
	if err != nil {
		s.log.Error("admin: task load failed", "task", name, "adapter", req.Adapter, "err", err)
		if IsOverBudget(err) {
			return errorf(http.StatusInsufficientStorage, "overloaded", "%v", err)
		}
		return errorf(http.StatusBadRequest, "validation", "%v", err)
	}
	t := s.reg.acquire(name)
	if t == nil { // deleted meanwhile
		return errorf(http.StatusConflict, "validation", "task %q was removed while loading", name)
	}
	info := t.info()
	t.release()
	action := "loaded"
	if replaced {
		action = "replaced"
	}
	s.log.Info("admin: task "+action, "task", name, "adapter", req.Adapter, "form", info.Form, "resident_bytes", info.ResidentBytes, "row_cache_bytes", info.RowCacheBytes, "mapped_bytes", info.MappedBytes, "took", time.Since(start).Round(time.Millisecond))
	writeJSON(w, http.StatusOK, map[string]any{"task": info, "replaced": replaced})
	return nil
}

func (s *Server) handleDeleteTask(w http.ResponseWriter, r *http.Request) *apiError {
	name := r.PathValue("name")
	if !s.UnloadTask(name) {
		return errorf(http.StatusBadRequest, "validation", "unknown task %q", name)
	}
	s.log.Info("admin: task deleted", "task", name)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
	return nil
}
