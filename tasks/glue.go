package tasks

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// tsvColumns describes a GLUE TSV layout by header names. Each field lists the
// accepted column names, first match wins (the GLUE names first, then the HF
// `datasets` feature names, so TSVs exported from HF also load).
type tsvColumns struct {
	text, pair, label, id []string
	// headerless gives column names for files without a header row (CoLA
	// train/dev). It is used when the first row has no column named like
	// a text column.
	headerless []string
}

func glueTask(name, dir string, labels []string, metrics []string, cols tsvColumns) func() *Task {
	return func() *Task {
		t := &Task{
			Name: name, Benchmark: BenchmarkGLUE, Problem: ProblemClassification,
			Labels: append([]string(nil), labels...), Metrics: append([]string(nil), metrics...),
			dir: dir, load: loadGLUE, cols: &cols,
			files: map[string][]string{
				SplitTrain: {"train.tsv"}, SplitDev: {"dev.tsv"}, SplitTest: {"test.tsv"},
			},
		}
		if labels == nil {
			t.Problem = ProblemRegression
		}
		t.lab = labelMap(t.Labels)
		return t
	}
}

var idCols = []string{"index", "idx", "id"}

func init() {
	binNLI := []string{"entailment", "not_entailment"}
	register("cola", glueTask("cola", "CoLA", []string{"unacceptable", "acceptable"}, []string{MetricMCC},
		tsvColumns{text: []string{"sentence"}, label: []string{"label"}, id: idCols,
			headerless: []string{"source", "label", "original_label", "sentence"}}))
	register("sst2", glueTask("sst2", "SST-2", []string{"negative", "positive"}, []string{MetricAccuracy},
		tsvColumns{text: []string{"sentence"}, label: []string{"label"}, id: idCols}))
	register("mrpc", glueTask("mrpc", "MRPC", []string{"not_equivalent", "equivalent"}, []string{MetricF1, MetricAccuracy},
		tsvColumns{text: []string{"#1 String", "sentence1"}, pair: []string{"#2 String", "sentence2"},
			label: []string{"Quality", "label"}, id: idCols}))
	register("stsb", glueTask("stsb", "STS-B", nil, []string{MetricPearson, MetricSpearman},
		tsvColumns{text: []string{"sentence1"}, pair: []string{"sentence2"}, label: []string{"score", "label"}, id: idCols}))
	register("qqp", glueTask("qqp", "QQP", []string{"not_duplicate", "duplicate"}, []string{MetricF1, MetricAccuracy},
		tsvColumns{text: []string{"question1"}, pair: []string{"question2"}, label: []string{"is_duplicate", "label"}, id: idCols}))
	mnliCols := tsvColumns{text: []string{"sentence1", "premise"}, pair: []string{"sentence2", "hypothesis"},
		label: []string{"gold_label", "label"}, id: idCols}
	mnliLabels := []string{"entailment", "neutral", "contradiction"}
	mk := glueTask("mnli", "MNLI", mnliLabels, []string{MetricAccuracy}, mnliCols)
	register("mnli", func() *Task {
		t := mk()
		t.files[SplitDev] = []string{"dev_matched.tsv"}
		t.files[SplitTest] = []string{"test_matched.tsv"}
		return t
	})
	mkmm := glueTask("mnli-mm", "MNLI", mnliLabels, []string{MetricAccuracy}, mnliCols)
	register("mnli-mm", func() *Task {
		t := mkmm()
		t.files[SplitDev] = []string{"dev_mismatched.tsv"}
		t.files[SplitTest] = []string{"test_mismatched.tsv"}
		return t
	})
	register("qnli", glueTask("qnli", "QNLI", binNLI, []string{MetricAccuracy},
		tsvColumns{text: []string{"question"}, pair: []string{"sentence"}, label: []string{"label"}, id: idCols}))
	register("rte", glueTask("rte", "RTE", binNLI, []string{MetricAccuracy},
		tsvColumns{text: []string{"sentence1", "premise"}, pair: []string{"sentence2", "hypothesis"}, label: []string{"label"}, id: idCols}))
	register("wnli", glueTask("wnli", "WNLI", []string{"not_entailment", "entailment"}, []string{MetricAccuracy},
		tsvColumns{text: []string{"sentence1"}, pair: []string{"sentence2"}, label: []string{"label"}, id: idCols}))
}

func findCol(header []string, names []string) int {
	for _, n := range names {
		for i, h := range header {
			if h == n {
				return i
			}
		}
	}
	return -1
}

// parseClassLabel accepts a label name of the task or its integer id.
func (t *Task) parseClassLabel(s string) (int, error) {
	if id, ok := t.lab[s]; ok {
		return id, nil
	}
	if id, err := strconv.Atoi(s); err == nil && id >= 0 && id < len(t.Labels) {
		return id, nil
	}
	return 0, fmt.Errorf("bad label %q (want one of %s or an id 0..%d)", s, strings.Join(t.Labels, ", "), len(t.Labels)-1)
}

func parseTarget(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad regression target %q", s)
	}
	return v, nil
}

// loadGLUE reads a GLUE TSV file: tab-separated, no quoting (quotes are
// ordinary characters, as in the HF reader's csv.QUOTE_NONE), one header row
// except the CoLA train/dev layout.
func loadGLUE(t *Task, path, split string) ([]Example, error) {
	file, err := t.resolve(path, split)
	if err != nil {
		return nil, err
	}
	c := t.cols
	var header []string
	var iText, iPair, iLabel, iID int
	var out []Example
	setup := func(h []string, n int) error {
		header = h
		iText, iPair, iLabel, iID = findCol(h, c.text), findCol(h, c.pair), findCol(h, c.label), findCol(h, c.id)
		if iText < 0 {
			return lineErr(file, n, "no text column %s in header %q", quoteNames(c.text), h)
		}
		if c.pair != nil && iPair < 0 {
			return lineErr(file, n, "no text-pair column %s in header %q", quoteNames(c.pair), h)
		}
		if split != SplitTest && iLabel < 0 {
			return lineErr(file, n, "no label column %s in header %q (only test files may be unlabeled)", quoteNames(c.label), h)
		}
		return nil
	}
	err = eachLine(file, func(line []byte, n int) error {
		fields := strings.Split(string(line), "\t")
		if header == nil {
			if c.headerless != nil && findCol(fields, c.text) < 0 {
				if err := setup(c.headerless, n); err != nil {
					return err
				}
			} else {
				return setup(fields, n)
			}
		}
		if len(fields) != len(header) {
			return fmt.Errorf("got %d tab-separated columns, want %d (%s)", len(fields), len(header), strings.Join(header, "|"))
		}
		ex := Example{Text: fields[iText], Label: unlabeled, ID: strconv.Itoa(n)}
		if iPair >= 0 {
			ex.TextPair = fields[iPair]
		}
		if iID >= 0 && fields[iID] != "" {
			ex.ID = fields[iID]
		}
		if split != SplitTest {
			v := strings.TrimSpace(fields[iLabel])
			var perr error
			if t.Problem == ProblemRegression {
				ex.Target, perr = parseTarget(v)
			} else {
				ex.Label, perr = t.parseClassLabel(v)
			}
			if perr != nil {
				return perr
			}
		}
		out = append(out, ex)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if header == nil {
		return nil, lineErr(file, 0, "empty file")
	}
	return out, nil
}

func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " or ")
}
