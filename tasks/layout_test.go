package tasks

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const mnliTrainHeader = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
const mnliDevHeader = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"

func mnliRow(idx, s1, s2 string, labels ...string) string {
	return idx + "\t1\t1e\tfiction\t( b )\t( b )\t(ROOT)\t(ROOT)\t" + s1 + "\t" + s2 + "\t" + strings.Join(labels, "\t") + "\n"
}

// The official MNLI layout (absent from shared/data): train.tsv,
// dev_matched.tsv, dev_mismatched.tsv, test_matched.tsv, test_mismatched.tsv.
func TestMNLILayout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.tsv", mnliTrainHeader+
		mnliRow("0", "Conceptually cream skimming has two basic dimensions.", "Product and geography are what make cream skimming work. ", "neutral", "neutral")+
		mnliRow("1", "you know \"quoted\" text", "They said \"no", "entailment", "entailment")+
		mnliRow("2", "A", "B", "contradiction", "contradiction"))
	writeFile(t, dir, "dev_matched.tsv", mnliDevHeader+
		mnliRow("0", "m1", "h1", "neutral", "neutral", "neutral", "neutral", "entailment", "neutral")+
		mnliRow("1", "m2", "h2", "contradiction", "contradiction", "contradiction", "contradiction", "contradiction", "contradiction"))
	writeFile(t, dir, "dev_mismatched.tsv", mnliDevHeader+
		mnliRow("0", "mm1", "h1", "entailment", "entailment", "entailment", "neutral", "entailment", "entailment"))
	writeFile(t, dir, "test_matched.tsv", strings.Join(strings.Split(mnliTrainHeader, "\t")[:10], "\t")+"\n"+
		strings.TrimSuffix(mnliRow("0", "t1", "th1"), "\t\n")+"\n")
	writeFile(t, dir, "test_mismatched.tsv", strings.Join(strings.Split(mnliTrainHeader, "\t")[:10], "\t")+"\n"+
		strings.TrimSuffix(mnliRow("7", "tm1", "th1"), "\t\n")+"\n")

	m, mm := mustTask(t, "mnli"), mustTask(t, "mnli-mm")
	tr, err := m.Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 3 || tr[0].Label != 1 || tr[1].Label != 0 || tr[2].Label != 2 || tr[1].Text != "you know \"quoted\" text" || tr[1].TextPair != "They said \"no" {
		t.Errorf("mnli train %+v", tr)
	}
	dev, err := m.Load(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(dev) != 2 || dev[0].Text != "m1" || dev[0].Label != 1 || dev[1].Label != 2 {
		t.Errorf("mnli dev %+v", dev)
	}
	devmm, err := mm.Load(dir, "validation")
	if err != nil {
		t.Fatal(err)
	}
	if len(devmm) != 1 || devmm[0].Text != "mm1" || devmm[0].Label != 0 {
		t.Errorf("mnli-mm dev %+v", devmm)
	}
	te, err := m.Load(dir, "test")
	if err != nil || len(te) != 1 || te[0].Text != "t1" || te[0].Label != -1 {
		t.Errorf("mnli test %+v %v", te, err)
	}
	te, err = mm.Load(dir, "test")
	if err != nil || len(te) != 1 || te[0].Text != "tm1" || te[0].ID != "7" {
		t.Errorf("mnli-mm test %+v %v", te, err)
	}
	if tr2, err := mm.Load(dir, "train"); err != nil || len(tr2) != 3 {
		t.Errorf("mnli-mm train: %v", err)
	}
}

