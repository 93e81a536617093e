package tasks

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Metric functions take gold and predicted values of equal length and return
// 0 for empty input or where the metric is undefined (documented per
// function). All arithmetic is float64.

// Accuracy is the fraction of positions where pred equals gold.
func Accuracy(gold, pred []int) float64 {
	if len(gold) == 0 {
		return 0
	}
	c := 0
	for i := range gold {
		if gold[i] == pred[i] {
			c++
		}
	}
	return float64(c) / float64(len(gold))
}

// f1Of is the F1 of class c: 2TP / (2TP + FP + FN); 0 when TP = 0.
func f1Of(gold, pred []int, c int) float64 {
	var tp, fp, fn int
	for i := range gold {
		switch {
		case gold[i] == c && pred[i] == c:
			tp++
		case pred[i] == c:
			fp++
		case gold[i] == c:
			fn++
		}
	}
	if tp == 0 {
		return 0
	}
	return 2 * float64(tp) / float64(2*tp+fp+fn)
}

// F1 is binary F1 with class 1 as the positive class (harmonic mean of
// precision and recall); 0 when there are no true positives (this includes
// the cases where precision or recall is undefined, as sklearn's default).
func F1(gold, pred []int) float64 { return f1Of(gold, pred, 1) }

// MacroF1 is the unweighted mean of the per-class F1 over the classes that
// occur in gold or pred (sklearn's f1_score(average="macro") convention,
// used by the SuperGLUE CB scorer). A class that is predicted but never
// gold, or gold but never predicted, contributes F1 = 0.
func MacroF1(gold, pred []int) float64 {
	seen := map[int]bool{}
	for i := range gold {
		seen[gold[i]] = true
		seen[pred[i]] = true
	}
	if len(seen) == 0 {
		return 0
	}
	s := 0.0
	for c := range seen {
		s += f1Of(gold, pred, c)
	}
	return s / float64(len(seen))
}

// MCC is the Matthews correlation coefficient, in its multi-class form
// (Gorodkin's R_K; for two classes it equals (TP·TN − FP·FN) /
// sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))). It is 0 when undefined, i.e. when all
// gold labels or all predictions are the same class.
func MCC(gold, pred []int) float64 {
	n := len(gold)
	if n == 0 {
		return 0
	}
	tk := map[int]float64{} // gold count per class
	pk := map[int]float64{} // predicted count per class
	correct := 0.0
	for i := range gold {
		tk[gold[i]]++
		pk[pred[i]]++
		if gold[i] == pred[i] {
			correct++
		}
	}
	s := float64(n)
	var tp, tt, pp float64
	for c, t := range tk {
		tp += t * pk[c]
		tt += t * t
	}
	for _, p := range pk {
		pp += p * p
	}
	den := math.Sqrt(s*s-pp) * math.Sqrt(s*s-tt)
	if den == 0 {
		return 0
	}
	return (correct*s - tp) / den
}

