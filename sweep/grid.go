package sweep

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// KV is one flag and its value, as passed to aotp train.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Run is one point of the grid: one `aotp train`.
type Run struct {
	Index   int      // position in the grid's stable order
	Name    string   // "<task>/<method>[-<hparams>]-lr<lr>-seed<seed>"
	Config  string   // Name without the task and the seed: runs differing only by seed share it
	Task    TaskSpec // the task
	Label   string   // table row: the method entry's name
	Method  string   // aotp method
	Hparams []KV     // the grid's hyperparameters of this run, canonical order
	LR      float64
	Seed    uint64
	Options []KV // every other train flag (shared, task and entry options), sorted by key
}

// hparamOrder is the canonical order of hyperparameters in run names;
// keys not listed follow in alphabetical order.
var hparamOrder = []string{"reparam", "activation", "rank", "kron-a", "kron-b", "lora-alpha", "lora-dropout",
	"target-modules", "placement", "bottleneck", "prefix-len", "prefix-hidden", "prompt-len"}

// nameParts: how a hyperparameter appears in a run name ("" = value alone).
var nameParts = map[string]string{
	"reparam": "", "activation": "", "placement": "", "rank": "r", "kron-a": "ka", "kron-b": "kb",
	"lora-alpha": "alpha", "lora-dropout": "ldrop", "target-modules": "tm", "bottleneck": "m",
	"prefix-len": "p", "prefix-hidden": "ph", "prompt-len": "p",
}

func orderedKeys[V any](m map[string]V) []string {
	rank := map[string]int{}
	for i, k := range hparamOrder {
		rank[k] = i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, oki := rank[keys[i]]
		rj, okj := rank[keys[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return keys[i] < keys[j]
	})
	return keys
}

// FormatValue writes a config value as a flag value.
func FormatValue(v any) string {
	switch v := v.(type) {
	case float64:
		return FormatFloat(v)
	case float32:
		return FormatFloat(float64(v))
	case []any:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = FormatValue(x)
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}

// FormatFloat writes numbers below 0.1 as 1e-3, 5e-2 and others as 0.1, 16, 2.5.
func FormatFloat(f float64) string {
	if f != 0 && math.Abs(f) < 0.1 {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e-03
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		if sign == "+" {
			sign = ""
		}
		return mant + "e" + sign + strings.TrimLeft(exp[1:], "0")
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._+=-]`)

func namePart(key, value string) string {
	p, ok := nameParts[key]
	if !ok {
		p = strings.ReplaceAll(key, "-", "")
	}
	return unsafeName.ReplaceAllString(p+strings.ReplaceAll(value, ",", "+"), "_")
}

// MaxRuns bounds a grid: far beyond what a machine trains, and small
// enough that listing it is cheap (a typo such as 30 values in six lists
// would otherwise ask for billions of runs).
const MaxRuns = 100000

// size is the number of runs of the grid, or MaxRuns+1 once it is more.
func (c *Config) size() int {
	total := 0
	for range c.Tasks {
		for _, m := range c.Methods {
			n := len(m.LR) * len(c.Seeds)
			for _, vs := range m.Grid {
				if n = n * len(vs); n > MaxRuns {
					return MaxRuns + 1
				}
			}
			if total += n; total > MaxRuns {
				return MaxRuns + 1
			}
		}
	}
	return total
}

// Expand lists the runs of the grid in their stable order: task, method
// entry, hyperparameters (canonical key order, values as listed), learning
// rate, seed. Two grid points with the same name are an error.
func Expand(c *Config) ([]Run, error) {
	if c.size() > MaxRuns {
		return nil, fmt.Errorf("the grid has more than %d runs (tasks × methods × their values × lr × seeds): split it into several configs", MaxRuns)
	}
	var runs []Run
	byName := map[string]int{}
	for _, t := range c.Tasks {
		for _, m := range c.Methods {
			keys := orderedKeys(m.Grid)
			// options: shared, then the task's, then the entry's (later wins)
			opts := map[string]string{}
			for _, src := range []map[string]any{c.Train, c.TaskTrain[t.Name], m.Train} {
				for k, v := range src {
					opts[flagName(k)] = FormatValue(v)
				}
			}
			for k := range m.Grid {
				delete(opts, k) // the grid wins over fixed options
			}
			var options []KV
			for _, k := range sortedKeys(opts) {
				options = append(options, KV{k, opts[k]})
			}
			// cross product of the grid, last key fastest
			idx := make([]int, len(keys))
			for {
				hp := make([]KV, len(keys))
				parts := []string{m.Method}
				for i, k := range keys {
					hp[i] = KV{k, FormatValue(m.Grid[k][idx[i]])}
					parts = append(parts, namePart(k, hp[i].Value))
				}
				for _, lr := range m.LR {
					cfgName := strings.Join(append(parts, "lr"+FormatFloat(lr)), "-")
					for _, seed := range c.Seeds {
						r := Run{Index: len(runs), Config: cfgName, Task: t, Label: m.Name, Method: m.Method,
							Hparams: hp, LR: lr, Seed: seed, Options: options}
						r.Name = fmt.Sprintf("%s/%s-seed%d", t.Name, cfgName, seed)
						if j, dup := byName[r.Name]; dup {
							return nil, fmt.Errorf("runs %d (%s) and %d (%s) are both named %s: entries of one method need a hyperparameter that tells them apart",
								j, runs[j].Label, r.Index, r.Label, r.Name)
						}
						byName[r.Name] = r.Index
						runs = append(runs, r)
					}
				}
				// next grid point
				i := len(keys) - 1
				for ; i >= 0; i-- {
					idx[i]++
					if idx[i] < len(m.Grid[keys[i]]) {
						break
					}
					idx[i] = 0
				}
				if i < 0 {
					break
				}
			}
		}
	}
	return runs, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Args is the run's `aotp train` command line (without "train").
func (r *Run) Args(model, data, out string) []string {
	a := []string{"--model", model, "--task", r.Task.Task, "--method", r.Method}
	if r.Task.Train != "" {
		a = append(a, "--train", r.Task.Train)
		if r.Task.Dev != "" {
			a = append(a, "--dev", r.Task.Dev)
		}
	} else {
		a = append(a, "--data", data)
	}
	a = append(a, "--out", out, "--lr", FormatFloat(r.LR), "--seed", strconv.FormatUint(r.Seed, 10))
	for _, kv := range r.Hparams {
		a = append(a, "--"+kv.Key+"="+kv.Value)
	}
	for _, kv := range r.Options {
		a = append(a, "--"+kv.Key+"="+kv.Value)
	}
	return a
}

// Shard is the part i of n of a grid: the runs with Index ≡ I mod N.
type Shard struct{ I, N int }

// ParseShard reads "i/n" (0 ≤ i < n); "" is the whole grid (0/1).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 0 <= i < n (e.g. 0/4)", s)
	}
	return Shard{i, n}, nil
}

// Has reports whether the run with this index belongs to the shard.
func (s Shard) Has(index int) bool { return s.N <= 1 || index%s.N == s.I }

// Select returns the shard's runs, in order.
func (s Shard) Select(runs []Run) []Run {
	var out []Run
	for _, r := range runs {
		if s.Has(r.Index) {
			out = append(out, r)
		}
	}
	return out
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }
