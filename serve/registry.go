package serve

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/aotp/aotp/peft"
)

// errMultipleChoice is returned for adapters whose head scores choices: a
// choice set has no form in this API.
var errMultipleChoice = errors.New("multiple-choice tasks are not served")

// task is one loaded adapter under its name. refs counts the registry's own
// reference (while the task is current) plus one per request that uses it;
// the adapter is closed when the count drops to zero, so a request always
// finishes on the adapter it started with, even across a replace or delete.
type task struct {
	name       string
	dir        string
	ad         *peft.Adapter // what serves (a head-only view for FormHeadOnly)
	own        *peft.Adapter // what was loaded and is closed at the end
	tableBytes int64
	resident   int64 // process memory of the task, row cache aside
	mapped     int64 // memory-mapped table bytes (not counted in the budget)
	refs       atomic.Int64
	log        *slog.Logger

	mu         sync.Mutex // guards form and cacheBytes (a cache can be reclaimed)
	form       string
	cacheBytes int64
}

// release drops one reference; the last one closes the adapter.
func (t *task) release() {
	if n := t.refs.Add(-1); n == 0 {
		if err := t.own.Close(); err != nil {
			t.log.Error("closing adapter", "task", t.name, "adapter", t.dir, "err", err)
		}
	} else if n < 0 {
		t.log.Error("task reference count below zero", "task", t.name)
	}
}

// registry maps task names to their current adapters.
type registry struct {
	mu    sync.RWMutex
	tasks map[string]*task
}

// acquire returns the current task of that name with a reference taken, or
// nil. Taking the reference under the read lock means a task that has left
// the map can never gain a new reference.
func (r *registry) acquire(name string) *task {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t := r.tasks[name]
	if t != nil {
		t.refs.Add(1)
	}
	return t
}

// put installs t under its name and returns the task it replaced (nil if
// none); the caller releases the old task's registry reference.
func (r *registry) put(t *task) *task {
	t.refs.Store(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tasks == nil {
		r.tasks = map[string]*task{}
	}
	old := r.tasks[t.name]
	r.tasks[t.name] = t
	return old
}

// remove takes the task out of the map and returns it (nil if absent).
func (r *registry) remove(name string) *task {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tasks[name]
	delete(r.tasks, name)
	return t
}

// peek returns the current task of that name without a reference (nil if
// none): for the admin path, which alone changes the registry.
func (r *registry) peek(name string) *task {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tasks[name]
}

// snapshot lists the current tasks without references.
func (r *registry) snapshot() []*task {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*task, 0, len(r.tasks))
	for _, t := range r.tasks {
		out = append(out, t)
	}
	return out
}

// removeAll empties the registry and returns what it held.
func (r *registry) removeAll() []*task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*task
	for _, t := range r.tasks {
		out = append(out, t)
	}
	r.tasks = nil
	return out
}

// TaskInfo describes a loaded task (GET /v1/tasks).
type TaskInfo struct {
	Name        string            `json:"name"`
	Adapter     string            `json:"adapter"`
	ProblemType string            `json:"problem_type"`
	NumLabels   int               `json:"num_labels"`
	ID2Label    map[string]string `json:"id2label,omitempty"`
	Reparam     string            `json:"reparam"`
	Dtype       string            `json:"dtype,omitempty"`
	TableBytes  int64             `json:"table_bytes"`
	// Form is how the task is served: mapped, fused, cached, compact,
	// weights or head-only (see the package doc, "Memory budget").
	Form          string `json:"form"`
	ResidentBytes int64  `json:"resident_bytes"`  // process memory, row cache aside
	RowCacheBytes int64  `json:"row_cache_bytes"` // row cache when full
	MappedBytes   int64  `json:"mapped_bytes"`    // memory-mapped tables, paged in on demand
}

func (r *registry) list() []TaskInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TaskInfo, 0, len(r.tasks))
	for _, t := range r.tasks {
		out = append(out, t.info())
	}
	slices.SortFunc(out, func(a, b TaskInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func (t *task) info() TaskInfo {
	c := t.ad.Config
	t.mu.Lock()
	defer t.mu.Unlock()
	return TaskInfo{Name: t.name, Adapter: t.dir, ProblemType: c.ProblemType, NumLabels: c.NumLabels,
		ID2Label: c.ID2Label, Reparam: c.Reparam, Dtype: c.Dtype, TableBytes: t.tableBytes,
		Form: t.form, ResidentBytes: t.resident, RowCacheBytes: t.cacheBytes, MappedBytes: t.mapped}
}

// adapterBytes is the memory of a task's adapter: its fused tables in
// their dtype (if any), its method's factors and its head.
func adapterBytes(ad *peft.Adapter) int64 {
	var n int64
	if ad.AoT != nil {
		n += ad.AoT.TableBytes()
	}
	for _, p := range ad.Params() {
		n += int64(len(p.Data)) * 4
	}
	return n
}

func validTaskName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