// Pearson is the Pearson correlation of x and y; 0 when either is constant.
func Pearson(x, y []float64) float64 {
	n := len(x)
	if n == 0 {
		return 0
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	r := sxy / math.Sqrt(sxx*syy)
	return math.Max(-1, math.Min(1, r))
}

// Ranks returns the 1-based ranks of x, tied values getting the average of
// the ranks they span.
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Spearman is the Pearson correlation of the average ranks of x and y;
// 0 when either is constant.
func Spearman(x, y []float64) float64 { return Pearson(Ranks(x), Ranks(y)) }

// MultiRCScores returns F1a, binary F1 (positive class 1) over all answer
// options, and EM, the fraction of questions (groups) whose options are all
// predicted correctly.
func MultiRCScores(groups []string, gold, pred []int) (f1a, em float64) {
	f1a = F1(gold, pred)
	ok := map[string]bool{}
	var order []string
	for i, g := range groups {
		if _, seen := ok[g]; !seen {
			ok[g] = true
			order = append(order, g)
		}
		if gold[i] != pred[i] {
			ok[g] = false
		}
	}
	if len(order) == 0 {
		return f1a, 0
	}
	c := 0
	for _, g := range order {
		if ok[g] {
			c++
		}
	}
	return f1a, float64(c) / float64(len(order))
}

// Evaluate computes the task's metrics (Task.Metrics, plus "accuracy" for
// every classification or multiple-choice task) from predictions aligned
// with examples. Every example must be labeled; predicted labels must be
// valid class ids / choice indices, and regression scores finite.
func (t *Task) Evaluate(examples []Example, preds []Prediction) (map[string]float64, error) {
	if len(examples) != len(preds) {
		return nil, fmt.Errorf("task %s: %d examples but %d predictions", t.Name, len(examples), len(preds))
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("task %s: no examples to evaluate", t.Name)
	}
	out := map[string]float64{}
	if t.Problem == ProblemRegression {
		gold := make([]float64, len(examples))
		pred := make([]float64, len(examples))
		for i, ex := range examples {
			if math.IsNaN(ex.Target) || math.IsInf(ex.Target, 0) {
				return nil, fmt.Errorf("task %s: example %s has non-finite target", t.Name, ex.ID)
			}
			if math.IsNaN(preds[i].Score) || math.IsInf(preds[i].Score, 0) {
				return nil, fmt.Errorf("task %s: prediction %d (example %s) is not finite", t.Name, i, ex.ID)
			}
			gold[i], pred[i] = ex.Target, preds[i].Score
		}
		for _, m := range t.Metrics {
			switch m {
			case MetricPearson:
				out[m] = Pearson(pred, gold)
			case MetricSpearman:
				out[m] = Spearman(pred, gold)
			default:
				return nil, fmt.Errorf("task %s: metric %q does not apply to regression", t.Name, m)
			}
		}
		return out, nil
	}
	k := len(t.Labels)
	if t.Problem == ProblemMultipleChoice {
		k = t.NumChoices
	}
	gold := make([]int, len(examples))
	pred := make([]int, len(examples))
	groups := make([]string, len(examples))
	for i, ex := range examples {
		if ex.Label < 0 || ex.Label >= k {
			return nil, fmt.Errorf("task %s: example %s has no usable gold label (%d); test splits cannot be evaluated", t.Name, ex.ID, ex.Label)
		}
		if preds[i].Label < 0 || preds[i].Label >= k {
			return nil, fmt.Errorf("task %s: prediction %d (example %s) is %d, want 0..%d", t.Name, i, ex.ID, preds[i].Label, k-1)
		}
		gold[i], pred[i], groups[i] = ex.Label, preds[i].Label, ex.Group
	}
	out[MetricAccuracy] = Accuracy(gold, pred)
	for _, m := range t.Metrics {
		switch m {
		case MetricAccuracy:
		case MetricF1:
			out[m] = F1(gold, pred)
		case MetricMacroF1:
			out[m] = MacroF1(gold, pred)
		case MetricMCC:
			out[m] = MCC(gold, pred)
		case MetricF1a, MetricEM:
			out[MetricF1a], out[MetricEM] = MultiRCScores(groups, gold, pred)
		case MetricRecordF1, MetricRecordEM:
			out[MetricRecordF1], out[MetricRecordEM] = ReCoRDScores(examples, preds)
		default:
			return nil, fmt.Errorf("task %s: metric %q does not apply to classification", t.Name, m)
		}
	}
	return out, nil
}

// Score is the task's benchmark score as the GLUE/SuperGLUE leaderboards
// compute it: the mean of the task's metrics (Task.Metrics), e.g. CoLA = MCC,
// MRPC/QQP = mean(F1, accuracy), STS-B = mean(Pearson, Spearman),
// CB = mean(macro-F1, accuracy), MultiRC = mean(F1a, EM). Values stay on the
// 0..1 scale (leaderboards print them ×100). NaN if a metric is missing.
func Score(t *Task, metrics map[string]float64) float64 {
	if t == nil || len(t.Metrics) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, m := range t.Metrics {
		v, ok := metrics[m]
		if !ok {
			return math.NaN()
		}
		s += v
	}
	return s / float64(len(t.Metrics))
}

// Official macro-average task sets.
//
// GLUE: the leaderboard score is the mean over its 9 tasks CoLA, SST-2,
// MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, where MNLI counts once as the mean
// of matched and mismatched accuracy; the AX diagnostic is not included
// (check: BERT-large's published row gives 80.5 this way).
//
// SuperGLUE: the mean over its 8 tasks BoolQ, CB, COPA, MultiRC, ReCoRD, RTE,
// WiC, WSC; the AX-b/AX-g diagnostics are not included.
var (
	glueMacroTasks      = []string{"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"}
	superglueMacroTasks = []string{"boolq", "cb", "copa", "multirc", "record", "rte-sg", "wic", "wsc"}
)

// MacroScore averages per-task scores (as returned by Score, keyed by task
// name) over the tasks of the benchmark that are present; keys of other
// benchmarks are ignored. For "glue", "mnli" and "mnli-mm" are first averaged
// into one MNLI score (either alone stands for MNLI). For "custom" every
// entry is averaged. NaN when no task of the benchmark is present. See
// glueMacroTasks / superglueMacroTasks above for the official task sets.
func MacroScore(benchmark string, perTask map[string]float64) float64 {
	var names []string
	scores := perTask
	switch benchmark {
	case BenchmarkGLUE:
		names = glueMacroTasks
		m, okm := perTask["mnli"]
		mm, okmm := perTask["mnli-mm"]
		if okm || okmm {
			scores = make(map[string]float64, len(perTask))
			for k, v := range perTask {
				scores[k] = v
			}
			switch {
			case okm && okmm:
				scores["mnli"] = (m + mm) / 2
			case okmm:
				scores["mnli"] = mm
			}
		}
	case BenchmarkSuperGLUE:
		names = superglueMacroTasks
	case BenchmarkCustom:
		names = sortedKeys(perTask)
	default:
		return math.NaN()
	}
	s, n := 0.0, 0
	for _, name := range names {
		if v, ok := scores[name]; ok {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// ReCoRDScores picks, for each query (Example.Group), the candidate whose
// prediction has the largest Margin (the first on ties) and scores it
// against the query's answers as the official evaluation does: token F1 and
// exact match after SQuAD's normalisation (lower case, no punctuation, no
// articles a/an/the, single spaces), each the maximum over the answers,
// averaged over queries.
func ReCoRDScores(examples []Example, preds []Prediction) (f1, em float64) {
	best := map[string]int{}
	var order []string
	for i, ex := range examples {
		j, ok := best[ex.Group]
		if !ok {
			order = append(order, ex.Group)
		}
		if !ok || preds[i].Margin > preds[j].Margin {
			best[ex.Group] = i
		}
	}
	for _, g := range order {
		ex := examples[best[g]]
		var bf, be float64
		for _, a := range ex.Answers {
			bf = math.Max(bf, tokenF1(ex.Candidate, a))
			if normalizeAnswer(ex.Candidate) == normalizeAnswer(a) {
				be = 1
			}
		}
		f1 += bf
		em += be
	}
	n := float64(len(order))
	return f1 / n, em / n
}

// asciiPunctuation is Python's string.punctuation.
const asciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// normalizeAnswer is SQuAD's normalize_answer (Python's lower(), which also
// lower-cases non-ASCII letters, as strings.ToLower does).
func normalizeAnswer(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(asciiPunctuation, r) {
			return -1
		}
		return r
	}, s)
	var words []string
	for _, w := range strings.Fields(s) {
		if w != "a" && w != "an" && w != "the" {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

// tokenF1 is SQuAD's f1_score of a prediction against one answer.
func tokenF1(pred, gold string) float64 {
	p, g := strings.Fields(normalizeAnswer(pred)), strings.Fields(normalizeAnswer(gold))
	count := map[string]int{}
	for _, w := range g {
		count[w]++
	}
	common := 0
	for _, w := range p {
		if count[w] > 0 {
			count[w]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	prec, rec := float64(common)/float64(len(p)), float64(common)/float64(len(g))
	return 2 * prec * rec / (prec + rec)
}
