package tasks

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Row counts and label distributions from shared/data/PROVENANCE.md and
// counted from the files.
func TestRealData(t *testing.T) {
	root := sharedData(t)
	cases := []struct {
		task, dir, split string
		n                int
		labels           map[int]int // nil: not checked; test splits are all -1
	}{
		{"cola", "glue/CoLA", "train", 8551, map[int]int{0: 2528, 1: 6023}},
		{"cola", "glue/CoLA", "dev", 1043, map[int]int{0: 322, 1: 721}},
		{"cola", "glue/CoLA", "test", 1063, map[int]int{-1: 1063}},
		{"sst2", "glue/SST-2", "train", 67349, map[int]int{0: 29780, 1: 37569}},
		{"sst2", "glue/SST-2", "dev", 872, map[int]int{0: 428, 1: 444}},
		{"sst2", "glue/SST-2", "test", 1821, map[int]int{-1: 1821}},
		{"mrpc", "glue/MRPC", "train", 3668, map[int]int{0: 1194, 1: 2474}},
		{"mrpc", "glue/MRPC", "dev", 408, map[int]int{0: 129, 1: 279}},
		{"mrpc", "glue/MRPC", "test", 1725, map[int]int{-1: 1725}},
		{"mrpc", "glue/MRPC/msr_untokenized", "train", 3668, map[int]int{0: 1194, 1: 2474}},
		{"stsb", "glue/STS-B", "train", 5749, map[int]int{-1: 5749}},
		{"stsb", "glue/STS-B", "dev", 1500, map[int]int{-1: 1500}},
		{"stsb", "glue/STS-B", "test", 1379, map[int]int{-1: 1379}},
		{"qnli", "glue/QNLI", "dev", 5463, map[int]int{0: 2702, 1: 2761}},
		{"qnli", "glue/QNLI", "test", 5463, map[int]int{-1: 5463}},
		{"rte", "glue/RTE", "train", 2490, map[int]int{0: 1249, 1: 1241}},
		{"rte", "glue/RTE", "dev", 277, map[int]int{0: 146, 1: 131}},
		{"rte", "glue/RTE", "test", 3000, map[int]int{-1: 3000}},
		{"wnli", "glue/WNLI", "train", 635, map[int]int{0: 323, 1: 312}},
		{"wnli", "glue/WNLI", "dev", 71, map[int]int{0: 40, 1: 31}},
		{"wnli", "glue/WNLI", "test", 146, map[int]int{-1: 146}},
		{"boolq", "superglue/BoolQ", "dev", 3270, map[int]int{0: 1237, 1: 2033}},
		{"cb", "superglue/CB", "train", 250, map[int]int{0: 115, 1: 119, 2: 16}},
		{"cb", "superglue/CB", "dev", 56, map[int]int{0: 23, 1: 28, 2: 5}},
		{"cb", "superglue/CB", "test", 250, map[int]int{-1: 250}},
		{"copa", "superglue/COPA", "train", 400, map[int]int{0: 195, 1: 205}},
		{"copa", "superglue/COPA", "dev", 100, map[int]int{0: 55, 1: 45}},
		{"copa", "superglue/COPA", "test", 500, map[int]int{-1: 500}},
		{"multirc", "superglue/MultiRC", "dev", 4848, map[int]int{0: 2773, 1: 2075}},
		{"rte-sg", "superglue/RTE", "train", 2490, map[int]int{0: 1249, 1: 1241}},
		{"rte-sg", "superglue/RTE", "dev", 277, map[int]int{0: 146, 1: 131}},
		{"rte-sg", "superglue/RTE", "test", 3000, map[int]int{-1: 3000}},
		{"wic", "superglue/WiC", "train", 5428, map[int]int{0: 2714, 1: 2714}}, // original WiC v1.0 fallback
		{"wic", "superglue/WiC", "dev", 638, map[int]int{0: 319, 1: 319}},
		{"wic", "superglue/WiC", "test", 1400, map[int]int{-1: 1400}}, // original WiC v1.0 fallback
		{"wsc", "superglue/WSC", "train", 554, map[int]int{0: 295, 1: 259}},
		{"wsc", "superglue/WSC", "dev", 104, map[int]int{0: 66, 1: 38}},
		{"wsc", "superglue/WSC", "test", 146, map[int]int{-1: 146}},
	}
	loaded := map[string][]Example{}
	for _, c := range cases {
		t.Run(c.task+"/"+strings.ReplaceAll(c.dir, "/", "_")+"/"+c.split, func(t *testing.T) {
			tk := mustTask(t, c.task)
			exs, err := tk.Load(filepath.Join(root, c.dir), c.split)
			if err != nil {
				t.Fatal(err)
			}
			if len(exs) != c.n {
				t.Fatalf("%d examples, want %d", len(exs), c.n)
			}
			if got := labelCounts(exs); c.labels != nil && !reflect.DeepEqual(got, c.labels) {
				t.Errorf("label counts %v, want %v", got, c.labels)
			}
			ids := map[string]bool{}
			for i, e := range exs {
				if tk.Problem == ProblemMultipleChoice {
					if len(e.Choices) != tk.NumChoices || e.Choices[0].Text == "" || e.Choices[1].TextPair == "" {
						t.Fatalf("example %d: bad choices %+v", i, e.Choices)
					}
				} else if strings.TrimSpace(e.Text) == "" {
					t.Fatalf("example %d (%s): empty text", i, e.ID)
				}
				if ids[e.ID] {
					t.Fatalf("duplicate ID %q", e.ID)
				}
				ids[e.ID] = true
			}
			loaded[c.task+"/"+c.dir+"/"+c.split] = exs
		})
	}

	// Spot checks of content and formats.
	if exs := loaded["stsb/glue/STS-B/train"]; exs != nil {
		if exs[0].Target != 5 || exs[1].Target != 3.8 || exs[0].Text != "A plane is taking off." || exs[0].TextPair != "An air plane is taking off." {
			t.Errorf("stsb first rows: %+v %+v", exs[0], exs[1])
		}
		for _, e := range exs {
			if e.Target < 0 || e.Target > 5 {
				t.Fatalf("stsb target %v outside [0,5]", e.Target)
			}
		}
	}
	if exs := loaded["mrpc/glue/MRPC/dev"]; exs != nil {
		if exs[0].Label != 1 || !strings.HasPrefix(exs[0].Text, "He said the foodservice") || !strings.HasPrefix(exs[0].TextPair, "\" The foodservice") || exs[0].ID != "2" {
			t.Errorf("mrpc dev first row: %+v", exs[0])
		}
	}
	if exs := loaded["cola/glue/CoLA/train"]; exs != nil {
		if exs[0].Text != "Our friends won't buy this analysis, let alone the next one we propose." || exs[0].Label != 1 {
			t.Errorf("cola first row: %+v", exs[0])
		}
	}
	if exs := loaded["qnli/glue/QNLI/test"]; exs != nil && (exs[0].ID != "0" || exs[0].Text != "What organization is devoted to Jihad against Israel?") {
		t.Errorf("qnli test first row: %+v", exs[0])
	}
	if exs := loaded["copa/superglue/COPA/train"]; exs != nil {
		want := []Pair{{"My body cast a shadow over the grass.", "because the sun was rising."}, {"My body cast a shadow over the grass.", "because the grass was cut."}}
		if !reflect.DeepEqual(exs[0].Choices, want) || exs[0].Label != 0 {
			t.Errorf("copa first: %+v", exs[0])
		}
	}
	if exs := loaded["wic/superglue/WiC/dev"]; exs != nil {
		if exs[0].Text != "An emerging professional *class*." || exs[0].TextPair != "Apologizing for losing your temper, even though you were badly provoked, showed real *class*." {
			t.Errorf("wic first: %q / %q", exs[0].Text, exs[0].TextPair)
		}
	}
	if exs := loaded["wic/superglue/WiC/train"]; exs != nil {
		if exs[0].Text != "You must *carry* your camping gear." || exs[0].TextPair != "Sound *carries* well over water." || exs[0].Label != 0 {
			t.Errorf("wic train first: %+v", exs[0])
		}
	}
	if exs := loaded["wsc/superglue/WSC/train"]; exs != nil {
		if exs[0].Text != "*Mark* told Pete many lies about himself, which Pete included in his book. #He# should have been more skeptical." ||
			exs[0].TextPair != `Does the pronoun "He" refer to "Mark"?` {
			t.Errorf("wsc first: %q / %q", exs[0].Text, exs[0].TextPair)
		}
	}
	for _, k := range []string{"wsc/superglue/WSC/train", "wsc/superglue/WSC/dev", "wsc/superglue/WSC/test"} {
		for _, e := range loaded[k] {
			if strings.Count(e.Text, "*") < 2 || strings.Count(e.Text, "#") < 2 {
				t.Errorf("%s %s: spans not marked: %q", k, e.ID, e.Text)
			}
		}
	}
	if exs := loaded["wsc/superglue/WSC/dev"]; exs != nil {
		// idx 42: span2_index points at "use"; the pronoun "it" is the next word.
		if e := exs[42]; !strings.Contains(e.Text, "want to use #it# ,") || !strings.Contains(e.Text, "*safe*") {
			t.Errorf("wsc val 42: %q", e.Text)
		}
	}
	if exs := loaded["multirc/superglue/MultiRC/dev"]; exs != nil {
		groups := map[string]bool{}
		for _, e := range exs {
			groups[e.Group] = true
		}
		if len(groups) != 953 {
			t.Errorf("multirc: %d questions, want 953", len(groups))
		}
		if e := exs[0]; e.Group != "0-0" || e.TextPair != "Would the mass of a baseball affect how much force you have to use to pick it up? No" || e.Label != 0 {
			t.Errorf("multirc first: %+v", e)
		}
	}
	if exs := loaded["boolq/superglue/BoolQ/dev"]; exs != nil {
		if exs[0].Text != "does ethanol take more energy make that produces" || !strings.HasPrefix(exs[0].TextPair, "Ethanol fuel -- ") || exs[0].Label != 0 {
			t.Errorf("boolq first: %+v", exs[0])
		}
	}
	// Train/dev label coverage.
	for _, p := range [][2]string{{"cb/superglue/CB/train", "cb/superglue/CB/dev"}, {"cola/glue/CoLA/train", "cola/glue/CoLA/dev"}} {
		if err := CheckLabels(loaded[p[0]], loaded[p[1]]); err != nil {
			t.Errorf("%s: %v", p[1], err)
		}
	}
}

