// Package serve is `aotp serve`: one process, one frozen backbone, every
// task (AoT P-Tuning adapter) of that backbone, over HTTP.
//
// AoT P-Tuning tasks differ from the shared backbone only by per-token rows
// added before each layer (plus a small head), so sequences of different
// tasks can share one forward pass: peft.MixedPredictor adds each
// sequence's own rows and runs each task's head on its sequences, with
// results bit-identical to running every sequence alone. The server is
// built around that: requests of all tasks go into one queue and come out
// as mixed-task batches.
//
// # Request path
//
// A handler reads the body (at most Options.MaxBody bytes: 413 beyond;
// invalid UTF-8 or JSON: 400), resolves each input's task (taking a
// reference on it, see hot swap), tokenizes the inputs in its own goroutine
// (so tokenization runs in parallel with the forward pass), rejects inputs
// longer than MaxInputLength with 413 unless truncation is asked for (the
// request's "truncate", default --truncate; HF longest_first), and
// enqueues the request's sequences, all or none. It then waits for its
// answer, its context (client gone: the work is dropped) or RequestTimeout
// (503). Answers are exactly NewPrediction of the logits, the same JSON
// `aotp predict` writes, plus "task".
//
// # Batching policy
//
// One worker goroutine per backbone takes sequences in FIFO order, across
// all tasks, up to MaxBatchTokens tokens per forward pass (the batch is
// packed, with no padding, so tokens measure its cost and its activation
// memory; one sequence longer than the budget is impossible because
// MaxInputLength <= MaxBatchTokens). When the queue holds less than a full
// budget the worker waits for more only while requests are still on their
// way in (admitted and being read or tokenized), and never longer than
// MaxWait after the oldest queued sequence arrived. Under load, batches
// fill by themselves while the previous one runs; an idle server answers a
// lone request at once instead of sleeping MaxWait; a burst of requests
// arriving together is gathered into one pass. Sequences of cancelled or
// timed-out requests are dropped when the worker reaches them.
//
// Why one worker: the forward pass already spreads each batch's matrix
// products over all cores (kernels/parallel, --threads). On the 2-core
// machines this targets, a second worker would only split the same two
// cores between two smaller batches, doubling activation memory and adding
// contention, while one larger batch amortizes weight reads better. The
// handlers' tokenization and JSON work run on the remaining scheduler time;
// HTTP throughput on small models is bounded by that, not by the worker.
//
// # Memory bounds
//
// Nothing grows without limit: bodies are capped (MaxBody), at most
// MaxConcurrent prediction requests are handled at once (429 beyond, before
// the body is read), a request has at most MaxInputs inputs of at most
// MaxInputLength tokens, and the queue holds at most MaxQueueTokens tokens:
// a request that does not fit is answered 429 at once rather than queued.
// The worker's activations are bounded by MaxBatchTokens. So memory is
// about MaxConcurrent × MaxBody for bodies plus the queue and one batch,
// besides the backbone and the tasks' tables (fused tables are
// memory-mapped and shared with the page cache; aotp_task_table_bytes
// reports each task's size); the weights are bounded by MemoryBudget, see
// below.
//
// # Memory budget
//
// Options.MemoryBudget (--memory-budget 8GiB) bounds the memory the server
// commits to weights: the backbone's (its parameter count × 4 bytes, one
// copy: packing releases the mapped pages) plus each task's. It does not
// cover activations, the queue or request bodies, which have their own
// bounds (above): leave headroom for them. Each task's serving form is
// chosen when it loads, in this order:
//
//   - head-only (--baseline, TaskOptions.HeadOnly): the adapter's head over
//     the plain backbone; costs its head.
//   - mapped: a fused adapter directory ("reparam": "fused") stays a view
//     of its memory-mapped file; rows page in on demand and are clean,
//     file-backed pages the kernel reclaims under pressure, so the file's
//     size is reported as mapped_bytes but not counted in the budget; the
//     head (and any table the loader had to copy for alignment) is.
//   - fused: a factor (FC/Kronecker) adapter is fused into in-memory tables
//     of --fuse-on-load's dtype (f32, f16, bf16, int8; default none) if its
//     tables, its factors and, while fusing, one layer of float32 rows fit
//     in what the budget leaves (row caches count as used here); otherwise
//     it is served compact, with a warning in the log.
//   - cached: compact factors (rows of a batch's distinct ids computed per
//     batch) plus a peft.RowCache of hot rows, sized min(--row-cache-rows
//     ids per layer, 1/8 of what the budget leaves after the task's own
//     factors), so early tasks cannot take all the room; no cache when not
//     one row per layer fits (form compact). Results are identical with
//     and without the cache, and fused f32 equals compact bit for bit; f16,
//     bf16 and int8 tables round the rows.
//   - compact: the same without a cache; weights: other methods (LoRA,
//     BitFit, ...), their parameters.
//
// Row caches are the only soft part: when a task's own memory (factors,
// tables, head) does not fit, the server drops other tasks' caches, largest
// first, between two forward passes (the worker's lock), until it does;
// those tasks go on compact, with the same results. If it still does not
// fit, the load is refused (PUT: 507 Insufficient Storage; at startup the
// command fails) with the sizes in the message, and nothing changes. A
// factor file's data size is checked before it is read, so a refused task
// never allocates. A replaced task's memory counts as freed at the swap
// (requests in flight may hold the old adapter a little longer).
// Per-task overrides go in the PUT body: "fuse" ("none" or a dtype),
// "row_cache_rows" (negative: none), "head_only". GET /v1/tasks reports
// each task's form, resident_bytes, row_cache_bytes and mapped_bytes and
// the budget's state ("memory"); /metrics has aotp_task_form,
// aotp_task_resident_bytes, aotp_task_row_cache_bytes,
// aotp_task_mapped_bytes, aotp_memory_budget_bytes,
// aotp_memory_committed_bytes and aotp_memory_mapped_bytes. Without a
// budget the forms are chosen the same way with no bound.
//
// # Hot swap
//
// Tasks live in a registry of reference-counted entries. The registry
// holds one reference to each current entry; a request takes one per task
// it uses while resolving its inputs (under the registry's read lock, so an
// entry that has left the registry can never gain a new reference) and
// gives it back when the worker has computed or dropped its last sequence.
// PUT /v1/tasks/{name} loads the new adapter first (outside any lock the
// request path takes), swaps it in and drops the registry's reference to
// the old one; DELETE just drops it. Requests in flight therefore finish on
// the adapter they started with, new ones see the new adapter, none fails,
// and an old adapter (and its mapped file) is closed right after its last
// request. Task changes need the bearer admin token (401 without it, 403
// when none is configured) and are logged, one line each.
//
// # Shutdown
//
// Serve, when its context ends (SIGTERM/SIGINT in the CLI), turns /readyz
// false and answers new predictions 503 (for DrainDelay, so load balancers
// notice), closes the listener, waits up to ShutdownTimeout for requests in
// flight, lets the worker finish the queue and releases every task.
//
// # Routes
//
// POST /v1/predict, GET /v1/tasks (tasks, their forms and bytes, and the
// memory budget), PUT and DELETE /v1/tasks/{name} (PUT body: "adapter",
// and optionally "fuse", "row_cache_rows", "head_only"),
// GET /healthz, /readyz, /metrics (Prometheus: queue depth, batch size in
// sequences and tokens, tokens computed, latency per task, requests by
// route and code, tasks loaded, table bytes per task, Go and process
// metrics). Hugging Face text-embeddings-inference compatibility under
// /tasks/{name}/ (and at the root for DefaultTask): POST /predict (a string,
// a pair, or a batch; softmax scores, sigmoid for a single logit, or
// raw_scores; sorted best first), POST /tokenize (tokens with id, text,
// special, start, stop in characters; offsets are aligned best effort since
// the tokenizer does not track them), GET /info, GET /health. Errors are
// {"error": message, "error_type": kind}.
package serve
