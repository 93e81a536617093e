package tasks

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Every malformed input gives an error "path:line: ..." naming the problem.
func TestMalformedInput(t *testing.T) {
	type tc struct {
		name, task, split, file, content string
		line                             int    // 0: error names the file without a line
		want                             string // substring of the message
	}
	sst := "sentence\tlabel\n"
	cases := []tc{
		{"tsv missing column", "sst2", "train", "train.tsv", sst + "good\t1\nbad\n", 3, "got 1 tab-separated columns, want 2"},
		{"tsv extra column", "sst2", "train", "train.tsv", sst + "good\t1\textra\n", 2, "got 3 tab-separated columns"},
		{"tsv bad label", "sst2", "train", "train.tsv", sst + "good\t1\nbad\tmaybe\n", 3, `bad label "maybe"`},
		{"tsv label id out of range", "rte", "dev", "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\t2\n", 2, `bad label "2"`},
		{"tsv empty label", "sst2", "train", "train.tsv", sst + "good\t\n", 2, `bad label ""`},
		{"tsv no label column", "sst2", "train", "train.tsv", "sentence\tscore\ngood\t1\n", 1, "no label column"},
		{"tsv no text column", "qnli", "dev", "dev.tsv", "index\tquestion\tlabel\n0\tq\tentailment\n", 1, "no text-pair column"},
		{"tsv no text column at all", "sst2", "train", "train.tsv", "text\tlabel\ngood\t1\n", 1, "no text column"},
		{"tsv bad score", "stsb", "train", "train.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t4.0\n1\ta\tb\tfive\n", 3, `bad regression target "five"`},
		{"tsv nan score", "stsb", "train", "train.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\tNaN\n", 2, "bad regression target"},
		{"tsv invalid utf8", "sst2", "train", "train.tsv", sst + "good\t1\nb\xffad\t0\n", 3, "invalid UTF-8"},
		{"tsv empty file", "sst2", "train", "train.tsv", "", 0, "empty file"},
		{"cola short row", "cola", "train", "train.tsv", "gj04\t1\t\tok.\ngj04\t1\tbad\n", 2, "got 3 tab-separated columns, want 4"},
		{"mnli bad gold", "mnli", "dev", "dev_matched.tsv", mnliDevHeader + mnliRow("0", "a", "b", "-", "-", "-", "-", "-", "-"), 2, `bad label "-"`},
		{"jsonl bad json", "cb", "train", "train.jsonl", `{"premise": "p", "hypothesis": "h", "label": "neutral"}` + "\n" + `{"premise": "p", "hypothesis":` + "\n", 2, "bad JSON"},
		{"jsonl wrong type", "cb", "train", "train.jsonl", `{"premise": 3, "hypothesis": "h", "label": "neutral"}` + "\n", 1, "bad JSON"},
		{"jsonl missing field", "rte-sg", "dev", "val.jsonl", `{"premise": "p", "label": "entailment"}` + "\n", 1, `missing field "hypothesis"`},
		{"jsonl missing label", "cb", "dev", "val.jsonl", `{"premise": "p", "hypothesis": "h"}` + "\n", 1, "missing label"},
		{"jsonl bad label", "cb", "dev", "val.jsonl", `{"premise": "p", "hypothesis": "h", "label": "maybe"}` + "\n", 1, `bad label "maybe"`},
		{"jsonl bool label out of range", "boolq", "dev", "val.jsonl", `{"question": "q", "passage": "p", "label": 2}` + "\n", 1, "bad label 2"},
		{"jsonl invalid utf8", "boolq", "dev", "val.jsonl", `{"question": "q", "passage": "p", "label": true}` + "\n" + "{\"question\": \"\xc3\x28\", \"passage\": \"p\", \"label\": true}\n", 2, "invalid UTF-8"},
		{"copa bad question", "copa", "dev", "val.jsonl", `{"premise": "p", "choice1": "a", "choice2": "b", "question": "why", "label": 0}` + "\n", 1, `bad question "why"`},
		{"copa bad label", "copa", "dev", "val.jsonl", `{"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 2}` + "\n", 1, "bad label"},
		{"wsc span out of range", "wsc", "dev", "val.jsonl", `{"text": "He ran.", "target": {"span1_index": 5, "span1_text": "Mark", "span2_index": 0, "span2_text": "He"}, "label": true}` + "\n", 1, "span1"},
		{"wsc missing target", "wsc", "dev", "val.jsonl", `{"text": "He ran.", "label": true}` + "\n", 1, "missing target"},
		{"wic bad offsets", "wic", "dev", "val.jsonl", `{"word": "x", "sentence1": "a x", "sentence2": "x", "start1": 2, "end1": 9, "start2": 0, "end2": 1, "label": true}` + "\n", 1, "bad target offsets"},
		{"multirc no answers", "multirc", "dev", "val.jsonl", `{"idx": 0, "passage": {"text": "t", "questions": [{"question": "q", "idx": 0, "answers": []}]}}` + "\n", 1, "no answers"},
		{"multirc bad answer label", "multirc", "dev", "val.jsonl", `{"idx": 0, "passage": {"text": "t", "questions": [{"question": "q", "idx": 0, "answers": [{"text": "a", "idx": 0, "label": 5}]}]}}` + "\n", 1, "answer 0: bad label 5"},
		{"record entity outside", "record", "dev", "val.jsonl", `{"idx": 0, "passage": {"text": "Bob", "entities": [{"start": 0, "end": 9}]}, "qas": [{"query": "@placeholder", "idx": 0, "answers": [{"text": "Bob"}]}]}` + "\n", 1, "span outside"},
		{"record no placeholder", "record", "dev", "val.jsonl", `{"idx": 0, "passage": {"text": "Bob", "entities": [{"start": 0, "end": 2}]}, "qas": [{"query": "who", "idx": 0, "answers": [{"text": "Bob"}]}]}` + "\n", 1, "no @placeholder"},
		{"record no answers", "record", "dev", "val.jsonl", `{"idx": 0, "passage": {"text": "Bob", "entities": [{"start": 0, "end": 2}]}, "qas": [{"query": "@placeholder", "idx": 5, "answers": []}]}` + "\n", 1, "query 5 has no answers"},
		{"wic original columns", "wic", "train", "train.data.txt", "board\tN\t2-2\tRoom and board .\n", 1, "want 5"},
		{"wic original indices", "wic", "train", "train.data.txt", "board\tN\t2\tRoom and board .\tB .\n", 1, "bad indices"},
		{"wic original index range", "wic", "train", "train.data.txt", "board\tN\t9-0\tRoom and board .\tB .\n", 1, "token index 9 out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "", c.file, c.content)
			_, err := mustTask(t, c.task).Load(path, c.split)
			checkErr(t, err, path, c.line, c.want)
		})
	}
}

