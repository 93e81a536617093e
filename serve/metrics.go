package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, on a registry of its own so
// that several servers (tests) never collide.
type metrics struct {
	reg          *prometheus.Registry
	queueSeqs    prometheus.Gauge
	queueTokens  prometheus.Gauge
	queueWait    prometheus.Histogram
	batchSeqs    prometheus.Histogram
	batchTokens  prometheus.Histogram
	batchSeconds prometheus.Histogram
	tokens       prometheus.Counter
	sequences    prometheus.Counter
	dropped      prometheus.Counter
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	tasks        prometheus.Gauge
	taskBytes    *prometheus.GaugeVec
	inflight     prometheus.Gauge
	taskResident *prometheus.GaugeVec
	taskCache    *prometheus.GaugeVec
	taskMapped   *prometheus.GaugeVec
	taskForm     *prometheus.GaugeVec
	budget       prometheus.Gauge
	backbone     prometheus.Gauge
	committed    prometheus.Gauge
	mapped       prometheus.Gauge
}

func newMetrics() *metrics {
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		queueSeqs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_queue_sequences",
			Help: "Sequences waiting for a batch."}),
		queueTokens: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_queue_tokens",
			Help: "Tokens waiting for a batch (bounded by --max-queue)."}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aotp_queue_wait_seconds",
			Help: "Time from enqueue to the start of the sequence's batch.", Buckets: lat}),
		batchSeqs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aotp_batch_sequences",
			Help: "Sequences per forward pass.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		batchTokens: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aotp_batch_tokens",
			Help: "Tokens per forward pass.", Buckets: prometheus.ExponentialBuckets(8, 2, 12)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aotp_batch_duration_seconds",
			Help: "Duration of one mixed-task forward pass.", Buckets: lat}),
		tokens: prometheus.NewCounter(prometheus.CounterOpts{Name: "aotp_tokens_total",
			Help: "Tokens computed (rate() gives tokens/s)."}),
		sequences: prometheus.NewCounter(prometheus.CounterOpts{Name: "aotp_sequences_total",
			Help: "Sequences computed."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "aotp_sequences_dropped_total",
			Help: "Queued sequences dropped because their request was cancelled or timed out."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aotp_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aotp_request_duration_seconds",
			Help: "Latency of successful prediction requests, by task (a mixed request counts for each of its tasks).", Buckets: lat},
			[]string{"task"}),
		tasks: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_tasks_loaded",
			Help: "Tasks currently served."}),
		taskBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aotp_task_table_bytes",
			Help: "Bytes of a task's AoT rows (fused tables in their dtype, or factors) plus head."}, []string{"task"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_requests_in_flight",
			Help: "Prediction requests being handled."}),
		taskResident: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aotp_task_resident_bytes",
			Help: "Process memory of a task (factors or in-memory tables, head), row cache aside; counted in the memory budget."}, []string{"task"}),
		taskCache: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aotp_task_row_cache_bytes",
			Help: "Size of a compact task's row cache when full; counted in the memory budget."}, []string{"task"}),
		taskMapped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aotp_task_mapped_bytes",
			Help: "Memory-mapped fused-table bytes of a task (paged in on demand; not counted in the budget)."}, []string{"task"}),
		taskForm: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aotp_task_form",
			Help: "1 for the form a task is served in (mapped, fused, cached, compact, weights, head-only)."}, []string{"task", "form"}),
		budget: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_memory_budget_bytes",
			Help: "The memory budget (--memory-budget; 0: none)."}),
		backbone: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_backbone_bytes",
			Help: "The backbone's weights, counted in the memory budget."}),
		committed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_memory_committed_bytes",
			Help: "Memory counted in the budget: backbone, tasks and row caches."}),
		mapped: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aotp_memory_mapped_bytes",
			Help: "Memory-mapped fused tables of all tasks (not counted in the budget)."}),
	}
	m.reg.MustRegister(m.queueSeqs, m.queueTokens, m.queueWait, m.batchSeqs, m.batchTokens, m.batchSeconds,
		m.tokens, m.sequences, m.dropped, m.requests, m.latency, m.tasks, m.taskBytes, m.inflight,
		m.taskResident, m.taskCache, m.taskMapped, m.taskForm, m.budget, m.backbone, m.committed, m.mapped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
