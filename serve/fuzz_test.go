package serve

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzRequests posts any body to the JSON routes of a server on loopback:
// each answer must be 200 with a JSON body or a JSON error with a 4xx
// status (never a 5xx, never a hang), and the server must still answer
// /healthz afterwards.
func FuzzRequests(f *testing.F) {
	seeds := []string{
		`{"task": "sentiment", "inputs": ["great film", {"text": "a", "text_pair": "b"}]}`,
		`{"task": "sentiment", "inputs": [{"text": "x", "task": "score"}], "truncate": true}`,
		`{"task": "topic", "inputs": ["caf\u00e9 \ud83d\ude00"], "return_logits": true}`,
		`{"inputs": "one text", "raw_scores": true, "truncate": true}`,
		`{"inputs": [["a", "b"]], "truncation_direction": "left"}`,
		`{"inputs": "tokenize me", "add_special_tokens": false}`,
		`{"task": "sentiment", "inputs": []}`,
		`[1, 2]`,
		``,
	}
	for i, s := range seeds {
		for route := range fuzzRoutes {
			if route%3 == i%3 {
				f.Add(uint8(route), []byte(s))
			}
		}
	}
	_, ts := start(f, Options{MaxBody: 1 << 14, MaxInputs: 8, DefaultTask: "sentiment"}, "sentiment", "topic", "score")
	client := ts.Client()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		code, out := post(t, client, "POST", ts.URL+path, body)
		if code >= 500 || code < 200 || (code >= 300 && code < 400) {
			t.Fatalf("POST %s %q: status %d %s", path, body, code, out)
		}
		if !json.Valid(out) {
			t.Fatalf("POST %s %q: status %d, body not JSON: %q", path, body, code, out)
		}
		if code, out := post(t, client, "GET", ts.URL+"/healthz", nil); code != http.StatusOK {
			t.Fatalf("after POST %s %q: /healthz %d %s", path, body, code, out)
		}
	})
}

var fuzzRoutes = []string{"/v1/predict", "/predict", "/tasks/topic/predict", "/tokenize", "/tasks/score/tokenize"}
