package tasks

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestMetricsHandComputed(t *testing.T) {
	cases := []struct {
		name      string
		got, want float64
	}{
		// gold 1 0 1 1, pred 1 1 1 0: TP=2 FP=1 FN=1 TN=0.
		{"accuracy", Accuracy([]int{1, 0, 1, 1}, []int{1, 1, 1, 0}), 0.5},
		{"f1", F1([]int{1, 0, 1, 1}, []int{1, 1, 1, 0}), 4.0 / 6},
		{"mcc -1/3", MCC([]int{1, 0, 1, 1}, []int{1, 1, 1, 0}), -1.0 / 3},
		// TP=2 TN=2 FP=0 FN=1: 4/sqrt(2*3*2*3).
		{"mcc 2/3", MCC([]int{1, 1, 0, 0, 1}, []int{1, 0, 0, 0, 1}), 4.0 / 6},
		{"mcc perfect", MCC([]int{0, 1, 1, 0}, []int{0, 1, 1, 0}), 1},
		{"mcc inverse", MCC([]int{0, 1, 1, 0}, []int{1, 0, 0, 1}), -1},
		// Degenerate: all predictions the same class, or all gold the same.
		{"mcc const pred", MCC([]int{0, 1, 1, 0}, []int{1, 1, 1, 1}), 0},
		{"mcc const gold", MCC([]int{1, 1, 1, 1}, []int{0, 1, 1, 0}), 0},
		{"mcc all same", MCC([]int{1, 1}, []int{1, 1}), 0},
		// 3 classes: s=4 c=3, sum t_k p_k=6, sum p^2=8, sum t^2=6: (12-6)/sqrt(8*10).
		{"mcc multiclass", MCC([]int{0, 1, 2, 0}, []int{0, 2, 2, 0}), 6 / math.Sqrt(80)},
		{"f1 no positives predicted", F1([]int{1, 0, 1}, []int{0, 0, 0}), 0},
		{"f1 no positives at all", F1([]int{0, 0}, []int{0, 0}), 0},
		{"f1 all positive", F1([]int{1, 0, 1, 0}, []int{1, 1, 1, 1}), 2 * 2.0 / (4 + 2)},
		// per class F1: 0.5, 2/3, 0.8.
		{"macro f1", MacroF1([]int{0, 0, 1, 2, 2, 2}, []int{0, 1, 1, 2, 2, 0}), (0.5 + 2.0/3 + 0.8) / 3},
		// class 2 predicted but never gold counts as F1 0.
		{"macro f1 spurious class", MacroF1([]int{0, 0, 1, 1}, []int{0, 2, 1, 1}), (2.0/3 + 1 + 0) / 3},
		{"macro f1 const pred", MacroF1([]int{0, 1, 2, 2}, []int{2, 2, 2, 2}), (0 + 0 + 2*2.0/(4+2)) / 3},
		{"pearson", Pearson([]float64{1, 2, 3, 4}, []float64{2, 4, 5, 9}), 11 / math.Sqrt(130)},
		{"pearson perfect negative", Pearson([]float64{1, 2, 3}, []float64{6, 4, 2}), -1},
		{"pearson constant", Pearson([]float64{1, 1, 1}, []float64{1, 2, 3}), 0},
		// ranks x = 1, 2.5, 2.5, 4; y = 1, 3, 2, 4.
		{"spearman ties", Spearman([]float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}), 4.5 / math.Sqrt(22.5)},
		{"spearman monotone", Spearman([]float64{1, 10, 100, 1000}, []float64{-5, -4, 0, 7}), 1},
		{"spearman constant", Spearman([]float64{2, 2, 2}, []float64{1, 2, 3}), 0},
		{"empty accuracy", Accuracy(nil, nil), 0},
		{"empty mcc", MCC(nil, nil), 0},
	}
	for _, c := range cases {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.15g, want %.15g", c.name, c.got, c.want)
		}
	}
	if r := Ranks([]float64{10, 20, 10, 30, 20, 20}); !reflect.DeepEqual(r, []float64{1.5, 4, 1.5, 6, 4, 4}) {
		t.Errorf("Ranks = %v", r)
	}
	f1a, em := MultiRCScores([]string{"a", "a", "a", "b", "b", "c"}, []int{1, 0, 1, 0, 0, 1}, []int{1, 0, 0, 0, 0, 1})
	if !near(f1a, 0.8) || !near(em, 2.0/3) {
		t.Errorf("MultiRC f1a=%v em=%v, want 0.8, 2/3", f1a, em)
	}
}

