package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type sgLoader func(t *Task, file, split string) ([]Example, error)

func sgTask(name, dir, problem string, labels, metrics []string, ld sgLoader) func() *Task {
	return func() *Task {
		t := &Task{
			Name: name, Benchmark: BenchmarkSuperGLUE, Problem: problem,
			Labels: append([]string(nil), labels...), Metrics: append([]string(nil), metrics...),
			dir: dir,
			files: map[string][]string{
				SplitTrain: {"train.jsonl"}, SplitDev: {"val.jsonl", "dev.jsonl"}, SplitTest: {"test.jsonl"},
			},
		}
		t.lab = labelMap(t.Labels)
		t.load = func(t *Task, path, split string) ([]Example, error) {
			file, err := t.resolve(path, split)
			if err != nil {
				return nil, err
			}
			return ld(t, file, split)
		}
		if problem == ProblemMultipleChoice {
			t.NumChoices = defaultMultipleChoices
		}
		return t
	}
}

func init() {
	boolLabels := []string{"False", "True"}
	acc := []string{MetricAccuracy}
	register("boolq", sgTask("boolq", "BoolQ", ProblemClassification, boolLabels, acc, loadBoolQ))
	register("cb", sgTask("cb", "CB", ProblemClassification, []string{"entailment", "contradiction", "neutral"},
		[]string{MetricMacroF1, MetricAccuracy}, loadPremiseHypothesis))
	register("copa", sgTask("copa", "COPA", ProblemMultipleChoice, []string{"choice1", "choice2"}, acc, loadCOPA))
	register("multirc", sgTask("multirc", "MultiRC", ProblemClassification, boolLabels,
		[]string{MetricF1a, MetricEM}, loadMultiRC))
	register("record", sgTask("record", "ReCoRD", ProblemClassification, boolLabels,
		[]string{MetricRecordF1, MetricRecordEM}, loadReCoRD))
	register("rte-sg", sgTask("rte-sg", "RTE", ProblemClassification, []string{"entailment", "not_entailment"}, acc, loadPremiseHypothesis))
	register("wsc", sgTask("wsc", "WSC", ProblemClassification, boolLabels, acc, loadWSC))
	mkWiC := sgTask("wic", "WiC", ProblemClassification, boolLabels, acc, loadWiCJSON)
	register("wic", func() *Task {
		t := mkWiC()
		t.load = loadWiC
		return t
	})
}

// eachJSON decodes every non-empty line of a JSONL file into a fresh value
// made by newV and hands it to fn.
func eachJSON[T any](file string, fn func(v *T, n int) error) error {
	return eachLine(file, func(line []byte, n int) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		v := new(T)
		if err := json.Unmarshal(line, v); err != nil {
			return fmt.Errorf("bad JSON: %v", err)
		}
		return fn(v, n)
	})
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// idString renders an "idx" field (number or string); "" when absent.
func idString(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

func exampleID(raw json.RawMessage, n int) string {
	if s := idString(raw); s != "" {
		return s
	}
	return strconv.Itoa(n)
}

// label decodes a label for a classification task: a label name (string),
// an id (integer) or, for False/True tasks, a JSON boolean. Test splits are
// always unlabeled; train/dev rows must have a label.
func (t *Task) label(raw json.RawMessage, split string) (int, error) {
	if split == SplitTest {
		return unlabeled, nil
	}
	if isNull(raw) {
		return 0, fmt.Errorf("missing label")
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if len(t.Labels) == 2 && t.Labels[0] == "False" {
			if b {
				return 1, nil
			}
			return 0, nil
		}
		return 0, fmt.Errorf("bad label %s (want one of %s)", raw, strings.Join(t.Labels, ", "))
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if len(t.Labels) == 2 && t.Labels[0] == "False" {
			switch strings.ToLower(s) {
			case "false":
				return 0, nil
			case "true":
				return 1, nil
			}
		}
		return t.parseClassLabel(s)
	}
	var i int
	if json.Unmarshal(raw, &i) == nil && i >= 0 && i < len(t.Labels) {
		return i, nil
	}
	return 0, fmt.Errorf("bad label %s (want one of %s or an id 0..%d)", raw, strings.Join(t.Labels, ", "), len(t.Labels)-1)
}

func need(name string, s *string) (string, error) {
	if s == nil {
		return "", fmt.Errorf("missing field %q", name)
	}
	return *s, nil
}

type jsonBoolQ struct {
	Question *string         `json:"question"`
	Passage  *string         `json:"passage"`
	Idx      json.RawMessage `json:"idx"`
	Label    json.RawMessage `json:"label"`
}

func loadBoolQ(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonBoolQ, n int) error {
		q, err := need("question", v.Question)
		if err != nil {
			return err
		}
		p, err := need("passage", v.Passage)
		if err != nil {
			return err
		}
		lab, err := t.label(v.Label, split)
		if err != nil {
			return err
		}
		out = append(out, Example{Text: q, TextPair: p, Label: lab, ID: exampleID(v.Idx, n)})
		return nil
	})
	return out, err
}

