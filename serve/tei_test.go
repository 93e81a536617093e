package serve

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

type teiPred struct {
	Score float32 `json:"score"`
	Label string  `json:"label"`
}

func TestTEIPredictShapes(t *testing.T) {
	_, ts := start(t, Options{DefaultTask: "topic"}, "topic", "sentiment", "score")
	base := ts.URL + "/tasks/topic"
	want := shared.reference(t, shared.adapters["topic"], "soup in the kitchen")

	// a single string: every label with its softmax probability, best first
	code, body := post(t, nil, "POST", base+"/predict", in{"inputs": "soup in the kitchen"})
	var single []teiPred
	if code != 200 || json.Unmarshal(body, &single) != nil || len(single) != 3 {
		t.Fatalf("single: %d %s", code, body)
	}
	labels := map[string]int{"food": 0, "science": 1, "sports": 2}
	var sum float64
	for i, p := range single {
		if i > 0 && p.Score > single[i-1].Score {
			t.Fatalf("not sorted: %s", body)
		}
		sum += float64(p.Score)
		k, ok := labels[p.Label]
		if !ok {
			t.Fatalf("label %q", p.Label)
		}
		m := math.Inf(-1)
		for _, v := range want {
			m = math.Max(m, float64(v))
		}
		var z float64
		for _, v := range want {
			z += math.Exp(float64(v) - m)
		}
		if d := math.Abs(float64(p.Score) - math.Exp(float64(want[k])-m)/z); d > 1e-6 {
			t.Fatalf("label %s score %v, want softmax of %v", p.Label, p.Score, want)
		}
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Fatalf("scores sum to %v", sum)
	}
	// raw scores are the logits
	code, body = post(t, nil, "POST", base+"/predict", in{"inputs": "soup in the kitchen", "raw_scores": true})
	if code != 200 || json.Unmarshal(body, &single) != nil {
		t.Fatalf("raw: %d %s", code, body)
	}
	for _, p := range single {
		if p.Score != want[labels[p.Label]] {
			t.Fatalf("raw score %v for %s, logits %v", p.Score, p.Label, want)
		}
	}
	// a pair is one input; a batch gives a list per input
	code, body = post(t, nil, "POST", base+"/predict", in{"inputs": []string{"a", "b"}})
	if code != 200 || json.Unmarshal(body, &single) != nil || len(single) != 3 {
		t.Fatalf("pair: %d %s", code, body)
	}
	var batch [][]teiPred
	code, body = post(t, nil, "POST", base+"/predict", in{"inputs": [][]string{{"a"}, {"a", "b"}, {"soup in the kitchen"}}, "truncate": true})
	if code != 200 || json.Unmarshal(body, &batch) != nil || len(batch) != 3 || len(batch[2]) != 3 {
		t.Fatalf("batch: %d %s", code, body)
	}
	// a single-logit (regression) head answers its sigmoid, like TEI
	code, body = post(t, nil, "POST", ts.URL+"/tasks/score/predict", in{"inputs": "a"})
	if code != 200 || json.Unmarshal(body, &single) != nil || len(single) != 1 || single[0].Score <= 0 || single[0].Score >= 1 {
		t.Fatalf("regression: %d %s", code, body)
	}
	// the default task at the root
	code, body = post(t, nil, "POST", ts.URL+"/predict", in{"inputs": "soup in the kitchen"})
	var root []teiPred
	if code != 200 || json.Unmarshal(body, &root) != nil || len(root) != 3 || root[0] != batch[2][0] {
		t.Fatalf("root: %d %s", code, body)
	}
	// errors
	for _, c := range []struct {
		url  string
		body any
		code int
	}{
		{base + "/predict", in{"inputs": []string{}}, 400},
		{base + "/predict", in{"inputs": []string{"a", "b", "c"}}, 400},
		{base + "/predict", in{"inputs": [][]string{{"a", "b", "c"}}}, 400},
		{base + "/predict", in{"inputs": 3}, 400},
		{base + "/predict", in{}, 400},
		{base + "/predict", in{"inputs": strings.Repeat("word ", 200)}, 413},
		{ts.URL + "/tasks/nope/predict", in{"inputs": "a"}, 400},
	} {
		code, body := post(t, nil, "POST", c.url, c.body)
		var e struct {
			Error     string `json:"error"`
			ErrorType string `json:"error_type"`
		}
		if code != c.code || json.Unmarshal(body, &e) != nil || e.Error == "" || e.ErrorType == "" {
			t.Errorf("%v: %d %s, want %d", c.body, code, body, c.code)
		}
	}
}

