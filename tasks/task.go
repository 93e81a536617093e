package tasks

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Problem types (the values of Task.Problem, named as in HF transformers).
const (
	ProblemClassification = "single_label_classification"
	ProblemRegression     = "regression"
	ProblemMultipleChoice = "multiple_choice"
)

// Benchmarks (the values of Task.Benchmark).
const (
	BenchmarkGLUE      = "glue"
	BenchmarkSuperGLUE = "superglue"
	BenchmarkCustom    = "custom"
)

// Canonical split names accepted by Task.Load.
const (
	SplitTrain = "train"
	SplitDev   = "dev"
	SplitTest  = "test"
)

const (
	unlabeled              = -1 // Example.Label of unlabeled examples
	defaultMultipleChoices = 2  // COPA
)

// Metric names used in Task.Metrics and in the maps returned by Evaluate.
const (
	MetricAccuracy = "accuracy"
	MetricF1       = "f1"       // binary F1, positive class 1
	MetricMacroF1  = "macro_f1" // unweighted mean of per-class F1
	MetricMCC      = "mcc"      // Matthews correlation coefficient
	MetricPearson  = "pearson"
	MetricSpearman = "spearman"
	MetricF1a      = "f1a" // MultiRC: binary F1 over all answer options
	MetricEM       = "em"  // MultiRC: fraction of questions with every option right
	// ReCoRD: each query's best-scored candidate against its gold answers
	MetricRecordF1 = "record_f1" // token F1 (SQuAD normalisation), max over the answers
	MetricRecordEM = "record_em" // exact match after normalisation
)

// Example is one model input with its gold answer.
type Example struct {
	Text, TextPair string // model input (pair optional)
	// Choices holds, for multiple-choice tasks (COPA), one (text, pair) per
	// choice; Text/TextPair are then unused.
	Choices []Pair
	Label   int     // class id or correct choice; -1 when unlabeled (test splits, regression)
	Target  float64 // regression target (STS-B, custom regression)
	Group   string  // grouping key for metrics (MultiRC / ReCoRD question), "" otherwise
	ID      string  // idx from the file when present, else the line number
	// ReCoRD: the entity this example puts in the query, and the query's
	// gold answers (nil for test)
	Candidate string
	Answers   []string
}

// Pair is one (text, text pair) model input.
type Pair struct{ Text, TextPair string }

// Prediction is a model output for one Example.
type Prediction struct {
	Label int     // predicted class id or choice index
	Score float64 // predicted value (regression)
	// Margin: binary tasks, logit of class 1 minus that of class 0 (ReCoRD
	// ranks a query's candidates by it)
	Margin float64
}

// Task describes one GLUE / SuperGLUE / custom task.
type Task struct {
	Name       string   // cli name, see Names
	Benchmark  string   // "glue", "superglue", "custom"
	Problem    string   // ProblemClassification, ProblemRegression, ProblemMultipleChoice
	Labels     []string // id2label in id order (nil for regression)
	NumChoices int      // multiple choice only
	Metrics    []string // first is the main metric

	dir   string              // folder name under the benchmark root, e.g. "SST-2"
	files map[string][]string // split -> candidate file names, first found wins
	load  func(*Task, string, string) ([]Example, error)
	cols  *tsvColumns    // GLUE TSV layout
	lab   map[string]int // label name -> id (classification)
	cust  *customInfo    // custom task only
}

// Lookup returns a fresh copy of the named task; callers may modify it.
func Lookup(name string) (*Task, error) {
	mk, ok := registry[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(), nil
}

// Names lists the task names accepted by Lookup: GLUE tasks in leaderboard
// order, then SuperGLUE tasks, then "custom".
func Names() []string {
	return []string{
		"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "mnli-mm", "qnli", "rte", "wnli",
		"boolq", "cb", "copa", "multirc", "record", "rte-sg", "wic", "wsc",
		"custom",
	}
}

// Dir is the conventional folder of the task under the data root
// (e.g. "glue/SST-2", "superglue/BoolQ"); "" for custom.
func (t *Task) Dir() string {
	if t.dir == "" {
		return ""
	}
	return filepath.Join(t.Benchmark, t.dir)
}

// NumLabels is the size of the output layer: the number of classes, 1 for
// regression, and 1 (one score per choice) for multiple choice.
func (t *Task) NumLabels() int {
	switch t.Problem {
	case ProblemRegression, ProblemMultipleChoice:
		return 1
	}
	return len(t.Labels)
}

// LabelID returns the id of a label name, or -1.
func (t *Task) LabelID(name string) int {
	for i, l := range t.Labels {
		if l == name {
			return i
		}
	}
	return -1
}

// normSplit maps split aliases to "train", "dev", "test".
func normSplit(split string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(split)) {
	case "train":
		return SplitTrain, nil
	case "dev", "val", "validation", "valid":
		return SplitDev, nil
	case "test":
		return SplitTest, nil
	}
	return "", fmt.Errorf("unknown split %q (want train, dev or test)", split)
}

// Load reads one split of the task. path is the task's folder (e.g.
// .../glue/SST-2, .../superglue/BoolQ) or a single data file; for custom it is
// the JSONL file. split is "train", "dev" or "test" ("val"/"validation" are
// accepted for dev). For mnli, dev is dev_matched.tsv (test: test_matched.tsv);
// for mnli-mm, dev_mismatched.tsv / test_mismatched.tsv; SuperGLUE dev is
// val.jsonl. Examples of the test split are unlabeled (Label -1) whether or
// not the file carries labels.
func (t *Task) Load(path, split string) ([]Example, error) {
	sp, err := normSplit(split)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	if t.load == nil {
		return nil, fmt.Errorf("task %q has no reader (build tasks with Lookup or NewCustom)", t.Name)
	}
	return t.load(t, path, sp)
}

// resolve finds the data file of split under path. path may also be the file.
func (t *Task) resolve(path, split string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("task %s: %w", t.Name, err)
	}
	if !st.IsDir() {
		return path, nil
	}
	cands := t.files[split]
	for _, c := range cands {
		p := filepath.Join(path, c)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("task %s: no %s file in %s (looked for %s)", t.Name, split, path, strings.Join(cands, ", "))
}

func labelMap(labels []string) map[string]int {
	m := make(map[string]int, len(labels))
	for i, l := range labels {
		m[l] = i
	}
	return m
}

// registry builds every named task.
var registry = map[string]func() *Task{}

func register(name string, mk func() *Task) { registry[name] = mk }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