type jsonPremHyp struct {
	Premise    *string         `json:"premise"`
	Hypothesis *string         `json:"hypothesis"`
	Idx        json.RawMessage `json:"idx"`
	Label      json.RawMessage `json:"label"`
}

// loadPremiseHypothesis reads CB and SuperGLUE RTE: (premise, hypothesis).
func loadPremiseHypothesis(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonPremHyp, n int) error {
		p, err := need("premise", v.Premise)
		if err != nil {
			return err
		}
		h, err := need("hypothesis", v.Hypothesis)
		if err != nil {
			return err
		}
		lab, err := t.label(v.Label, split)
		if err != nil {
			return err
		}
		out = append(out, Example{Text: p, TextPair: h, Label: lab, ID: exampleID(v.Idx, n)})
		return nil
	})
	return out, err
}

type jsonCOPA struct {
	Premise  *string         `json:"premise"`
	Choice1  *string         `json:"choice1"`
	Choice2  *string         `json:"choice2"`
	Question *string         `json:"question"`
	Idx      json.RawMessage `json:"idx"`
	Label    json.RawMessage `json:"label"`
}

// copaConnective is prepended to each COPA choice: "because" for cause
// questions, "so" for effect questions.
var copaConnective = map[string]string{"cause": "because", "effect": "so"}

// lowerFirst lower-cases the first letter of a choice so that it reads as the
// continuation of a clause ("because the sun was rising."). The pronoun "I"
// (and "I'm", "I'd", ...) and words whose second letter is also upper case
// (acronyms) keep their case.
func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsUpper(r) {
		return s
	}
	rest := s[size:]
	if r == 'I' && (rest == "" || !unicode.IsLetter(firstRune(rest))) {
		return s
	}
	if rest != "" && unicode.IsUpper(firstRune(rest)) {
		return s
	}
	return string(unicode.ToLower(r)) + rest
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

func loadCOPA(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonCOPA, n int) error {
		p, err := need("premise", v.Premise)
		if err != nil {
			return err
		}
		c1, err := need("choice1", v.Choice1)
		if err != nil {
			return err
		}
		c2, err := need("choice2", v.Choice2)
		if err != nil {
			return err
		}
		q, err := need("question", v.Question)
		if err != nil {
			return err
		}
		conn, ok := copaConnective[q]
		if !ok {
			return fmt.Errorf("bad question %q (want \"cause\" or \"effect\")", q)
		}
		lab, err := t.label(v.Label, split)
		if err != nil {
			return err
		}
		out = append(out, Example{
			Choices: []Pair{
				{Text: p, TextPair: conn + " " + lowerFirst(c1)},
				{Text: p, TextPair: conn + " " + lowerFirst(c2)},
			},
			Label: lab, ID: exampleID(v.Idx, n),
		})
		return nil
	})
	return out, err
}

type jsonMultiRC struct {
	Idx     json.RawMessage `json:"idx"`
	Passage *struct {
		Text      *string `json:"text"`
		Questions []struct {
			Question *string         `json:"question"`
			Idx      json.RawMessage `json:"idx"`
			Answers  []struct {
				Text  *string         `json:"text"`
				Idx   json.RawMessage `json:"idx"`
				Label json.RawMessage `json:"label"`
			} `json:"answers"`
		} `json:"questions"`
	} `json:"passage"`
}

var (
	multircSentTag = regexp.MustCompile(`<b>Sent \d+: </b>`)
	multircBreak   = regexp.MustCompile(`<br\s*/?>`)
)