func TestTEITokenizeInfoHealth(t *testing.T) {
	_, ts := start(t, Options{MaxInputs: 7}, "topic")
	base := ts.URL + "/tasks/topic"
	type token struct {
		ID      int32  `json:"id"`
		Text    string `json:"text"`
		Special bool   `json:"special"`
		Start   *int   `json:"start"`
		Stop    *int   `json:"stop"`
	}
	text := "The Chef made SOUP, in the kitchen"
	code, body := post(t, nil, "POST", base+"/tokenize", in{"inputs": text})
	var toks [][]token
	if code != 200 || json.Unmarshal(body, &toks) != nil || len(toks) != 1 {
		t.Fatalf("tokenize: %d %s", code, body)
	}
	enc, _ := shared.tok.Encode(text)
	got := toks[0]
	if len(got) != len(enc.IDs) {
		t.Fatalf("%d tokens, want %d: %s", len(got), len(enc.IDs), body)
	}
	runes := []rune(text)
	for i, tk := range got {
		if tk.ID != enc.IDs[i] {
			t.Fatalf("token %d id %d, want %d", i, tk.ID, enc.IDs[i])
		}
		special := i == 0 || i == len(got)-1
		if tk.Special != special {
			t.Fatalf("token %d special %v: %s", i, tk.Special, body)
		}
		if special {
			if tk.Start != nil || tk.Stop != nil {
				t.Fatalf("special token %d has offsets", i)
			}
			continue
		}
		if (tk.Start == nil) != (tk.Stop == nil) || tk.Start != nil && string(runes[*tk.Start:*tk.Stop]) != tk.Text {
			t.Fatalf("token %d offsets: %s", i, body)
		}
	}
	// "made", "," and "in" are not in the demo vocabulary: [UNK]; a lone
	// unknown word still gets its span
	if got[1].Text != "The" || got[3].Text != "made" || got[4].Text != "SOUP" || got[8].Text != "kitchen" || *got[8].Start != 27 {
		t.Fatalf("token texts: %s", body)
	}
	// batch, no special tokens
	code, body = post(t, nil, "POST", base+"/tokenize", in{"inputs": []string{"soup", "the kitchen"}, "add_special_tokens": false})
	if code != 200 || json.Unmarshal(body, &toks) != nil || len(toks) != 2 || len(toks[1]) != 2 || toks[1][1].Text != "kitchen" || *toks[1][1].Start != 4 {
		t.Fatalf("batch tokenize: %d %s", code, body)
	}
	if code, body := post(t, nil, "POST", base+"/tokenize", in{"inputs": []string{}}); code != 400 {
		t.Fatalf("empty tokenize: %d %s", code, body)
	}

	code, body = post(t, nil, "GET", base+"/info", nil)
	var info map[string]any
	if code != 200 || json.Unmarshal(body, &info) != nil {
		t.Fatalf("info: %d %s", code, body)
	}
	for _, k := range []string{"model_id", "model_sha", "model_dtype", "model_type", "max_concurrent_requests", "max_input_length",
		"max_batch_tokens", "max_batch_requests", "max_client_batch_size", "auto_truncate", "tokenization_workers", "version", "sha", "docker_label"} {
		if _, ok := info[k]; !ok {
			t.Errorf("info lacks %q", k)
		}
	}
	mt, _ := info["model_type"].(map[string]any)
	cl, _ := mt["classifier"].(map[string]any)
	if id2, _ := cl["id2label"].(map[string]any); id2["2"] != "sports" {
		t.Fatalf("model_type: %s", body)
	}
	if info["max_input_length"] != float64(64) || info["max_client_batch_size"] != float64(7) || info["model_dtype"] != "float32" {
		t.Fatalf("info: %s", body)
	}

	if code, body := post(t, nil, "GET", base+"/health", nil); code != 200 || len(body) != 0 {
		t.Fatalf("health: %d %s", code, body)
	}
	if code, body := post(t, nil, "GET", ts.URL+"/tasks/nope/health", nil); code != 503 || !strings.Contains(string(body), "unhealthy") {
		t.Fatalf("health of unknown task: %d %s", code, body)
	}
	if code, _ := post(t, nil, "GET", ts.URL+"/info", nil); code != 404 {
		t.Fatalf("root info without --default-task: %d", code)
	}
}

func TestAlignOffsetsBPE(t *testing.T) {
	// byte-level BPE pieces (Ġ = space) and WordPiece pieces
	got := alignOffsets("Hello wörld", []string{"Hello", "Ġw", "Ã¶", "rld"})
	want := [][2]int{{0, 5}, {6, 7}, {7, 8}, {8, 11}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bpe offsets %v, want %v", got, want)
		}
	}
	got = alignOffsets("Café unbelievable", []string{"cafe", "un", "##believ", "##able"})
	want = [][2]int{{0, 4}, {5, 7}, {7, 13}, {13, 17}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("wordpiece offsets %v, want %v", got, want)
		}
	}
	got = alignOffsets("a ??? b", []string{"a", "[UNK]", "b"})
	if got[1] != [2]int{2, 5} || got[2] != [2]int{6, 7} {
		t.Fatalf("unknown piece: %v", got)
	}
}
