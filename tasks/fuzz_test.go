package tasks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds any bytes to every task's reader (and to the custom task's
// label inference): each must return examples or a *FileError, never panic.
// The seeds are one well-formed line per layout, so the fuzzer starts from
// inputs that get past the header and JSON checks.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"sentence\tlabel\ngood\t1\n",
		"gj04\t1\t\tThe book was read.\n",
		"index\tsentence1\tsentence2\tscore\n0\ta b\tb a\t4.2\n",
		"index\tquestion\tsentence\tlabel\n0\twho?\tme.\tentailment\n",
		`{"question": "q", "passage": "p", "label": true}` + "\n",
		`{"premise": "p", "hypothesis": "h", "label": "neutral"}` + "\n",
		`{"premise": "It rained.", "choice1": "Wet.", "choice2": "Dry.", "question": "effect", "label": 0}` + "\n",
		`{"idx": 0, "passage": {"text": "t", "questions": [{"question": "q", "idx": 0, "answers": [{"text": "a", "idx": 0, "label": 1}]}]}}` + "\n",
		`{"text": "Mark ran. He won.", "target": {"span1_index": 0, "span1_text": "Mark", "span2_index": 2, "span2_text": "He"}, "label": true}` + "\n",
		`{"word": "x", "sentence1": "a x", "sentence2": "x b", "start1": 2, "end1": 3, "start2": 0, "end2": 1, "label": true}` + "\n",
		`{"idx": 0, "passage": {"text": "Bob met Al.", "entities": [{"start": 0, "end": 2}, {"start": 8, "end": 9}]}, "qas": [{"query": "@placeholder won", "idx": 0, "answers": [{"start": 0, "end": 2, "text": "Bob"}]}]}` + "\n",
		"board\tN\t2-0\tRoom and board .\tB .\n",
		`{"text": "a", "text_pair": "b", "label": 1}` + "\n" + `{"text": "c", "label": 0}` + "\n",
		`{"text": "a", "label": 0.5}` + "\n",
	}
	names := Names()
	for i, s := range seeds {
		for j := range names {
			if (i+j)%len(seeds) == 0 || j%7 == i%7 {
				f.Add(uint8(j), uint8(i%3), []byte(s))
			}
		}
	}
	splits := []string{SplitTrain, SplitDev, SplitTest}
	f.Fuzz(func(t *testing.T, task, split uint8, data []byte) {
		name := names[int(task)%len(names)]
		sp := splits[int(split)%len(splits)]
		path := filepath.Join(t.TempDir(), "data")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "custom" {
			tk, err := NewCustom(path)
			checkFuzzErr(t, err)
			if err == nil {
				_, err = tk.Load(path, sp)
				checkFuzzErr(t, err)
			}
			return
		}
		tk, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tk.Load(path, sp)
		checkFuzzErr(t, err)
	})
}

func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	var fe *FileError
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) does not name the file", err, err)
	}
}