// cleanMultiRC removes the "<b>Sent N: </b>" / "<br>" markup that some
// MultiRC releases carry in the paragraph text.
func cleanMultiRC(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	s = multircSentTag.ReplaceAllString(s, "")
	s = multircBreak.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

// loadMultiRC makes one example per answer option: Text = paragraph,
// TextPair = question + " " + answer, Group = "<passage idx>-<question idx>".
func loadMultiRC(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonMultiRC, n int) error {
		if v.Passage == nil {
			return fmt.Errorf("missing field %q", "passage")
		}
		text, err := need("passage.text", v.Passage.Text)
		if err != nil {
			return err
		}
		text = cleanMultiRC(text)
		pid := exampleID(v.Idx, n)
		if len(v.Passage.Questions) == 0 {
			return fmt.Errorf("passage %s has no questions", pid)
		}
		for qi, q := range v.Passage.Questions {
			qt, err := need(fmt.Sprintf("questions[%d].question", qi), q.Question)
			if err != nil {
				return err
			}
			qid := idString(q.Idx)
			if qid == "" {
				qid = strconv.Itoa(qi)
			}
			group := pid + "-" + qid
			if len(q.Answers) == 0 {
				return fmt.Errorf("question %s has no answers", group)
			}
			for ai, a := range q.Answers {
				at, err := need(fmt.Sprintf("questions[%d].answers[%d].text", qi, ai), a.Text)
				if err != nil {
					return err
				}
				lab, err := t.label(a.Label, split)
				if err != nil {
					return fmt.Errorf("question %s answer %d: %w", group, ai, err)
				}
				aid := idString(a.Idx)
				if aid == "" {
					aid = strconv.Itoa(ai)
				}
				out = append(out, Example{Text: text, TextPair: qt + " " + at, Label: lab, Group: group, ID: group + "-" + aid})
			}
		}
		return nil
	})
	return out, err
}

type jsonWSC struct {
	Text   *string `json:"text"`
	Target *struct {
		Span1Index *int    `json:"span1_index"`
		Span1Text  *string `json:"span1_text"`
		Span2Index *int    `json:"span2_index"`
		Span2Text  *string `json:"span2_text"`
	} `json:"target"`
	Idx   json.RawMessage `json:"idx"`
	Label json.RawMessage `json:"label"`
}

// loadWSC: Text = the sentence with the candidate noun phrase (span1) marked
// *like this* and the pronoun (span2) marked #like this#; TextPair =
// `Does the pronoun "<span2>" refer to "<span1>"?`.
func loadWSC(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonWSC, n int) error {
		text, err := need("text", v.Text)
		if err != nil {
			return err
		}
		tg := v.Target
		if tg == nil || tg.Span1Index == nil || tg.Span1Text == nil || tg.Span2Index == nil || tg.Span2Text == nil {
			return fmt.Errorf("missing target.span1_index/span1_text/span2_index/span2_text")
		}
		s1 := strings.Join(strings.Fields(*tg.Span1Text), " ")
		s2 := strings.Join(strings.Fields(*tg.Span2Text), " ")
		marked, err := markWSC(text, s1, *tg.Span1Index, s2, *tg.Span2Index)
		if err != nil {
			return err
		}
		lab, err := t.label(v.Label, split)
		if err != nil {
			return err
		}
		q := `Does the pronoun "` + s2 + `" refer to "` + s1 + `"?`
		out = append(out, Example{Text: marked, TextPair: q, Label: lab, ID: exampleID(v.Idx, n)})
		return nil
	})
	return out, err
}

// markWSC joins the whitespace-separated words of text with single spaces and
// wraps span1 in "*" and span2 in "#". A span is located at its word index;
// when the words there do not start with the span text (case-insensitive,
// trailing punctuation of the span ignored), the nearest word position where
// they do is used, and failing that the words at the index are marked as given.
func markWSC(text, s1 string, i1 int, s2 string, i2 int) (string, error) {
	words := strings.Fields(text)
	starts := make([]int, len(words))
	joined := strings.Builder{}
	for i, w := range words {
		if i > 0 {
			joined.WriteByte(' ')
		}
		starts[i] = joined.Len()
		joined.WriteString(w)
	}
	js := joined.String()
	a0, a1, err := locateSpan(js, words, starts, s1, i1)
	if err != nil {
		return "", fmt.Errorf("span1 %q: %w", s1, err)
	}
	b0, b1, err := locateSpan(js, words, starts, s2, i2)
	if err != nil {
		return "", fmt.Errorf("span2 %q: %w", s2, err)
	}
	return insertMarks(js, []mark{{a0, true, "*"}, {a1, false, "*"}, {b0, true, "#"}, {b1, false, "#"}}), nil
}