func TestQQPLayout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"+
		"133273\t213221\t213222\tHow is the life of a math student?\tWhich level of prepration is enough?\t0\n"+
		"402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1\n")
	writeFile(t, dir, "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t1\t2\tq1\tq2\t1\n")
	writeFile(t, dir, "test.tsv", "id\tquestion1\tquestion2\n0\tWhy?\tWhy not?\n1\tA\tB\n")
	q := mustTask(t, "qqp")
	tr, err := q.Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{
		{Text: "How is the life of a math student?", TextPair: "Which level of prepration is enough?", Label: 0, ID: "133273"},
		{Text: "How do I control my horny emotions?", TextPair: "How do you control your horniness?", Label: 1, ID: "402555"},
	}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("qqp train %+v", tr)
	}
	dev, err := q.Load(dir, "dev")
	if err != nil || len(dev) != 1 || dev[0].Label != 1 {
		t.Errorf("qqp dev %+v %v", dev, err)
	}
	te, err := q.Load(dir, "test")
	if err != nil || len(te) != 2 || te[1].Label != -1 || te[1].Text != "A" {
		t.Errorf("qqp test %+v %v", te, err)
	}
}

func TestQNLITrainAndHFColumns(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.tsv", "index\tquestion\tsentence\tlabel\r\n"+
		"0\tWhen did the third Digimon series begin?\tUnlike the two seasons before it, it ran in Japan.\tnot_entailment\r\n"+
		"1\tWhich missile batteries often have individual launchers?\tWhen MANPADS is operated by specialists, batteries may have launchers.\tentailment\r\n")
	tr, err := mustTask(t, "qnli").Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 2 || tr[0].Label != 1 || tr[1].Label != 0 || strings.HasSuffix(tr[0].TextPair, "\r") {
		t.Errorf("qnli train %+v", tr)
	}
	// HF-exported column names with integer labels; a single file as path.
	f := writeFile(t, "", "rte_hf.tsv", "premise\thypothesis\tlabel\tidx\nP\tH\t1\t42\n")
	ex, err := mustTask(t, "rte").Load(f, "dev")
	if err != nil || len(ex) != 1 || ex[0].Label != 1 || ex[0].ID != "42" || ex[0].TextPair != "H" {
		t.Errorf("rte hf columns %+v %v", ex, err)
	}
	// CoLA train with a BOM and no header; CoLA test with header.
	cdir := t.TempDir()
	writeFile(t, cdir, "train.tsv", "\ufeffgj04\t1\t\tThe sailors rode.\ngj04\t0\t*\tRode the.\n")
	writeFile(t, cdir, "test.tsv", "index\tsentence\n0\tBill whistled.\n")
	c := mustTask(t, "cola")
	ctr, err := c.Load(cdir, "train")
	if err != nil || len(ctr) != 2 || ctr[0].Label != 1 || ctr[1].Label != 0 || ctr[0].ID != "1" || ctr[1].Text != "Rode the." {
		t.Errorf("cola train %+v %v", ctr, err)
	}
	cte, err := c.Load(cdir, "test")
	if err != nil || len(cte) != 1 || cte[0].Text != "Bill whistled." || cte[0].Label != -1 {
		t.Errorf("cola test %+v %v", cte, err)
	}
}

