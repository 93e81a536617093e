package serve

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
	"github.com/aotp/aotp/safetensors"
)

// errOverBudget is returned when a task's memory does not fit in
// Options.MemoryBudget (HTTP 507).
var errOverBudget = errors.New("over the memory budget")

// Serving forms of a task (TaskInfo.Form), chosen when it loads.
const (
	FormMapped   = "mapped"    // fused adapter file, memory-mapped: rows page in on demand
	FormFused    = "fused"     // factors fused into tables in memory at load (--fuse-on-load)
	FormCached   = "cached"    // compact factors with a row cache of hot ids
	FormCompact  = "compact"   // compact factors, rows computed per batch
	FormWeights  = "weights"   // another method's weights (LoRA, BitFit, ...)
	FormHeadOnly = "head-only" // only the head, over the plain backbone (baseline)
)

// DefaultRowCacheRows is the cap on a compact task's row cache: rows of this
// many distinct ids per layer (the hot vocabulary of most text).
const DefaultRowCacheRows = 2048

// TaskOptions override the server-wide serving choices for one task.
type TaskOptions struct {
	// Fuse: "" uses Options.FuseOnLoad; "none" keeps the task compact;
	// f32, f16, bf16 or int8 fuses a factor adapter in memory if it fits.
	Fuse string `json:"fuse,omitempty"`
	// RowCacheRows: 0 uses Options.RowCacheRows; negative: no cache.
	RowCacheRows int `json:"row_cache_rows,omitempty"`
	// HeadOnly serves only the adapter's head over the plain backbone
	// (its method is ignored): the baseline of what adapters cost.
	HeadOnly bool `json:"head_only,omitempty"`
}

// fuseDtypeBytes is the storage per table element of each fused dtype.
var fuseDtypeBytes = map[string]int64{"f32": 4, "f16": 2, "bf16": 2, "int8": 1}

// CheckFuse validates a --fuse-on-load value.
func CheckFuse(s string) error {
	if _, ok := fuseDtypeBytes[s]; ok || s == "" || s == "none" {
		return nil
	}
	return fmt.Errorf("fuse %q: want none, f32, f16, bf16 or int8", s)
}

// fusedBytes is the memory of an AoT task's tables fused to dtype.
func fusedBytes(a *peft.AoT, dtype string) int64 {
	n := int64(a.L) * int64(a.V) * int64(a.C) * fuseDtypeBytes[dtype]
	if dtype == "int8" {
		n += int64(a.L) * int64(a.V) * 4 // row scales
	}
	return n
}

// MemoryInfo is the budget's state (GET /v1/tasks "memory").
type MemoryInfo struct {
	Budget       int64 `json:"budget_bytes"` // 0: none
	Backbone     int64 `json:"backbone_bytes"`
	TaskResident int64 `json:"task_resident_bytes"`
	RowCaches    int64 `json:"row_cache_bytes"`
	Mapped       int64 `json:"mapped_bytes"` // not counted against the budget
	Free         int64 `json:"free_bytes"`   // -1: no budget
}

// memory returns the accounting; call with adminMu held.
func (s *Server) memory() MemoryInfo {
	m := MemoryInfo{Budget: s.opts.MemoryBudget, Backbone: s.backboneBytes, Free: -1}
	for _, t := range s.reg.snapshot() {
		m.TaskResident += t.resident
		m.RowCaches += t.cacheBytes
		m.Mapped += t.mapped
	}
	if m.Budget > 0 {
		m.Free = m.Budget - m.Backbone - m.TaskResident - m.RowCaches
	}
	return m
}

// Memory reports the memory budget's state.
func (s *Server) Memory() MemoryInfo {
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	return s.memory()
}

// free is the budget left if the task now under name (being replaced) is
// gone; math.MaxInt64 without a budget. Call with adminMu held.
func (s *Server) free(name string) int64 {
	if s.opts.MemoryBudget <= 0 {
		return math.MaxInt64
	}
	m := s.memory()
	if old := s.reg.peek(name); old != nil {
		m.Free += old.resident + old.cacheBytes
	}
	return m.Free
}

// reclaimable is what dropping every other task's row cache would free.
func (s *Server) reclaimable(name string) int64 {
	var n int64
	for _, t := range s.reg.snapshot() {
		if t.name != name {
			n += t.cacheBytes
		}
	}
	return n
}

// reclaim drops other tasks' row caches, largest first, until need bytes
// are free; it reports whether they are. Caches are dropped between
// batches (the worker's lock), so no forward pass sees one vanish. Call
// with adminMu held.
func (s *Server) reclaim(name string, need int64) bool {
	if s.free(name) >= need {
		return true
	}
	var ts []*task
	for _, t := range s.reg.snapshot() {
		if t.name != name && t.cacheBytes > 0 {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b *task) int { return cmp.Compare(b.cacheBytes, a.cacheBytes) })
	for _, t := range ts {
		if s.free(name) >= need {
			break
		}
		s.b.exclusive(func() { t.ad.AoT.Cache = nil })
		s.log.Info("memory budget: dropped a row cache to make room", "task", t.name, "bytes", t.cacheBytes, "for", name)
		t.mu.Lock()
		t.cacheBytes, t.form = 0, FormCompact
		t.mu.Unlock()
		s.setTaskMetrics(t)
	}
	return s.free(name) >= need
}