// The WiC v1.0 dev split detokenized must match the SuperGLUE val.jsonl text.
func TestWiCDetokenizeMatchesSuperGLUE(t *testing.T) {
	root := sharedData(t)
	dir := filepath.Join(root, "superglue", "WiC")
	tk := mustTask(t, "wic")
	orig, err := tk.Load(filepath.Join(dir, "original_WiC_v1.0", "dev", "dev.data.txt"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	val, err := tk.Load(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	unmark := strings.NewReplacer("*", "")
	for _, e := range val {
		want[unmark.Replace(e.Text)] = true
		want[unmark.Replace(e.TextPair)] = true
	}
	ok, all := 0, 0
	var bad []string
	for _, e := range orig {
		for _, s := range []string{e.Text, e.TextPair} {
			all++
			if want[unmark.Replace(s)] {
				ok++
			} else if len(bad) < 5 {
				bad = append(bad, s)
			}
		}
	}
	rate := float64(ok) / float64(all)
	t.Logf("WiC dev detokenized sentences equal to SuperGLUE val: %d/%d (%.1f%%); e.g. %q", ok, all, 100*rate, bad)
	if rate < 0.97 {
		t.Errorf("detokenization matches only %.1f%%", 100*rate)
	}
	// Labels agree pairwise (by sentence pair).
	lab := map[string]int{}
	for _, e := range val {
		lab[unmark.Replace(e.Text)+"\x00"+unmark.Replace(e.TextPair)] = e.Label
	}
	agree, found := 0, 0
	for _, e := range orig {
		if l, ok := lab[unmark.Replace(e.Text)+"\x00"+unmark.Replace(e.TextPair)]; ok {
			found++
			if l == e.Label {
				agree++
			}
		}
	}
	if found < 600 || agree != found {
		t.Errorf("WiC original dev vs val: %d pairs found, %d labels agree", found, agree)
	}
}
