package serve

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aotp/aotp/model"
	"github.com/aotp/aotp/peft"
)

// taskInfo returns the server's info for one task.
func taskInfo(t *testing.T, s *Server, name string) TaskInfo {
	t.Helper()
	for _, ti := range s.Tasks() {
		if ti.Name == name {
			return ti
		}
	}
	t.Fatalf("task %q is not loaded", name)
	return TaskInfo{}
}

// sizes measures a compact task's resident bytes and the size of a
// full row cache of the default cap, without a budget.
func sizes(t *testing.T) (resident, cache int64) {
	t.Helper()
	s, _ := start(t, Options{}, "sentiment")
	ti := taskInfo(t, s, "sentiment")
	if ti.Form != FormCached || ti.RowCacheBytes <= 0 || ti.ResidentBytes <= 0 || ti.MappedBytes != 0 {
		t.Fatalf("no budget: compact task served as %+v, want cached with a full cache", ti)
	}
	return ti.ResidentBytes, ti.RowCacheBytes
}

func TestMemoryBudgetChoosesForms(t *testing.T) {
	resident, _ := sizes(t)
	backbone := int64(shared.enc.NumParams()) * 4
	// room for the compact task, the mapped tasks' heads and a small cache
	budget := backbone + 3*resident
	s, ts := start(t, Options{MemoryBudget: budget}, "sentiment", "topic", "topic2")

	c := taskInfo(t, s, "sentiment")
	if c.Form != FormCached || c.ResidentBytes != resident {
		t.Errorf("sentiment: %+v, want cached with %d resident bytes", c, resident)
	}
	// the cache gets at most 1/8 of what the budget left when it loaded
	if limit := (budget - backbone - resident) / 8; c.RowCacheBytes <= 0 || c.RowCacheBytes > limit {
		t.Errorf("sentiment: row cache of %d bytes, want 1..%d", c.RowCacheBytes, limit)
	}
	for _, name := range []string{"topic", "topic2"} {
		m := taskInfo(t, s, name)
		if m.Form != FormMapped || m.MappedBytes <= 0 || m.ResidentBytes >= m.MappedBytes || m.RowCacheBytes != 0 {
			t.Errorf("%s: %+v, want mapped with only its head resident", name, m)
		}
	}
	mem := s.Memory()
	if used := mem.Backbone + mem.TaskResident + mem.RowCaches; used > budget || mem.Free != budget-used {
		t.Errorf("memory %+v: over the budget %d or free inconsistent", mem, budget)
	}

	// GET /v1/tasks and /metrics expose the forms and bytes
	code, body := post(t, nil, "GET", ts.URL+"/v1/tasks", nil)
	var out struct {
		Tasks  []TaskInfo `json:"tasks"`
		Memory MemoryInfo `json:"memory"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Tasks) != 3 || out.Memory.Budget != budget {
		t.Fatalf("GET /v1/tasks: %d %s", code, body)
	}
	code, body = post(t, nil, "GET", ts.URL+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, want := range []string{`aotp_task_form{form="cached",task="sentiment"} 1`, `aotp_task_form{form="mapped",task="topic"} 1`,
		"aotp_memory_budget_bytes", `aotp_task_resident_bytes{task="sentiment"}`, `aotp_task_mapped_bytes{task="topic2"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMemoryBudgetFuseOnLoad(t *testing.T) {
	resident, _ := sizes(t)
	backbone := int64(shared.enc.NumParams()) * 4
	a := loadedAoT(t)
	f16 := int64(a.L) * int64(a.V) * int64(a.C) * 2
	transient := int64(a.V) * int64(a.C) * 4

	// enough for the fused table: fused in memory
	s, _ := start(t, Options{MemoryBudget: backbone + resident + f16 + transient, FuseOnLoad: "f16"}, "sentiment")
	if ti := taskInfo(t, s, "sentiment"); ti.Form != FormFused || ti.Dtype != "f16" || ti.ResidentBytes != resident+f16 || ti.MappedBytes != 0 {
		t.Errorf("fuse-on-load with room: %+v, want fused f16 of %d bytes", ti, resident+f16)
	}
	// not enough: served compact (with what cache fits) instead
	s, _ = start(t, Options{MemoryBudget: backbone + resident + f16/2, FuseOnLoad: "f16"}, "sentiment")
	if ti := taskInfo(t, s, "sentiment"); ti.Form != FormCached || ti.ResidentBytes != resident {
		t.Errorf("fuse-on-load without room: %+v, want cached", ti)
	}
	// a per-task override: compact even though the server fuses
	s, _ = start(t, Options{FuseOnLoad: "int8"})
	if _, err := s.LoadTaskWith("c", shared.adapters["sentiment"], TaskOptions{Fuse: "none", RowCacheRows: -1}); err != nil {
		t.Fatal(err)
	}
	if ti := taskInfo(t, s, "c"); ti.Form != FormCompact || ti.RowCacheBytes != 0 {
		t.Errorf("override fuse none, no cache: %+v", ti)
	}
	if _, err := s.LoadTaskWith("x", shared.adapters["sentiment"], TaskOptions{Fuse: "f8"}); err == nil {
		t.Error("fuse f8 accepted")
	}
}

func TestMemoryBudgetRefusesAndReclaims(t *testing.T) {
	resident, _ := sizes(t)
	backbone := int64(shared.enc.NumParams()) * 4

	// the backbone alone over the budget: no server
	if _, err := New(shared.enc, shared.tok, Options{MemoryBudget: backbone - 1}); err == nil {
		t.Error("a budget below the backbone was accepted")
	}

	// room for one compact task: the second is refused, the first stays
	s, ts := start(t, Options{MemoryBudget: backbone + resident + resident/2, RowCacheRows: -1, AdminToken: "tok"}, "sentiment")
	_, err := s.LoadTask("score", shared.adapters["score"])
	if err == nil || !IsOverBudget(err) || !strings.Contains(err.Error(), "memory budget") {
		t.Fatalf("second task over the budget: err %v", err)
	}
	code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/score", map[string]string{"adapter": shared.adapters["score"]}, "Authorization", "Bearer tok")
	if code != http.StatusInsufficientStorage || !strings.Contains(string(body), "memory budget") {
		t.Errorf("PUT over the budget: %d %s, want 507", code, body)
	}
	if n := len(s.Tasks()); n != 1 {
		t.Errorf("%d tasks after refusals, want 1", n)
	}
	// replacing a task with one of its size fits: the old one's memory is freed
	if replaced, err := s.LoadTask("sentiment", shared.adapters["sentiment"]); err != nil || !replaced {
		t.Errorf("replace within the budget: %v %v", replaced, err)
	}
	// a mapped task needs only its head
	if _, err := s.LoadTask("topic", shared.adapters["topic"]); err != nil {
		t.Errorf("mapped task within the budget: %v", err)
	}

	// caches give way: the first task's cache takes 1/8 of what is left,
	// the second task's factors need that room, so the cache is dropped
	s2, _ := start(t, Options{MemoryBudget: backbone + resident + resident*21/20, RowCacheRows: math.MaxInt32})
	if _, err := s2.LoadTask("sentiment", shared.adapters["sentiment"]); err != nil {
		t.Fatal(err)
	}
	if ti := taskInfo(t, s2, "sentiment"); ti.Form != FormCached {
		t.Fatalf("first task %+v, want cached", ti)
	}
	if _, err := s2.LoadTask("score", shared.adapters["score"]); err != nil {
		t.Fatalf("second task should fit by dropping the first's cache: %v", err)
	}
	if ti := taskInfo(t, s2, "sentiment"); ti.Form != FormCompact || ti.RowCacheBytes != 0 {
		t.Errorf("first task after reclaiming: %+v, want compact", ti)
	}
	mem := s2.Memory()
	if used := mem.Backbone + mem.TaskResident + mem.RowCaches; used > mem.Budget {
		t.Errorf("over the budget after reclaiming: %+v", mem)
	}
	// the first task still answers exactly, now without its cache
	_, ts2 := s2, httptest.NewServer(s2.Handler())
	defer ts2.Close()
	code, body = post(t, nil, "POST", ts2.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{"the movie was great"}})
	var out predictOut
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || !slices.Equal(out.Predictions[0].Logits, shared.reference(t, shared.adapters["sentiment"], "the movie was great")) {
		t.Errorf("predict after reclaiming: %d %s", code, body)
	}
}

func TestFormsGiveEqualPredictions(t *testing.T) {
	s, ts := start(t, Options{})
	dir := shared.adapters["sentiment"]
	forms := map[string]TaskOptions{
		"compact": {Fuse: "none", RowCacheRows: -1},
		"cached":  {Fuse: "none"},
		"f32":     {Fuse: "f32"},
		"f16":     {Fuse: "f16"},
	}
	for name, o := range forms {
		if _, err := s.LoadTaskWith(name, dir, o); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"compact": FormCompact, "cached": FormCached, "f32": FormFused, "f16": FormFused} {
		if ti := taskInfo(t, s, name); ti.Form != want {
			t.Errorf("%s: form %s, want %s", name, ti.Form, want)
		}
	}
	texts := []string{"the movie was great", "a dull story about the coach", "the movie was great and the soup too"}
	// twice: the second time the cached task takes its rows from the cache
	for round := 0; round < 2; round++ {
		var inputs []in
		for _, text := range texts {
			for name := range forms {
				inputs = append(inputs, in{"task": name, "text": text})
			}
		}
		code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"inputs": inputs})
		var out predictOut
		if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("predict: %d %s", code, body)
		}
		got := map[string][][]float32{}
		for _, p := range out.Predictions {
			got[p.Task] = append(got[p.Task], p.Logits)
		}
		for i, text := range texts {
			ref := shared.reference(t, dir, text)
			for _, name := range []string{"compact", "cached", "f32"} {
				if !slices.Equal(got[name][i], ref) {
					t.Errorf("round %d, %q, %s: logits %v, want %v (compact, alone)", round, text, name, got[name][i], ref)
				}
			}
			// f16 tables: rows rounded to 11 significant bits
			for k, v := range got["f16"][i] {
				if d := math.Abs(float64(v - ref[k])); d > 2e-2*max(1, math.Abs(float64(ref[k]))) {
					t.Errorf("round %d, %q, f16: logit %d = %v, want %v within 2%%", round, text, k, v, ref[k])
				}
			}
		}
	}
}