// loadTask loads an adapter directory as task name and chooses its serving
// form within the memory budget (see the package doc, "Memory budget").
// Call with adminMu held.
func (s *Server) loadTask(name, dir string, o TaskOptions) (*task, error) {
	if !validTaskName(name) {
		return nil, fmt.Errorf("task name %q: use 1-64 letters, digits, '-', '_' or '.'", name)
	}
	if err := CheckFuse(o.Fuse); err != nil {
		return nil, fmt.Errorf("task %q: %w", name, err)
	}
	budget := s.opts.MemoryBudget
	cfg, err := peft.ReadConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("task %q: loading adapter: %w", name, err)
	}
	// Before reading anything into memory: a factor file is read whole, so
	// its size is a lower bound of the task's resident memory.
	if budget > 0 && cfg.Reparam != "fused" {
		if n := tensorBytes(filepath.Join(dir, peft.WeightsFile)); n > 0 {
			if avail := s.free(name) + s.reclaimable(name); n > avail {
				return nil, fmt.Errorf("task %q: adapter %s needs at least %s, %w: %s left of %s, row caches included",
					name, dir, FormatBytes(n), errOverBudget, FormatBytes(max(0, avail)), FormatBytes(budget))
			}
		}
	}
	ad, err := peft.Load(s.enc, dir)
	if err != nil {
		return nil, fmt.Errorf("task %q: loading adapter: %w", name, err)
	}
	ad.DropGrads() // serving only: the factors' resident size is what adapterBytes counts
	switch {
	case ad.Head == nil:
		err = fmt.Errorf("task %q: adapter %s has no task head", name, dir)
	case ad.Config.ProblemType == model.MultipleChoice:
		err = fmt.Errorf("task %q: %w", name, errMultipleChoice)
	}
	if err != nil {
		ad.Close()
		return nil, err
	}
	t := &task{name: name, dir: dir, ad: ad, own: ad, log: s.log}
	if err := s.chooseForm(t, o); err != nil {
		ad.Close()
		return nil, err
	}
	t.tableBytes = adapterBytes(t.ad)
	return t, nil
}

// chooseForm sets t's form, resident and mapped bytes, fusing or adding a
// row cache as the options and the budget allow.
func (s *Server) chooseForm(t *task, o TaskOptions) error {
	ad := t.ad
	if o.HeadOnly {
		cfg := *ad.Config
		t.ad = &peft.Adapter{Config: &cfg, Method: headOnly{}, Head: ad.Head}
		t.form = FormHeadOnly
		t.resident = paramBytes(t.ad.Params())
	} else {
		t.resident = paramBytes(ad.Params())
		switch a := ad.AoT; {
		case a == nil:
			t.form = FormWeights
		case a.Fused():
			t.mapped = a.MappedBytes()
			t.resident += a.TableBytes() - t.mapped
			t.form = FormMapped
			if t.mapped == 0 {
				t.form = FormFused // read into memory (no mmap on this platform)
			}
		}
	}
	free := s.free(t.name)
	if t.form == "" { // a compact AoT task
		a := ad.AoT
		fuse := o.Fuse
		if fuse == "" {
			fuse = s.opts.FuseOnLoad
		}
		if fuse != "" && fuse != "none" {
			need := fusedBytes(a, fuse)
			transient := int64(0)
			if fuse != "f32" {
				transient = int64(a.V) * int64(a.C) * 4 // one layer's f32 rows while fusing
			}
			if t.resident+need+transient <= free {
				if err := ad.Fuse(fuse); err != nil {
					return fmt.Errorf("task %q: fusing: %w", t.name, err)
				}
				t.resident += need
				t.form = FormFused
			} else {
				s.log.Warn("memory budget: serving compact instead of fused", "task", t.name, "fuse", fuse,
					"needs", FormatBytes(t.resident+need+transient), "free", FormatBytes(free))
			}
		}
		if t.form == "" {
			t.form = FormCompact
			rows := o.RowCacheRows
			if rows == 0 {
				rows = s.opts.RowCacheRows
			}
			if rows > 0 {
				want := int64(rows) * int64(a.L) * int64(a.C) * 4
				if free != math.MaxInt64 {
					// a share of what the budget leaves, so later tasks
					// find room; reclaimed when a task's own memory needs it
					want = min(want, (free-t.resident)/8)
				}
				if c := peft.NewRowCache(a.L, a.C, want); c != nil {
					a.Cache = c
					t.cacheBytes = c.Bytes()
					t.form = FormCached
				}
			}
		}
	}
	if t.resident+t.cacheBytes > free && !s.reclaim(t.name, t.resident+t.cacheBytes) {
		m := s.memory()
		return fmt.Errorf("task %q: serving it %s needs %s, %w: %s free of %s (backbone %s, %d tasks %s, row caches %s)",
			t.name, t.form, FormatBytes(t.resident+t.cacheBytes), errOverBudget, FormatBytes(max(0, s.free(t.name))),
			FormatBytes(m.Budget), FormatBytes(m.Backbone), len(s.reg.snapshot()), FormatBytes(m.TaskResident), FormatBytes(m.RowCaches))
	}
	return nil
}

// tensorBytes is the size of a safetensors file's data section (0 if it
// cannot be read: loading will say why).
func tensorBytes(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	return st.Size() - f.DataOffset()
}

func paramBytes(ps []*model.Param) int64 {
	var n int64
	for _, p := range ps {
		n += int64(len(p.Data)) * 4
	}
	return n
}

// headOnly is the method of a head-only task: no hooks, no weights.
type headOnly struct{}

func (headOnly) Params() []*model.Param { return nil }

// ParseBytes reads a size: a number with an optional unit B, KB, MB, GB,
// TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. "8GiB".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(unit)]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	return int64(v * mult), nil
}

// FormatBytes writes n in binary units (e.g. "1.50 GiB").
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