func checkErr(t *testing.T, err error, path string, line int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	prefix := path + ": "
	if line > 0 {
		prefix = fmt.Sprintf("%s:%d: ", path, line)
	}
	if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want prefix %q containing %q", err, prefix, want)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T is not a *FileError", err)
	}
}

func TestMalformedWiCGold(t *testing.T) {
	dir := t.TempDir()
	data := writeFile(t, dir, "train/train.data.txt", "board\tN\t2-0\tRoom and board .\tB .\ngo\tV\t0-0\tGo .\tGo !\n")
	gold := writeFile(t, dir, "train/train.gold.txt", "F\n")
	_, err := mustTask(t, "wic").Load(dir, "train")
	checkErr(t, err, gold, 0, "1 gold labels for 2 examples")
	writeFile(t, dir, "train/train.gold.txt", "F\nyes\n")
	_, err = mustTask(t, "wic").Load(data, "train")
	checkErr(t, err, gold, 2, `bad gold label "yes"`)
	writeFile(t, dir, "train/train.gold.txt", "F\nT\nT\n")
	_, err = mustTask(t, "wic").Load(data, "train")
	checkErr(t, err, gold, 3, "more gold labels")
}

func TestMalformedCustom(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
		want          string
	}{
		{"mixed", `{"text": "a", "label": "x"}` + "\n" + `{"text": "b", "label": 1}` + "\n", 2, "integer label mixed with string labels (first at line 1)"},
		{"bad json", `{"text": "a", "label": "x"}` + "\n" + `{"text": "b", "label": }` + "\n", 2, "bad JSON"},
		{"missing label", `{"text": "a"}` + "\n", 1, "missing label"},
		{"negative id", `{"text": "a", "label": -1}` + "\n", 1, "out of range"},
		{"object label", `{"text": "a", "label": {"x": 1}}` + "\n", 1, "bad label"},
		{"invalid utf8", "{\"text\": \"\xff\", \"label\": 1}\n", 1, "invalid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "", "train.jsonl", c.content)
			_, err := NewCustom(path)
			checkErr(t, err, path, c.line, c.want)
		})
	}
	dir := t.TempDir()
	tr := writeFile(t, dir, "train.jsonl", `{"text": "a", "label": 1}`+"\n"+`{"text": "b", "label": 0}`+"\n")
	tk, err := NewCustom(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ content, want string }{
		{`{"label": 1}`, `missing field "text"`},
		{`{"text": "a", "label": 5}`, "not a class id"},
		{`{"text": "a", "label": 0.5}`, "non-integer label"},
		{`{"text": "a", "label": "pos"}`, "not among the training labels"},
	} {
		dev := writeFile(t, dir, "dev.jsonl", `{"text": "ok", "label": 0}`+"\n"+c.content+"\n")
		_, err := tk.Load(dev, "dev")
		checkErr(t, err, dev, 2, c.want)
	}
	empty := writeFile(t, dir, "empty.jsonl", "\n")
	_, err = NewCustom(empty)
	checkErr(t, err, empty, 0, "no labeled examples")
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := mustTask(t, "sst2").Load(dir, "train")
	if err == nil || !strings.Contains(err.Error(), filepath.Base(dir)) || !strings.Contains(err.Error(), "train.tsv") {
		t.Errorf("missing file: %v", err)
	}
	_, err = mustTask(t, "wic").Load(dir, "train")
	if err == nil || !strings.Contains(err.Error(), "original_WiC_v1.0") {
		t.Errorf("missing wic: %v", err)
	}
	_, err = mustTask(t, "sst2").Load(filepath.Join(dir, "nope"), "train")
	if err == nil {
		t.Error("missing dir: no error")
	}
	if _, err := mustTask(t, "sst2").Load(dir, "eval"); err == nil || !strings.Contains(err.Error(), "unknown split") {
		t.Errorf("bad split: %v", err)
	}
	if _, err := (&Task{Name: "x"}).Load(dir, "train"); err == nil {
		t.Error("zero Task loaded")
	}
}
