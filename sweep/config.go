package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Config is a sweep's grid (see the package documentation for the file).
type Config struct {
	Model     string                    `yaml:"model"`
	Data      string                    `yaml:"data"`
	Tasks     []TaskSpec                `yaml:"tasks"`
	Seeds     []uint64                  `yaml:"seeds"`
	LR        []float64                 `yaml:"lr"`
	Train     map[string]any            `yaml:"train"`
	TaskTrain map[string]map[string]any `yaml:"task_train"`
	Methods   []MethodSpec              `yaml:"methods"`
}

// TaskSpec is one task of the grid: a GLUE/SuperGLUE name, or a custom task
// with its own files.
type TaskSpec struct {
	Name  string // name in run names and tables
	Task  string // aotp train --task ("custom" when Train is set)
	Train string // custom: training JSONL
	Dev   string // custom: dev JSONL
}

// MethodSpec is one method entry: a table row and its hyperparameter grid.
type MethodSpec struct {
	Name   string           // table row (default: Method)
	Method string           // aotp train --method
	LR     []float64        // learning rates (default: Config.LR)
	Train  map[string]any   // fixed train options of this entry
	Grid   map[string][]any // hyperparameter -> alternatives (keys normalised to flag names)
}

// UnmarshalYAML reads a task as a plain name or {name, task, train, dev}.
func (t *TaskSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		t.Name = n.Value
		return nil
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("line %d: a task is a name or {name, task, train, dev}: %v", n.Line, err)
	}
	for k, v := range m {
		switch k {
		case "name":
			t.Name = v
		case "task":
			t.Task = v
		case "train":
			t.Train = v
		case "dev":
			t.Dev = v
		default:
			return fmt.Errorf("line %d: unknown task key %q (have name, task, train, dev)", n.Line, k)
		}
	}
	return nil
}

// UnmarshalYAML reads a method entry: reserved keys, then every other key
// as a grid hyperparameter.
func (m *MethodSpec) UnmarshalYAML(n *yaml.Node) error {
	var raw map[string]any
	if err := n.Decode(&raw); err != nil {
		return fmt.Errorf("line %d: a method entry is a mapping: %v", n.Line, err)
	}
	m.Grid = map[string][]any{}
	for k, v := range raw {
		switch k {
		case "name":
			m.Name = fmt.Sprint(v)
		case "method":
			m.Method = fmt.Sprint(v)
		case "lr":
			lrs, err := floats(v)
			if err != nil {
				return fmt.Errorf("line %d: lr: %v", n.Line, err)
			}
			m.LR = lrs
		case "train":
			t, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("line %d: train: want a mapping of aotp train options", n.Line)
			}
			m.Train = t
		default:
			key := flagName(k)
			if _, dup := m.Grid[key]; dup {
				return fmt.Errorf("line %d: hyperparameter %q given twice", n.Line, key)
			}
			if l, ok := v.([]any); ok {
				if len(l) == 0 {
					return fmt.Errorf("line %d: %s: empty list", n.Line, k)
				}
				m.Grid[key] = l
			} else {
				m.Grid[key] = []any{v}
			}
		}
	}
	return nil
}

func floats(v any) ([]float64, error) {
	l, ok := v.([]any)
	if !ok {
		l = []any{v}
	}
	out := make([]float64, 0, len(l))
	for _, x := range l {
		switch x := x.(type) {
		case float64:
			out = append(out, x)
		case int:
			out = append(out, float64(x))
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			out = append(out, f)
		default:
			return nil, fmt.Errorf("%v is not a number", x)
		}
	}
	return out, nil
}

// flagName turns a config key into the aotp train flag name.
func flagName(k string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "_", "-"))
}

// reserved are train flags the sweep sets itself.
var reserved = map[string]string{
	"model": "model:", "data": "data:", "task": "tasks:", "method": "methods:", "out": "--out",
	"lr": "lr:", "seed": "seeds:", "train": "tasks: {train: ...}", "dev": "tasks: {dev: ...}", "init": "(not supported in a sweep)",
}

// Load reads a config file, resolving relative paths against its folder.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.resolvePaths(filepath.Dir(path))
	return c, nil
}

// Parse reads a config (YAML or JSON) and checks it; paths are kept as written.
func Parse(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty config")
		}
		return nil, err
	}
	return &c, c.check()
}

func (c *Config) check() error {
	if len(c.Tasks) == 0 {
		return fmt.Errorf("no tasks")
	}
	if len(c.Methods) == 0 {
		return fmt.Errorf("no methods")
	}
	if len(c.Seeds) == 0 {
		return fmt.Errorf("no seeds")
	}
	seen := map[string]bool{}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if t.Name == "" {
			return fmt.Errorf("task %d has no name", i+1)
		}
		if strings.ContainsAny(t.Name, "/\\ ") {
			return fmt.Errorf("task name %q: no slashes or spaces", t.Name)
		}
		if t.Task == "" {
			t.Task = t.Name
			if t.Train != "" {
				t.Task = "custom"
			}
		}
		if t.Task == "custom" && t.Train == "" {
			return fmt.Errorf("custom task %s needs train: FILE (and dev: FILE)", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("task %s listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	checkOpts := func(where string, o map[string]any) error {
		for k := range o {
			if use, ok := reserved[flagName(k)]; ok {
				return fmt.Errorf("%s: %s is set by the sweep: use %s", where, k, use)
			}
		}
		return nil
	}
	if err := checkOpts("train", c.Train); err != nil {
		return err
	}
	for t, o := range c.TaskTrain {
		if !seen[t] {
			return fmt.Errorf("task_train: %s is not one of the tasks", t)
		}
		if err := checkOpts("task_train."+t, o); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	for i := range c.Methods {
		m := &c.Methods[i]
		if m.Method == "" {
			return fmt.Errorf("method entry %d has no method", i+1)
		}
		if m.Name == "" {
			m.Name = m.Method
		}
		if names[m.Name] {
			return fmt.Errorf("two method entries are named %s: give them different name: keys", m.Name)
		}
		names[m.Name] = true
		if m.LR == nil {
			m.LR = c.LR
		}
		if len(m.LR) == 0 {
			return fmt.Errorf("method %s has no learning rate (set lr: at the top or in the entry)", m.Name)
		}
		for _, lr := range m.LR {
			if !(lr > 0) {
				return fmt.Errorf("method %s: learning rate %v", m.Name, lr)
			}
		}
		if err := checkOpts("method "+m.Name, m.Train); err != nil {
			return err
		}
		for k := range m.Grid {
			if use, ok := reserved[k]; ok {
				return fmt.Errorf("method %s: %s is set by the sweep: use %s", m.Name, k, use)
			}
		}
	}
	return nil
}

// resolvePaths expands ${VAR} and makes relative paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	rel := func(p string) string {
		p = os.ExpandEnv(p)
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil {
			return abs
		}
		return filepath.Join(dir, p)
	}
	c.Data = rel(c.Data)
	for i := range c.Tasks {
		c.Tasks[i].Train = rel(c.Tasks[i].Train)
		c.Tasks[i].Dev = rel(c.Tasks[i].Dev)
	}
	// a model is a folder or a hub name: relative to dir when that folder exists
	c.Model = os.ExpandEnv(c.Model)
	if c.Model != "" && !filepath.IsAbs(c.Model) {
		if st, err := os.Stat(filepath.Join(dir, c.Model)); err == nil && st.IsDir() {
			c.Model = rel(c.Model)
		}
	}
}