func TestHeadOnlyTask(t *testing.T) {
	s, ts := start(t, Options{})
	if _, err := s.LoadTaskWith("base", shared.adapters["sentiment"], TaskOptions{HeadOnly: true}); err != nil {
		t.Fatal(err)
	}
	ti := taskInfo(t, s, "base")
	if ti.Form != FormHeadOnly {
		t.Errorf("form %s, want head-only", ti.Form)
	}
	code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "base", "inputs": []string{"the movie was great"}})
	var out predictOut
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Predictions) != 1 {
		t.Fatalf("predict: %d %s", code, body)
	}
	// exactly the plain backbone followed by the adapter's head
	ad, err := peft.Load(shared.enc, shared.adapters["sentiment"])
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	enc, err := shared.tok.Encode("the movie was great")
	if err != nil {
		t.Fatal(err)
	}
	one := model.NewBatch([][]int32{enc.IDs}, [][]int32{enc.TypeIDs})
	h, err := shared.enc.Forward(context.Background(), one, &model.Workspace{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ad.Head.Forward(h, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Predictions[0].Logits, ref) {
		t.Errorf("head-only logits %v, want the plain backbone's %v", out.Predictions[0].Logits, ref)
	}
}

// loadedAoT is the sentiment adapter's AoT (for its shapes).
func loadedAoT(t *testing.T) *peft.AoT {
	t.Helper()
	ad, err := peft.Load(shared.enc, shared.adapters["sentiment"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ad.Close() })
	return ad.AoT
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"8GiB": 8 << 30, "512MiB": 512 << 20, "1.5 GB": 1.5e9, "100": 100, "2kib": 2048, "3MB": 3e6} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1", "8XB", "1e400"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}
