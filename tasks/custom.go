package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// customInfo records how a custom task's labels are written.
type customInfo struct {
	kind      labelKind
	trainPath string
}

type labelKind int

const (
	kindNone   labelKind = iota
	kindInt              // JSON integers: used directly as class ids
	kindString           // strings (and booleans): numbered in sorted order
	kindFloat            // non-integer numbers: regression targets
)

func (k labelKind) String() string {
	return [...]string{"none", "integer", "string", "number"}[k]
}

func init() {
	register("custom", func() *Task {
		return &Task{Name: "custom", Benchmark: BenchmarkCustom, Problem: ProblemClassification,
			load: loadCustom, cust: &customInfo{}}
	})
}

type jsonCustom struct {
	Text     *string         `json:"text"`
	TextPair *string         `json:"text_pair"`
	Label    json.RawMessage `json:"label"`
	Idx      json.RawMessage `json:"idx"`
	ID       json.RawMessage `json:"id"`
}

// customLabel classifies a raw JSON label. For kindString the string is
// returned, for kindInt/kindFloat the number.
func customLabel(raw json.RawMessage) (labelKind, string, float64, error) {
	s := bytes.TrimSpace(raw)
	if isNull(s) {
		return kindNone, "", 0, nil
	}
	switch s[0] {
	case '"':
		var v string
		if err := json.Unmarshal(s, &v); err != nil {
			return 0, "", 0, fmt.Errorf("bad label %s: %v", s, err)
		}
		return kindString, v, 0, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(s, &b); err != nil {
			return 0, "", 0, fmt.Errorf("bad label %s", s)
		}
		return kindString, strconv.FormatBool(b), 0, nil
	}
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return 0, "", 0, fmt.Errorf("bad label %s (want a string, boolean or number)", s)
	}
	if bytes.ContainsAny(s, ".eE") {
		return kindFloat, "", v, nil
	}
	return kindInt, "", v, nil
}

// NewCustom builds the "custom" task from its training file, a JSONL file of
// {"text": ..., "text_pair": ... (optional), "label": ...} objects (optional
// "idx"/"id" become Example.ID). The label type decides the problem:
//
//   - integers: class ids as written; Labels = "0".."max" (ids must be >= 0);
//   - strings (or booleans, read as "false"/"true"): classes numbered in
//     sorted (byte) order, Labels = the sorted names (id2label);
//   - any number written with ".", "e" or "E" (0.5, 3.0, 1e3): regression,
//     Target = value.
//
// Mixing strings and numbers is an error. Use NewCustomProblem to force a
// problem (e.g. regression on integer ratings); setting Problem to
// ProblemRegression on the returned task before Load has the same effect.
func NewCustom(trainPath string) (*Task, error) { return NewCustomProblem(trainPath, "") }