type mark struct {
	pos  int
	open bool
	s    string
}

// insertMarks inserts the marks into s by position; at equal positions
// closing marks come before opening ones.
func insertMarks(s string, ms []mark) string {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].pos != ms[j].pos {
			return ms[i].pos < ms[j].pos
		}
		return !ms[i].open && ms[j].open
	})
	var b strings.Builder
	prev := 0
	for _, m := range ms {
		b.WriteString(s[prev:m.pos])
		b.WriteString(m.s)
		prev = m.pos
	}
	b.WriteString(s[prev:])
	return b.String()
}

// locateSpan returns byte offsets [start, end) of span in joined.
func locateSpan(joined string, words []string, starts []int, span string, idx int) (int, int, error) {
	nw := len(strings.Fields(span))
	if nw == 0 {
		return 0, 0, fmt.Errorf("empty span")
	}
	key := strings.ToLower(strings.TrimRight(span, ".,;:!?\"'"))
	if key == "" {
		key = strings.ToLower(span)
	}
	match := func(i int) bool {
		if i < 0 || i >= len(words) {
			return false
		}
		return strings.HasPrefix(strings.ToLower(joined[starts[i]:]), key)
	}
	pos := -1
	if match(idx) {
		pos = idx
	} else {
		for d := 1; d < len(words); d++ {
			if match(idx - d) {
				pos = idx - d
				break
			}
			if match(idx + d) {
				pos = idx + d
				break
			}
		}
	}
	if pos >= 0 {
		return starts[pos], starts[pos] + len(key), nil
	}
	if idx < 0 || idx+nw > len(words) {
		return 0, 0, fmt.Errorf("word index %d out of range (text has %d words) and span text not found", idx, len(words))
	}
	last := idx + nw - 1
	return starts[idx], starts[last] + len(words[last]), nil
}

type jsonWiC struct {
	Word      *string         `json:"word"`
	Sentence1 *string         `json:"sentence1"`
	Sentence2 *string         `json:"sentence2"`
	Start1    *int            `json:"start1"`
	End1      *int            `json:"end1"`
	Start2    *int            `json:"start2"`
	End2      *int            `json:"end2"`
	Idx       json.RawMessage `json:"idx"`
	Label     json.RawMessage `json:"label"`
}

// loadWiC reads SuperGLUE WiC JSONL, falling back to the original WiC v1.0
// layout (<split>/<split>.data.txt + .gold.txt, also under
// original_WiC_v1.0/) when the JSONL file of the split is absent.
func loadWiC(t *Task, path, split string) ([]Example, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		if strings.HasSuffix(path, ".data.txt") {
			return loadWiCOriginal(t, path, split)
		}
		return loadWiCJSON(t, path, split)
	}
	if file, err := t.resolve(path, split); err == nil {
		return loadWiCJSON(t, file, split)
	} else if _, serr := os.Stat(path); serr != nil {
		return nil, err
	}
	name := map[string]string{SplitTrain: "train", SplitDev: "dev", SplitTest: "test"}[split]
	var tried []string
	for _, sub := range []string{"original_WiC_v1.0", ""} {
		p := filepath.Join(path, sub, name, name+".data.txt")
		if _, err := os.Stat(p); err == nil {
			return loadWiCOriginal(t, p, split)
		}
		tried = append(tried, p)
	}
	return nil, fmt.Errorf("task wic: no %s file in %s (looked for %s, %s)", split, path,
		strings.Join(t.files[split], ", "), strings.Join(tried, ", "))
}

// loadWiCJSON: Text = sentence1 and TextPair = sentence2, each with the target
// word occurrence (start/end character offsets) wrapped in "*".
func loadWiCJSON(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonWiC, n int) error {
		w, err := need("word", v.Word)
		if err != nil {
			return err
		}
		s1, err := need("sentence1", v.Sentence1)
		if err != nil {
			return err
		}
		s2, err := need("sentence2", v.Sentence2)
		if err != nil {
			return err
		}
		m1, err := markWiC(s1, w, v.Start1, v.End1)
		if err != nil {
			return fmt.Errorf("sentence1: %w", err)
		}
		m2, err := markWiC(s2, w, v.Start2, v.End2)
		if err != nil {
			return fmt.Errorf("sentence2: %w", err)
		}
		lab, err := t.label(v.Label, split)
		if err != nil {
			return err
		}
		out = append(out, Example{Text: m1, TextPair: m2, Label: lab, ID: exampleID(v.Idx, n)})
		return nil
	})
	return out, err
}