func TestSuperGLUESynthetic(t *testing.T) {
	dir := t.TempDir()
	// WSC: span at the index, span with trailing punctuation on the word, index off by one.
	writeFile(t, dir, "WSC/val.jsonl",
		`{"text": "Mark told Pete many lies. He lied.", "target": {"span1_index": 0, "span1_text": "Mark", "span2_index": 5, "span2_text": "He"}, "idx": 0, "label": true}`+"\n"+
			`{"text": "I asked Blaze, but he said no.", "target": {"span1_index": 2, "span1_text": "Blaze", "span2_index": 4, "span2_text": "he"}, "idx": 1, "label": false}`+"\n"+
			`{"text": "Put the pebble in a safe . Use it later.", "target": {"span1_index": 5, "span1_text": "safe", "span2_index": 7, "span2_text": "it"}, "idx": 2, "label": 0}`+"\n")
	w, err := mustTask(t, "wsc").Load(filepath.Join(dir, "WSC"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	wantText := []string{"*Mark* told Pete many lies. #He# lied.", "I asked *Blaze*, but #he# said no.", "Put the pebble in a *safe* . Use #it# later."}
	for i, e := range w {
		if e.Text != wantText[i] {
			t.Errorf("wsc %d: %q, want %q", i, e.Text, wantText[i])
		}
	}
	if w[0].Label != 1 || w[1].Label != 0 || w[2].Label != 0 || w[1].TextPair != `Does the pronoun "he" refer to "Blaze"?` {
		t.Errorf("wsc %+v", w)
	}
	// COPA connectives and casing.
	writeFile(t, dir, "COPA/train.jsonl",
		`{"premise": "I emptied my pockets.", "choice1": "I found a ticket.", "choice2": "The NASA car left.", "question": "effect", "label": 1, "idx": 3}`+"\n")
	c, err := mustTask(t, "copa").Load(filepath.Join(dir, "COPA"), "train")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Pair{{"I emptied my pockets.", "so I found a ticket."}, {"I emptied my pockets.", "so the NASA car left."}}; !reflect.DeepEqual(c[0].Choices, want) || c[0].Label != 1 || c[0].ID != "3" {
		t.Errorf("copa %+v", c[0])
	}
	if got := lowerFirst("The man"); got != "the man" {
		t.Errorf("lowerFirst: %q", got)
	}
	if got := lowerFirst("I'm here"); got != "I'm here" {
		t.Errorf("lowerFirst: %q", got)
	}
	if got := lowerFirst("NASA left"); got != "NASA left" {
		t.Errorf("lowerFirst: %q", got)
	}
	if got := lowerFirst("It rained"); got != "it rained" {
		t.Errorf("lowerFirst: %q", got)
	}
	// MultiRC: markup removal, groups, one example per option.
	writeFile(t, dir, "MultiRC/val.jsonl",
		`{"idx": 4, "passage": {"text": "<b>Sent 1: </b>A cat sat.<br><b>Sent 2: </b>It slept.<br>", "questions": [`+
			`{"question": "Who sat?", "idx": 9, "answers": [{"text": "A cat", "idx": 0, "label": 1}, {"text": "A dog", "idx": 1, "label": 0}]},`+
			`{"question": "What then?", "idx": 10, "answers": [{"text": "slept", "idx": 2, "label": true}]}]}}`+"\n")
	mr, err := mustTask(t, "multirc").Load(filepath.Join(dir, "MultiRC"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{
		{Text: "A cat sat. It slept.", TextPair: "Who sat? A cat", Label: 1, Group: "4-9", ID: "4-9-0"},
		{Text: "A cat sat. It slept.", TextPair: "Who sat? A dog", Label: 0, Group: "4-9", ID: "4-9-1"},
		{Text: "A cat sat. It slept.", TextPair: "What then? slept", Label: 1, Group: "4-10", ID: "4-10-2"},
	}
	if !reflect.DeepEqual(mr, want) {
		t.Errorf("multirc %+v", mr)
	}
	// ReCoRD: candidates from entity spans (character offsets, inclusive),
	// deduplicated; "@highlight" bullets; one example per candidate.
	writeFile(t, dir, "ReCoRD/val.jsonl",
		`{"idx": 3, "passage": {"text": "Zoë met Bob in Paris.\n@highlight\nBob left", "entities": [{"start": 0, "end": 2}, {"start": 8, "end": 10}, {"start": 15, "end": 19}, {"start": 33, "end": 35}]}, `+
			`"qas": [{"query": "@placeholder greeted Zoë.", "idx": 7, "answers": [{"start": 8, "end": 10, "text": "Bob"}]}]}`+"\n")
	rc, err := mustTask(t, "record").Load(filepath.Join(dir, "ReCoRD"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	passage := "Zoë met Bob in Paris.\n- Bob left"
	wantRC := []Example{
		{Text: passage, TextPair: "Zoë greeted Zoë.", Label: 0, Group: "7", ID: "7-0", Candidate: "Zoë", Answers: []string{"Bob"}},
		{Text: passage, TextPair: "Bob greeted Zoë.", Label: 1, Group: "7", ID: "7-1", Candidate: "Bob", Answers: []string{"Bob"}},
		{Text: passage, TextPair: "Paris greeted Zoë.", Label: 0, Group: "7", ID: "7-2", Candidate: "Paris", Answers: []string{"Bob"}},
	}
	if !reflect.DeepEqual(rc, wantRC) {
		t.Errorf("record %+v", rc)
	}
	// WiC JSONL with offsets counted in code points.
	writeFile(t, dir, "WiC/val.jsonl",
		`{"word": "café", "sentence1": "Ein café noir.", "sentence2": "Cafés open.", "start1": 4, "end1": 8, "start2": 0, "end2": 5, "idx": 0, "label": "True"}`+"\n")
	wi, err := mustTask(t, "wic").Load(filepath.Join(dir, "WiC"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if wi[0].Text != "Ein *café* noir." || wi[0].TextPair != "*Cafés* open." || wi[0].Label != 1 {
		t.Errorf("wic %+v", wi[0])
	}
	// WiC original layout fallback directly under the task dir; test has no gold.
	writeFile(t, dir, "WiC2/train/train.data.txt", "board\tN\t2-2\tRoom and board .\tHe nailed boards across the windows .\n"+
		"go\tV\t1-0\tLet 's go to the \" big \" show ( now ) .\tGo - ahead !\n")
	writeFile(t, dir, "WiC2/train/train.gold.txt", "F\nT\n")
	writeFile(t, dir, "WiC2/test/test.data.txt", "x\tN\t0-0\tX .\tX !\n")
	wo, err := mustTask(t, "wic").Load(filepath.Join(dir, "WiC2"), "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(wo) != 2 || wo[0].Text != "Room and *board*." || wo[0].TextPair != "He nailed *boards* across the windows." || wo[0].Label != 0 ||
		wo[1].Text != "Let*'s* go to the \"big\" show (now)." || wo[1].TextPair != "*Go*-ahead!" || wo[1].Label != 1 {
		t.Errorf("wic original %+v", wo)
	}
	wt, err := mustTask(t, "wic").Load(filepath.Join(dir, "WiC2"), "test")
	if err != nil || len(wt) != 1 || wt[0].Label != -1 {
		t.Errorf("wic original test %+v %v", wt, err)
	}
	// BoolQ / CB with label as id, bool as string.
	writeFile(t, dir, "BoolQ/train.jsonl", `{"question": "q", "passage": "p", "idx": 0, "label": false}`+"\n"+`{"question": "q2", "passage": "p2", "label": 1}`+"\n")
	bq, err := mustTask(t, "boolq").Load(filepath.Join(dir, "BoolQ"), "train")
	if err != nil || len(bq) != 2 || bq[0].Label != 0 || bq[1].Label != 1 || bq[1].ID != "2" {
		t.Errorf("boolq %+v %v", bq, err)
	}
	writeFile(t, dir, "CB/train.jsonl", `{"premise": "p", "hypothesis": "h", "label": "neutral"}`+"\n"+`{"premise": "p", "hypothesis": "h", "label": 1}`+"\n")
	cb, err := mustTask(t, "cb").Load(filepath.Join(dir, "CB", "train.jsonl"), "train")
	if err != nil || cb[0].Label != 2 || cb[1].Label != 1 {
		t.Errorf("cb %+v %v", cb, err)
	}
}

func TestCustom(t *testing.T) {
	dir := t.TempDir()
	// String labels numbered in sorted order.
	tr := writeFile(t, dir, "train.jsonl", `{"text": "good", "label": "pos"}`+"\n"+`{"text": "bad", "text_pair": "x", "label": "neg"}`+"\n\n"+`{"text": "meh", "label": "neutral", "id": "m1"}`+"\n")
	tk, err := NewCustom(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tk.Labels, []string{"neg", "neutral", "pos"}) || tk.Problem != ProblemClassification || tk.Metrics[0] != "accuracy" || tk.Metrics[1] != "macro_f1" {
		t.Errorf("custom task %+v", tk)
	}
	exs, err := tk.Load(tr, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 3 || exs[0].Label != 2 || exs[1].Label != 0 || exs[1].TextPair != "x" || exs[2].Label != 1 || exs[2].ID != "m1" || exs[0].ID != "1" {
		t.Errorf("custom examples %+v", exs)
	}
	dev := writeFile(t, dir, "dev.jsonl", `{"text": "a", "label": "other"}`+"\n")
	if _, err := tk.Load(dev, "dev"); err == nil || !strings.Contains(err.Error(), dev+":1:") {
		t.Errorf("unknown dev label: %v", err)
	}
	test := writeFile(t, dir, "test.jsonl", `{"text": "a"}`+"\n")
	if te, err := tk.Load(test, "test"); err != nil || te[0].Label != -1 {
		t.Errorf("custom test %+v %v", te, err)
	}
	// Lookup("custom") learns labels from the train split.
	bare := mustTask(t, "custom")
	if _, err := bare.Load(dev, "dev"); err == nil {
		t.Error("bare custom task loaded dev without labels")
	}
	if _, err := bare.Load(tr, "train"); err != nil || len(bare.Labels) != 3 {
		t.Errorf("bare custom train: %v %v", bare.Labels, err)
	}

	// Integer labels are class ids; booleans are strings false/true.
	ti := writeFile(t, dir, "int.jsonl", `{"text": "a", "label": 2}`+"\n"+`{"text": "b", "label": 0}`+"\n")
	tk, err = NewCustom(ti)
	if err != nil || !reflect.DeepEqual(tk.Labels, []string{"0", "1", "2"}) {
		t.Fatalf("int custom %+v %v", tk, err)
	}
	di := writeFile(t, dir, "int_dev.jsonl", `{"text": "a", "label": 1}`+"\n")
	de, err := tk.Load(di, "dev")
	if err != nil || de[0].Label != 1 {
		t.Errorf("int dev %+v %v", de, err)
	}
	trEx, _ := tk.Load(ti, "train")
	if err := CheckLabels(trEx, de); err == nil || !strings.Contains(err.Error(), "label 1 (1 examples") {
		t.Errorf("CheckLabels: %v", err)
	}
	if err := CheckLabels(trEx, trEx); err != nil {
		t.Errorf("CheckLabels same: %v", err)
	}
	tb := writeFile(t, dir, "bool.jsonl", `{"text": "a", "label": true}`+"\n"+`{"text": "b", "label": false}`+"\n")
	if tk, err := NewCustom(tb); err != nil || !reflect.DeepEqual(tk.Labels, []string{"false", "true"}) || tk.Metrics[1] != "f1" {
		t.Errorf("bool custom %+v %v", tk, err)
	}

	// Float labels: regression; integer ratings forced to regression.
	tf := writeFile(t, dir, "float.jsonl", `{"text": "a", "label": 0.5}`+"\n"+`{"text": "b", "label": 3}`+"\n")
	tk, err = NewCustom(tf)
	if err != nil || tk.Problem != ProblemRegression || tk.Labels != nil || tk.Metrics[0] != "pearson" {
		t.Fatalf("float custom %+v %v", tk, err)
	}
	fe, err := tk.Load(tf, "train")
	if err != nil || fe[0].Target != 0.5 || fe[1].Target != 3 || fe[0].Label != -1 {
		t.Errorf("regression examples %+v %v", fe, err)
	}
	tk, err = NewCustomProblem(ti, ProblemRegression)
	if err != nil || tk.Problem != ProblemRegression {
		t.Errorf("forced regression %+v %v", tk, err)
	}
	tk, _ = NewCustom(ti)
	tk.Problem = ProblemRegression
	if re, err := tk.Load(ti, "train"); err != nil || re[0].Target != 2 || tk.Metrics[0] != MetricPearson || tk.Labels != nil {
		t.Errorf("manual regression override %+v %+v %v", tk, re, err)
	}
	if _, err := NewCustomProblem(tf, ProblemClassification); err == nil {
		t.Error("float labels accepted as classes")
	}
	if _, err := NewCustomProblem(tr, ProblemRegression); err == nil {
		t.Error("string labels accepted for regression")
	}
}