// NewCustomProblem is NewCustom with the problem type forced: "" infers it,
// ProblemRegression accepts any numeric labels (integers included),
// ProblemClassification rejects non-integer numbers.
func NewCustomProblem(trainPath, problem string) (*Task, error) {
	t, _ := Lookup("custom")
	t.cust.trainPath = trainPath
	kind := kindNone
	kindLine := 0
	names := map[string]bool{}
	maxID := -1
	rows := 0
	err := eachJSON(trainPath, func(v *jsonCustom, n int) error {
		k, s, f, err := customLabel(v.Label)
		if err != nil {
			return err
		}
		if k == kindNone {
			return fmt.Errorf("missing label")
		}
		rows++
		switch {
		case kind == kindNone:
			kind, kindLine = k, n
		case kind == kindString && k != kindString, kind != kindString && k == kindString:
			return fmt.Errorf("%s label mixed with %s labels (first at line %d)", k, kind, kindLine)
		case k == kindFloat:
			kind = kindFloat
		}
		switch k {
		case kindString:
			names[s] = true
		case kindInt:
			if f < 0 || f > 1e6 {
				return fmt.Errorf("integer label %v out of range (class ids are 0..1000000)", f)
			}
			maxID = max(maxID, int(f))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rows == 0 {
		return nil, lineErr(trainPath, 0, "no labeled examples")
	}
	t.cust.kind = kind
	if problem == "" {
		problem = ProblemClassification
		if kind == kindFloat {
			problem = ProblemRegression
		}
	}
	switch problem {
	case ProblemRegression:
		if kind == kindString {
			return nil, lineErr(trainPath, 0, "regression needs numeric labels, found string labels")
		}
	case ProblemClassification:
		if kind == kindFloat {
			return nil, lineErr(trainPath, 0, "non-integer labels cannot be class ids; use problem %q", ProblemRegression)
		}
		if kind == kindString {
			t.Labels = sortedKeys(names)
		} else {
			for i := 0; i <= maxID; i++ {
				t.Labels = append(t.Labels, strconv.Itoa(i))
			}
		}
	default:
		return nil, fmt.Errorf("custom task: unsupported problem %q (want %q or %q)", problem, ProblemClassification, ProblemRegression)
	}
	t.setProblem(problem)
	return t, nil
}

func (t *Task) setProblem(problem string) {
	t.Problem = problem
	t.lab = labelMap(t.Labels)
	switch {
	case problem == ProblemRegression:
		t.Labels, t.lab = nil, nil
		t.Metrics = []string{MetricPearson, MetricSpearman}
	case len(t.Labels) == 2:
		t.Metrics = []string{MetricAccuracy, MetricF1}
	case len(t.Labels) > 2:
		t.Metrics = []string{MetricAccuracy, MetricMacroF1}
	default:
		t.Metrics = []string{MetricAccuracy}
	}
}

// loadCustom reads a custom JSONL file. A classification task without Labels
// (Lookup("custom")) takes them from the file when split is "train".
func loadCustom(t *Task, path, split string) ([]Example, error) {
	if t.Problem == ProblemClassification && t.Labels == nil {
		if split != SplitTrain {
			return nil, fmt.Errorf("task custom: labels unknown; build the task with NewCustom(trainPath) or load the train split first")
		}
		nt, err := NewCustomProblem(path, "")
		if err != nil {
			return nil, err
		}
		*t = *nt
	}
	if t.Problem == ProblemRegression && t.Labels != nil {
		// Problem set to regression by hand on a classification task.
		t.setProblem(ProblemRegression)
	}
	var out []Example
	err := eachJSON(path, func(v *jsonCustom, n int) error {
		if v.Text == nil {
			return fmt.Errorf("missing field %q", "text")
		}
		ex := Example{Text: *v.Text, Label: unlabeled, ID: exampleID(v.Idx, n)}
		if v.Idx == nil {
			ex.ID = exampleID(v.ID, n)
		}
		if v.TextPair != nil {
			ex.TextPair = *v.TextPair
		}
		if split != SplitTest {
			k, s, f, err := customLabel(v.Label)
			if err != nil {
				return err
			}
			switch {
			case k == kindNone:
				return fmt.Errorf("missing label")
			case t.Problem == ProblemRegression:
				if k == kindString {
					return fmt.Errorf("label %q is not a number (task is regression)", s)
				}
				ex.Target = f
			case k == kindString:
				id, ok := t.lab[s]
				if !ok {
					return fmt.Errorf("label %q is not among the training labels %q", s, t.Labels)
				}
				ex.Label = id
			case k == kindFloat:
				return fmt.Errorf("non-integer label %v in a classification task", f)
			default:
				if f < 0 || f >= float64(len(t.Labels)) {
					return fmt.Errorf("label %v is not a class id of the training file (0..%d)", f, len(t.Labels)-1)
				}
				if t.cust != nil && t.cust.kind == kindString {
					return fmt.Errorf("integer label %v but the training labels are strings %q", f, t.Labels)
				}
				ex.Label = int(f)
			}
		}
		out = append(out, ex)
		return nil
	})
	return out, err
}

// CheckLabels reports dev (or test) labels that never occur in train: a
// model cannot learn them and Evaluate would count them as errors. Unlabeled
// examples (Label < 0, e.g. regression or test) are ignored. The error lists
// each missing label with its count and the first example ID.
func CheckLabels(train, dev []Example) error {
	have := map[int]bool{}
	for _, ex := range train {
		if ex.Label >= 0 {
			have[ex.Label] = true
		}
	}
	type miss struct {
		n     int
		first string
	}
	missing := map[int]*miss{}
	for _, ex := range dev {
		if ex.Label < 0 || have[ex.Label] {
			continue
		}
		m := missing[ex.Label]
		if m == nil {
			m = &miss{first: ex.ID}
			missing[ex.Label] = m
		}
		m.n++
	}
	if len(missing) == 0 {
		return nil
	}
	ids := make([]int, 0, len(missing))
	for id := range missing {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var b bytes.Buffer
	b.WriteString("labels that occur in dev but never in train:")
	for i, id := range ids {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " label %d (%d examples, first ID %s)", id, missing[id].n, missing[id].first)
	}
	return fmt.Errorf("%s", b.String())
}

// CustomFromLabels rebuilds a custom task from the id2label an adapter
// recorded, so a trained adapter can be evaluated on a dev file alone.
// Labels "0".."n-1" mean the file wrote integer class ids; anything else
// means string labels.
func CustomFromLabels(labels []string, problem string) (*Task, error) {
	t := registry["custom"]()
	if problem == "" {
		problem = ProblemClassification
	}
	kind := kindInt
	for i, l := range labels {
		if l != strconv.Itoa(i) {
			kind = kindString
		}
	}
	if problem == ProblemClassification {
		if len(labels) == 0 {
			return nil, fmt.Errorf("custom task: no labels recorded")
		}
		t.Labels = append([]string(nil), labels...)
	}
	t.cust.kind = kind
	t.setProblem(problem)
	return t, nil
}