func TestEvaluate(t *testing.T) {
	cola := mustTask(t, "cola")
	exs := []Example{{Label: 1}, {Label: 0}, {Label: 1}, {Label: 1}}
	m, err := cola.Evaluate(exs, []Prediction{{Label: 1}, {Label: 1}, {Label: 1}, {Label: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(m["mcc"], -1.0/3) || !near(m["accuracy"], 0.5) || !near(Score(cola, m), -1.0/3) {
		t.Errorf("cola metrics %v", m)
	}

	mrpc := mustTask(t, "mrpc")
	m, err = mrpc.Evaluate(exs, []Prediction{{Label: 1}, {Label: 1}, {Label: 1}, {Label: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(m["f1"], 4.0/6) || !near(Score(mrpc, m), (4.0/6+0.5)/2) {
		t.Errorf("mrpc metrics %v score %v", m, Score(mrpc, m))
	}

	stsb := mustTask(t, "stsb")
	rex := []Example{{Target: 2}, {Target: 4}, {Target: 5}, {Target: 9}}
	m, err = stsb.Evaluate(rex, []Prediction{{Score: 1}, {Score: 2}, {Score: 3}, {Score: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(m["pearson"], 11/math.Sqrt(130)) || !near(m["spearman"], 1) || !near(Score(stsb, m), (11/math.Sqrt(130)+1)/2) {
		t.Errorf("stsb metrics %v", m)
	}
	if _, err := stsb.Evaluate(rex, []Prediction{{Score: math.NaN()}, {}, {}, {}}); err == nil {
		t.Error("NaN regression prediction accepted")
	}

	mr := mustTask(t, "multirc")
	mex := []Example{{Label: 1, Group: "a"}, {Label: 0, Group: "a"}, {Label: 1, Group: "a"}, {Label: 0, Group: "b"}, {Label: 0, Group: "b"}, {Label: 1, Group: "c"}}
	m, err = mr.Evaluate(mex, []Prediction{{Label: 1}, {Label: 0}, {Label: 0}, {Label: 0}, {Label: 0}, {Label: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(m["f1a"], 0.8) || !near(m["em"], 2.0/3) || !near(Score(mr, m), (0.8+2.0/3)/2) {
		t.Errorf("multirc metrics %v", m)
	}

	// ReCoRD: per query the candidate with the largest margin, against the
	// best-matching answer (SQuAD normalisation: case, punctuation, articles)
	rc := mustTask(t, "record")
	rex2 := []Example{
		{Label: 0, Group: "q1", Candidate: "the White House", Answers: []string{"White House", "Washington"}},
		{Label: 1, Group: "q1", Candidate: "Washington", Answers: []string{"White House", "Washington"}},
		{Label: 1, Group: "q2", Candidate: "New York City", Answers: []string{"New York"}},
		{Label: 0, Group: "q2", Candidate: "Boston", Answers: []string{"New York"}},
	}
	m, err = rc.Evaluate(rex2, []Prediction{{Margin: 2}, {Margin: 1}, {Margin: 0.5}, {Margin: -3}})
	if err != nil {
		t.Fatal(err)
	}
	// q1 picks "the White House" = "White House" (EM 1, F1 1); q2 picks "New York
	// City" against "New York": P = 2/3, R = 1, F1 = 0.8, EM 0
	if !near(m["record_f1"], 0.9) || !near(m["record_em"], 0.5) || !near(Score(rc, m), 0.7) {
		t.Errorf("record metrics %v", m)
	}
	if got := normalizeAnswer("The  U.S.-led (coalition)!"); got != "usled coalition" {
		t.Errorf("normalizeAnswer: %q", got)
	}

	cb := mustTask(t, "cb")
	cex := []Example{{Label: 0}, {Label: 0}, {Label: 1}, {Label: 2}, {Label: 2}, {Label: 2}}
	m, err = cb.Evaluate(cex, []Prediction{{Label: 0}, {Label: 1}, {Label: 1}, {Label: 2}, {Label: 2}, {Label: 0}})
	if err != nil {
		t.Fatal(err)
	}
	wantF1 := (0.5 + 2.0/3 + 0.8) / 3
	if !near(m["macro_f1"], wantF1) || !near(Score(cb, m), (wantF1+4.0/6)/2) {
		t.Errorf("cb metrics %v", m)
	}

	copa := mustTask(t, "copa")
	m, err = copa.Evaluate([]Example{{Label: 0}, {Label: 1}}, []Prediction{{Label: 0}, {Label: 0}})
	if err != nil || !near(m["accuracy"], 0.5) {
		t.Errorf("copa: %v %v", m, err)
	}

	// Errors.
	for name, f := range map[string]func() error{
		"length mismatch": func() error { _, err := cola.Evaluate(exs, nil); return err },
		"empty":           func() error { _, err := cola.Evaluate(nil, nil); return err },
		"unlabeled":       func() error { _, err := cola.Evaluate([]Example{{Label: -1, ID: "7"}}, []Prediction{{}}); return err },
		"pred range":      func() error { _, err := cola.Evaluate([]Example{{Label: 0}}, []Prediction{{Label: 2}}); return err },
		"choice range":    func() error { _, err := copa.Evaluate([]Example{{Label: 0}}, []Prediction{{Label: 2}}); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestScoreAndMacro(t *testing.T) {
	mrpc := mustTask(t, "mrpc")
	if s := Score(mrpc, map[string]float64{"f1": 0.8, "accuracy": 0.7}); !near(s, 0.75) {
		t.Errorf("mrpc score %v", s)
	}
	if s := Score(mrpc, map[string]float64{"f1": 0.8}); !math.IsNaN(s) {
		t.Errorf("score with a missing metric = %v, want NaN", s)
	}
	// BERT-large's GLUE leaderboard row (percent): score 80.5.
	bert := map[string]float64{
		"cola": 60.5, "sst2": 94.9, "mrpc": (89.3 + 85.4) / 2, "stsb": (87.6 + 86.5) / 2, "qqp": (72.1 + 89.3) / 2,
		"mnli": 86.7, "mnli-mm": 85.9, "qnli": 92.7, "rte": 70.1, "wnli": 65.1,
		"boolq": 1, // other benchmark: ignored
	}
	if s := MacroScore("glue", bert); math.Abs(s-80.5) > 0.05 {
		t.Errorf("GLUE macro %v, want 80.5", s)
	}
	if s := MacroScore("glue", map[string]float64{"mnli-mm": 0.6, "cola": 0.4}); !near(s, 0.5) {
		t.Errorf("GLUE macro with mnli-mm only %v", s)
	}
	if s := MacroScore("superglue", map[string]float64{"boolq": 0.8, "cb": 0.9, "rte": 0.1, "rte-sg": 0.7}); !near(s, 0.8) {
		t.Errorf("SuperGLUE macro %v", s)
	}
	if s := MacroScore("superglue", map[string]float64{"cola": 1}); !math.IsNaN(s) {
		t.Errorf("empty macro %v", s)
	}
	if s := MacroScore("custom", map[string]float64{"x": 1, "y": 0}); !near(s, 0.5) {
		t.Errorf("custom macro %v", s)
	}
}

func TestLookupAndNames(t *testing.T) {
	for _, n := range Names() {
		tk, err := Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Name != n || tk.Benchmark == "" || tk.Problem == "" {
			t.Errorf("%s: %+v", n, tk)
		}
		if n != "custom" && len(tk.Metrics) == 0 {
			t.Errorf("%s: no metrics", n)
		}
		if tk.Problem == ProblemClassification && n != "custom" && len(tk.Labels) < 2 {
			t.Errorf("%s: labels %v", n, tk.Labels)
		}
	}
	_, err := Lookup("mnli-matched")
	if err == nil || !strings.Contains(err.Error(), "cola") || !strings.Contains(err.Error(), "wsc") {
		t.Errorf("unknown task error: %v", err)
	}
	// Lookup returns independent copies.
	a, b := mustTask(t, "mnli"), mustTask(t, "mnli")
	a.Labels[0] = "x"
	if b.Labels[0] != "entailment" {
		t.Error("Lookup copies share Labels")
	}
	want := map[string][]string{
		"mnli": {"entailment", "neutral", "contradiction"}, "rte": {"entailment", "not_entailment"},
		"qnli": {"entailment", "not_entailment"}, "wnli": {"not_entailment", "entailment"},
		"mrpc": {"not_equivalent", "equivalent"}, "qqp": {"not_duplicate", "duplicate"},
		"cb": {"entailment", "contradiction", "neutral"}, "boolq": {"False", "True"}, "copa": {"choice1", "choice2"},
	}
	for n, w := range want {
		if got := mustTask(t, n).Labels; !reflect.DeepEqual(got, w) {
			t.Errorf("%s labels %v, want %v", n, got, w)
		}
	}
	if s := mustTask(t, "stsb"); s.Labels != nil || s.NumLabels() != 1 {
		t.Errorf("stsb: %+v", s)
	}
}