// markWiC wraps the characters [start, end) (Unicode code points, as in the
// SuperGLUE files) in "*". Without offsets the first case-insensitive
// occurrence of word is marked, or nothing if there is none.
func markWiC(s, word string, start, end *int) (string, error) {
	if start == nil || end == nil {
		i := strings.Index(strings.ToLower(s), strings.ToLower(word))
		if i < 0 || word == "" {
			return s, nil
		}
		return s[:i] + "*" + s[i:i+len(word)] + "*" + s[i+len(word):], nil
	}
	r := []rune(s)
	if *start < 0 || *end <= *start || *end > len(r) {
		return "", fmt.Errorf("bad target offsets [%d,%d) for a %d-character sentence", *start, *end, len(r))
	}
	return string(r[:*start]) + "*" + string(r[*start:*end]) + "*" + string(r[*end:]), nil
}

// loadWiCOriginal reads WiC v1.0: data lines "word \t POS \t i1-i2 \t s1 \t s2"
// (tokenized; i1, i2 are token indices), gold lines "T"/"F" in the parallel
// .gold.txt. Sentences are detokenized (see detokenize) so that they look
// like the SuperGLUE form, and the target token is marked as in loadWiCJSON.
func loadWiCOriginal(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachLine(file, func(line []byte, n int) error {
		f := strings.Split(string(line), "\t")
		if len(f) != 5 {
			return fmt.Errorf("got %d tab-separated columns, want 5 (word, POS, index1-index2, sentence1, sentence2)", len(f))
		}
		is := strings.Split(f[2], "-")
		if len(is) != 2 {
			return fmt.Errorf("bad indices %q (want index1-index2)", f[2])
		}
		var m [2]string
		for k := 0; k < 2; k++ {
			i, err := strconv.Atoi(is[k])
			if err != nil {
				return fmt.Errorf("bad indices %q", f[2])
			}
			toks := strings.Fields(f[3+k])
			if i < 0 || i >= len(toks) {
				return fmt.Errorf("token index %d out of range for sentence%d with %d tokens", i, k+1, len(toks))
			}
			s, offs := detokenize(toks)
			m[k] = s[:offs[i][0]] + "*" + s[offs[i][0]:offs[i][1]] + "*" + s[offs[i][1]:]
		}
		out = append(out, Example{Text: m[0], TextPair: m[1], Label: unlabeled, ID: strconv.Itoa(len(out))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if split == SplitTest {
		return out, nil
	}
	gold := strings.TrimSuffix(file, ".data.txt") + ".gold.txt"
	k := 0
	err = eachLine(gold, func(line []byte, n int) error {
		if k >= len(out) {
			return fmt.Errorf("more gold labels than the %d examples of %s", len(out), file)
		}
		switch strings.TrimSpace(string(line)) {
		case "T":
			out[k].Label = 1
		case "F":
			out[k].Label = 0
		default:
			return fmt.Errorf("bad gold label %q (want T or F)", line)
		}
		k++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if k != len(out) {
		return nil, lineErr(gold, 0, "%d gold labels for %d examples in %s", k, len(out), file)
	}
	return out, nil
}

// detokenize joins PTB-style tokens into text, undoing the spaces that
// tokenization put around punctuation, clitics, brackets, quotes and
// hyphens, and returns the byte offsets [start, end) of every token.
func detokenize(toks []string) (string, [][2]int) {
	var b strings.Builder
	offs := make([][2]int, len(toks))
	dq, sq := false, false // inside "..." / '...'
	glueNext := false      // no space before the next token
	for i, w := range toks {
		space := i > 0 && !glueNext
		glueNext = false
		switch {
		case noSpaceBefore[w] || (strings.HasPrefix(w, "'") && clitic[strings.ToLower(w)]) || strings.EqualFold(w, "n't"):
			space = false
		case w == "\"":
			if dq {
				space = false
			} else {
				glueNext = true
			}
			dq = !dq
		case w == "'":
			if sq {
				space = false
			} else {
				glueNext = true
			}
			sq = !sq
		case w == "`":
			sq = true
			glueNext = true
		case noSpaceAfter[w]:
			glueNext = true
		case w == "-" && i > 0 && i+1 < len(toks) && wordy(toks[i-1], true) && wordy(toks[i+1], false):
			space = false
			glueNext = true
		}
		if space {
			b.WriteByte(' ')
		}
		offs[i][0] = b.Len()
		b.WriteString(w)
		offs[i][1] = b.Len()
	}
	return b.String(), offs
}

var (
	noSpaceBefore = map[string]bool{".": true, ",": true, ";": true, ":": true, "!": true, "?": true, "%": true,
		")": true, "]": true, "}": true, "...": true, "''": true, "”": true, "’": true}
	noSpaceAfter = map[string]bool{"(": true, "[": true, "{": true, "$": true, "``": true, "“": true, "‘": true}
	clitic       = map[string]bool{"'s": true, "'re": true, "'ve": true, "'ll": true, "'d": true, "'m": true}
)

// wordy reports whether the token ends (end=true) or starts with a letter or digit.
func wordy(tok string, end bool) bool {
	var r rune
	if end {
		r, _ = utf8.DecodeLastRuneInString(tok)
	} else {
		r, _ = utf8.DecodeRuneInString(tok)
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

type jsonReCoRD struct {
	Idx     json.RawMessage `json:"idx"`
	Passage *struct {
		Text     *string `json:"text"`
		Entities []struct {
			Start *int `json:"start"`
			End   *int `json:"end"`
		} `json:"entities"`
	} `json:"passage"`
	QAs []struct {
		Query   *string         `json:"query"`
		Idx     json.RawMessage `json:"idx"`
		Answers []struct {
			Text *string `json:"text"`
		} `json:"answers"`
	} `json:"qas"`
}

// loadReCoRD makes one binary example per (query, candidate entity): Text =
// the passage with its "@highlight" markers as "- " bullets, TextPair = the
// query with "@placeholder" replaced by the candidate, Label = whether the
// candidate is one of the query's answers; Group is the query, Candidate and
// Answers serve the metrics. Candidates are the passage's distinct entity
// strings (entities[].start/end: inclusive character offsets).
func loadReCoRD(t *Task, file, split string) ([]Example, error) {
	var out []Example
	err := eachJSON(file, func(v *jsonReCoRD, n int) error {
		if v.Passage == nil {
			return fmt.Errorf("missing field %q", "passage")
		}
		text, err := need("passage.text", v.Passage.Text)
		if err != nil {
			return err
		}
		runes := []rune(text)
		var cands []string
		for i, e := range v.Passage.Entities {
			if e.Start == nil || e.End == nil || *e.Start < 0 || *e.End < *e.Start || *e.End >= len(runes) {
				return fmt.Errorf("passage.entities[%d]: span outside the %d-character passage", i, len(runes))
			}
			c := string(runes[*e.Start : *e.End+1])
			if !slices.Contains(cands, c) {
				cands = append(cands, c)
			}
		}
		if len(cands) == 0 {
			return errors.New("passage has no entities")
		}
		passage := strings.ReplaceAll(text, "@highlight\n", "- ")
		pid := exampleID(v.Idx, n)
		if len(v.QAs) == 0 {
			return fmt.Errorf("passage %s has no qas", pid)
		}
		for qi, qa := range v.QAs {
			q, err := need(fmt.Sprintf("qas[%d].query", qi), qa.Query)
			if err != nil {
				return err
			}
			if !strings.Contains(q, "@placeholder") {
				return fmt.Errorf("qas[%d].query has no @placeholder", qi)
			}
			qid := idString(qa.Idx)
			if qid == "" {
				qid = pid + "-" + strconv.Itoa(qi)
			}
			var answers []string
			for ai, a := range qa.Answers {
				at, err := need(fmt.Sprintf("qas[%d].answers[%d].text", qi, ai), a.Text)
				if err != nil {
					return err
				}
				answers = append(answers, at)
			}
			if split != SplitTest && len(answers) == 0 {
				return fmt.Errorf("query %s has no answers", qid)
			}
			for ci, c := range cands {
				lab := unlabeled
				if split != SplitTest {
					lab = 0
					if slices.Contains(answers, c) {
						lab = 1
					}
				}
				out = append(out, Example{Text: passage, TextPair: strings.ReplaceAll(q, "@placeholder", c), Label: lab,
					Group: qid, ID: qid + "-" + strconv.Itoa(ci), Candidate: c, Answers: answers})
			}
		}
		return nil
	})
	return out, err
}
