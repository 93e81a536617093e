package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var texts = []string{
	"the movie was great and fun",
	"a new telescope changed the theory",
	"this film felt tedious",
	"the chef made soup in the kitchen",
	"the coach was about the league",
	"the soundtrack seemed superb and moving",
	"we talked about the data and the cells",
	"",
}

// One request mixing three tasks (factors, f16 table, regression) gives
// every input exactly the logits of running it alone with its adapter.
func TestMixedTasksEqualAlone(t *testing.T) {
	_, ts := start(t, Options{}, "sentiment", "topic", "score")
	tasks := []string{"sentiment", "topic", "score"}
	var inputs []in
	for i, text := range texts {
		inputs = append(inputs, in{"text": text, "task": tasks[i%3]})
	}
	inputs = append(inputs, in{"text": "the acting was brilliant"}) // the request's task
	code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "topic", "inputs": inputs})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var out predictOut
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Predictions) != len(inputs) {
		t.Fatalf("%d predictions for %d inputs", len(out.Predictions), len(inputs))
	}
	for i, p := range out.Predictions {
		task := "topic"
		if v, ok := inputs[i]["task"]; ok {
			task = v.(string)
		}
		if p.Task != task {
			t.Fatalf("prediction %d: task %q, want %q", i, p.Task, task)
		}
		want := shared.reference(t, shared.adapters[task], inputs[i]["text"].(string))
		got := p.Logits
		if task == "score" {
			if p.Label != nil || p.Logits != nil || p.Score != float64(want[0]) {
				t.Fatalf("regression prediction %d = %+v, want score %v only", i, p, want[0])
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("prediction %d (%s): logits %v, alone %v", i, task, got, want)
		}
		if p.Label == nil || p.Score <= 0 || p.Score > 1 {
			t.Fatalf("prediction %d: label %v score %v", i, p.Label, p.Score)
		}
	}
}

// Requests of different tasks that wait together run as one forward pass.
func TestBatchesMixTasks(t *testing.T) {
	s, ts := start(t, Options{}, "sentiment", "topic", "score")
	hold := make(chan struct{})
	s.b.setHold(hold)
	results := make(chan []byte, 3)
	for _, task := range []string{"sentiment", "topic", "score"} {
		go func() {
			_, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": task, "inputs": []string{texts[0], texts[1]}})
			results <- body
		}()
	}
	waitFor(t, func() bool { return s.b.queued() == 6 })
	close(hold)
	for range 3 {
		var out predictOut
		if body := <-results; json.Unmarshal(body, &out) != nil || len(out.Predictions) != 2 {
			t.Fatalf("answer %s", body)
		}
		for i, p := range out.Predictions {
			want := shared.reference(t, shared.adapters[p.Task], texts[i])
			if p.Task != "score" && !slices.Equal(p.Logits, want) || p.Task == "score" && p.Score != float64(want[0]) {
				t.Fatalf("%s input %d: %+v, alone %v", p.Task, i, p, want)
			}
		}
	}
	if n := s.b.batches.Load(); n != 1 {
		t.Fatalf("%d forward passes for 6 waiting sequences of 3 tasks, want 1", n)
	}
}

// 20 clients × 20 requests of random task mixes all get correct results.
func TestConcurrentClients(t *testing.T) {
	s, ts := start(t, Options{MaxWait: 2 * time.Millisecond}, "sentiment", "topic", "topic2")
	tasks := []string{"sentiment", "topic", "topic2"}
	want := map[string][]float32{}
	for _, task := range tasks {
		for _, text := range texts {
			want[task+"|"+text] = shared.reference(t, shared.adapters[task], text)
		}
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for c := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 20 {
				n := 1 + (c+r)%4
				var inputs []in
				for k := range n {
					inputs = append(inputs, in{"text": texts[(c*7+r*3+k)%len(texts)], "task": tasks[(c+r+k)%3]})
				}
				code, body := post(t, ts.Client(), "POST", ts.URL+"/v1/predict", in{"inputs": inputs})
				var out predictOut
				if code != 200 || json.Unmarshal(body, &out) != nil || len(out.Predictions) != n {
					t.Errorf("client %d request %d: %d %s", c, r, code, body)
					bad.Add(1)
					return
				}
				for k, p := range out.Predictions {
					if w := want[inputs[k]["task"].(string)+"|"+inputs[k]["text"].(string)]; !slices.Equal(p.Logits, w) {
						t.Errorf("client %d request %d input %d: %v, want %v", c, r, k, p.Logits, w)
						bad.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d bad answers", bad.Load())
	}
	checkRefs(t, s)
}

// checkRefs: once idle, every task holds only the registry's reference.
func checkRefs(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ok := true
		s.reg.mu.RLock()
		for _, tk := range s.reg.tasks {
			if tk.refs.Load() != 1 {
				ok = false
			}
		}
		s.reg.mu.RUnlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("task references not released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A tiny queue under many concurrent requests answers 429 at once for the
// excess, never more queued tokens than the bound, and correct results for
// the rest; the server stays healthy.
func TestOverloadAnswers429(t *testing.T) {
	s, ts := start(t, Options{MaxBatchTokens: 64, MaxQueueTokens: 64, MaxWait: 20 * time.Millisecond}, "sentiment")
	want := shared.reference(t, shared.adapters["sentiment"], texts[0])
	var wg sync.WaitGroup
	var ok, full, other atomic.Int64
	var maxQueued atomic.Int64
	stop := make(chan struct{})
	go func() { // watch the queue bound
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.b.mu.Lock()
			q := int64(s.b.tokens)
			s.b.mu.Unlock()
			if q > maxQueued.Load() {
				maxQueued.Store(q)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := post(t, ts.Client(), "POST", ts.URL+"/v1/predict",
				in{"task": "sentiment", "inputs": []in{{"text": texts[0]}, {"text": texts[0]}}})
			switch code {
			case 200:
				var out predictOut
				if json.Unmarshal(body, &out) != nil || !slices.Equal(out.Predictions[1].Logits, want) {
					t.Errorf("wrong answer %s", body)
				}
				ok.Add(1)
			case 429:
				if !strings.Contains(string(body), `"error"`) {
					t.Errorf("429 without JSON error: %s", body)
				}
				full.Add(1)
			default:
				t.Errorf("status %d: %s", code, body)
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	t.Logf("200: %d, 429: %d, most tokens queued: %d", ok.Load(), full.Load(), maxQueued.Load())
	if full.Load() == 0 || ok.Load() == 0 || other.Load() != 0 {
		t.Fatalf("want both 200s and 429s only: 200 %d, 429 %d, other %d", ok.Load(), full.Load(), other.Load())
	}
	if maxQueued.Load() > 64 {
		t.Fatalf("queue held %d tokens, bound 64", maxQueued.Load())
	}
	if code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{texts[0]}}); code != 200 {
		t.Fatalf("after overload: %d %s", code, body)
	}
	checkRefs(t, s)
}

// Too many requests at once (beyond --max-concurrent-requests) answer 429.
func TestConcurrencyLimit(t *testing.T) {
	s, ts := start(t, Options{MaxConcurrent: 1}, "sentiment")
	hold := make(chan struct{})
	s.b.setHold(hold)
	done := make(chan int)
	go func() {
		code, _ := post(t, ts.Client(), "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{"a"}})
		done <- code
	}()
	waitFor(t, func() bool { return len(s.sem) == 1 })
	if code, body := post(t, ts.Client(), "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{"b"}}); code != 429 {
		t.Fatalf("second request: %d %s", code, body)
	}
	close(hold)
	if code := <-done; code != 200 {
		t.Fatalf("first request: %d", code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 3s")
		}
	}
}

func TestBadRequests(t *testing.T) {
	_, ts := start(t, Options{MaxBody: 4096, MaxInputs: 4}, "sentiment")
	long := strings.Repeat("great ", 100)
	cases := []struct {
		name string
		body any
		code int
		msg  string
	}{
		{"malformed JSON", []byte(`{"task": "sentiment", "inputs": [`), 400, "invalid JSON"},
		{"not an object", []byte(`[1,2]`), 400, "invalid JSON"},
		{"trailing data", []byte(`{"task":"sentiment","inputs":["a"]} x`), 400, "invalid JSON"},
		{"invalid UTF-8", []byte("{\"task\": \"sentiment\", \"inputs\": [\"caf\xe9\"]}"), 400, "UTF-8"},
		{"huge body", []byte(`{"task": "sentiment", "inputs": ["` + strings.Repeat("a", 5000) + `"]}`), 413, "limit"},
		{"unknown task", in{"task": "nope", "inputs": []string{"a"}}, 400, "unknown task"},
		{"unknown input task", in{"task": "sentiment", "inputs": []in{{"text": "a"}, {"text": "b", "task": "nope"}}}, 400, "unknown task"},
		{"no task", in{"inputs": []string{"a"}}, 400, "no task"},
		{"no inputs", in{"task": "sentiment"}, 400, "inputs"},
		{"empty inputs", in{"task": "sentiment", "inputs": []string{}}, 400, "empty"},
		{"no text", in{"task": "sentiment", "inputs": []in{{"text_pair": "a"}}}, 400, "text"},
		{"wrong type", in{"task": "sentiment", "inputs": []int{1}}, 400, "invalid JSON"},
		{"too many inputs", in{"task": "sentiment", "inputs": []string{"a", "b", "c", "d", "e"}}, 413, "batch size"},
		{"too long", in{"task": "sentiment", "inputs": []string{long}}, 413, "tokens"},
		{"too long pair", in{"task": "sentiment", "inputs": []in{{"text": "short", "text_pair": long}}}, 413, "tokens"},
	}
	for _, c := range cases {
		code, body := post(t, nil, "POST", ts.URL+"/v1/predict", c.body)
		var e struct{ Error string }
		if code != c.code || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.code, c.msg)
		}
	}
	// truncation on request, or by default
	code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "truncate": true, "inputs": []in{{"text": long, "text_pair": long}}})
	if code != 200 {
		t.Fatalf("truncate: %d %s", code, body)
	}
	// other routes and methods answer JSON errors too
	for _, c := range []struct{ method, path string }{{"GET", "/v1/predict"}, {"GET", "/nowhere"}, {"POST", "/tasks/sentiment/info"}} {
		code, body := post(t, nil, c.method, ts.URL+c.path, nil)
		var e struct{ Error string }
		if code < 400 || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// multiple-choice adapters are refused
	_, ts2 := start(t, Options{AdminToken: "tok"})
	code, body = post(t, nil, "PUT", ts2.URL+"/v1/tasks/mc", in{"adapter": shared.adapters["choice"]}, "Authorization", "Bearer tok")
	if code != 400 || !strings.Contains(string(body), "multiple-choice tasks are not served") {
		t.Fatalf("multiple choice: %d %s", code, body)
	}
}

func TestTruncateByDefault(t *testing.T) {
	_, ts := start(t, Options{Truncate: true}, "sentiment")
	long := strings.Repeat("great ", 100)
	if code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{long}}); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "truncate": false, "inputs": []string{long}}); code != 413 {
		t.Fatalf("%d %s", code, body)
	}
}

func TestAdmin(t *testing.T) {
	_, open := start(t, Options{}, "sentiment")
	for _, m := range []string{"PUT", "DELETE"} {
		if code, body := post(t, nil, m, open.URL+"/v1/tasks/sentiment", in{"adapter": shared.adapters["topic"]}, "Authorization", "Bearer x"); code != 403 {
			t.Fatalf("%s without a configured token: %d %s", m, code, body)
		}
	}
	_, ts := start(t, Options{AdminToken: "s3cret"}, "sentiment")
	put := in{"adapter": shared.adapters["topic"]}
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Basic s3cret"}} {
		if code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/t2", put, h...); code != 401 {
			t.Fatalf("PUT with %v: %d %s", h, code, body)
		}
		if code, body := post(t, nil, "DELETE", ts.URL+"/v1/tasks/sentiment", nil, h...); code != 401 {
			t.Fatalf("DELETE with %v: %d %s", h, code, body)
		}
	}
	auth := []string{"Authorization", "Bearer s3cret"}
	code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/t2", put, auth...)
	if code != 200 || !strings.Contains(string(body), `"replaced":false`) {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body = post(t, nil, "GET", ts.URL+"/v1/tasks", nil)
	var list struct{ Tasks []TaskInfo }
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Tasks) != 2 || list.Tasks[1].Name != "t2" || list.Tasks[1].TableBytes <= 0 {
		t.Fatalf("GET /v1/tasks: %d %s", code, body)
	}
	if code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "t2", "inputs": []string{"soup"}}); code != 200 {
		t.Fatalf("predict on the new task: %d %s", code, body)
	}
	for _, c := range []struct {
		body any
		msg  string
	}{{in{"adapter": "/nonexistent"}, "loading adapter"}, {in{}, "required"}, {[]byte("{"), "invalid JSON"}} {
		if code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/t3", c.body, auth...); code != 400 || !strings.Contains(string(body), c.msg) {
			t.Fatalf("PUT %v: %d %s", c.body, code, body)
		}
	}
	if code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/bad%20name", put, auth...); code != 400 {
		t.Fatalf("bad name: %d %s", code, body)
	}
	if code, body := post(t, nil, "DELETE", ts.URL+"/v1/tasks/t2", nil, auth...); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, body := post(t, nil, "DELETE", ts.URL+"/v1/tasks/t2", nil, auth...); code != 400 {
		t.Fatalf("DELETE again: %d %s", code, body)
	}
	if code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "t2", "inputs": []string{"soup"}}); code != 400 {
		t.Fatalf("predict on the deleted task: %d %s", code, body)
	}
}

// Replacing a task's adapter again and again while clients send requests
// loses nothing: every request succeeds with the logits of one of the two
// adapters (a factor adapter and a memory-mapped int8 table, which is
// unmapped only after its last request).
func TestHotSwapUnderLoad(t *testing.T) {
	s, ts := start(t, Options{AdminToken: "tok", MaxWait: time.Millisecond}, "sentiment")
	dirs := []string{shared.adapters["topic2"], shared.adapters["topic"]}
	if _, err := s.LoadTask("x", dirs[0]); err != nil {
		t.Fatal(err)
	}
	want := map[string][2][]float32{}
	for _, text := range texts {
		want[text] = [2][]float32{shared.reference(t, dirs[0], text), shared.reference(t, dirs[1], text)}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n, seen0, seen1 atomic.Int64
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; ; r++ {
				select {
				case <-stop:
					return
				default:
				}
				text := texts[(c+r)%len(texts)]
				code, body := post(t, ts.Client(), "POST", ts.URL+"/v1/predict",
					in{"inputs": []in{{"text": text, "task": "x"}, {"text": text, "task": "sentiment"}}})
				var out predictOut
				if code != 200 || json.Unmarshal(body, &out) != nil {
					t.Errorf("during swaps: %d %s", code, body)
					return
				}
				switch got := out.Predictions[0].Logits; {
				case slices.Equal(got, want[text][0]):
					seen0.Add(1)
				case slices.Equal(got, want[text][1]):
					seen1.Add(1)
				default:
					t.Errorf("logits %v match neither adapter", got)
				}
				n.Add(1)
			}
		}()
	}
	for i := range 30 {
		code, body := post(t, nil, "PUT", ts.URL+"/v1/tasks/x", in{"adapter": dirs[(i+1)%2]}, "Authorization", "Bearer tok")
		if code != 200 {
			t.Errorf("swap %d: %d %s", i, code, body)
		}
		time.Sleep(3 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during 30 swaps (old adapter %d, new %d)", n.Load(), seen0.Load(), seen1.Load())
	if n.Load() == 0 || seen0.Load() == 0 || seen1.Load() == 0 {
		t.Fatal("swaps were not exercised under load")
	}
	checkRefs(t, s)
}

// A cancelled request's queued sequences are dropped and its task
// references released.
func TestCancelledRequestDropped(t *testing.T) {
	s, ts := start(t, Options{}, "sentiment")
	hold := make(chan struct{})
	s.b.setHold(hold)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/predict", strings.NewReader(`{"task":"sentiment","inputs":["a","b"]}`))
	errc := make(chan error)
	go func() {
		_, err := ts.Client().Do(req)
		errc <- err
	}()
	waitFor(t, func() bool { return s.b.queued() == 2 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled request succeeded")
	}
	// the handler has seen the cancellation
	waitFor(t, func() bool { return counterValue(t, ts.URL, `aotp_requests_total{code="499",route="predict"}`) == 1 })
	close(hold)
	waitFor(t, func() bool { return counterValue(t, ts.URL, "aotp_sequences_dropped_total") == 2 })
	checkRefs(t, s)
}

// Request timeouts answer 503 and drop the work.
func TestRequestTimeout(t *testing.T) {
	s, ts := start(t, Options{RequestTimeout: 30 * time.Millisecond}, "sentiment")
	hold := make(chan struct{})
	s.b.setHold(hold)
	code, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "sentiment", "inputs": []string{"a"}})
	close(hold)
	if code != 503 || !strings.Contains(string(body), "timed out") {
		t.Fatalf("%d %s", code, body)
	}
	checkRefs(t, s)
}

func counterValue(t *testing.T, url, name string) float64 {
	_, body := post(t, nil, "GET", url+"/metrics", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	_, ts := start(t, Options{}, "sentiment", "topic")
	post(t, nil, "POST", ts.URL+"/v1/predict", in{"inputs": []in{{"text": "a", "task": "sentiment"}, {"text": "b", "task": "topic"}}})
	post(t, nil, "POST", ts.URL+"/v1/predict", in{"task": "nope", "inputs": []string{"a"}})
	code, body := post(t, nil, "GET", ts.URL+"/metrics", nil)
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		"aotp_queue_sequences 0", "aotp_queue_tokens 0", "aotp_batch_sequences_bucket", "aotp_batch_tokens_sum",
		"aotp_tokens_total", "aotp_tasks_loaded 2", `aotp_task_table_bytes{task="topic"}`,
		`aotp_request_duration_seconds_count{task="sentiment"} 1`, `aotp_requests_total{code="200",route="predict"} 1`,
		`aotp_requests_total{code="400",route="predict"} 1`, "process_resident_memory_bytes", "go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if v := counterValue(t, ts.URL, "aotp_tokens_total"); v <= 0 {
		t.Errorf("aotp_tokens_total = %v", v)
	}
}

func TestHealthAndReady(t *testing.T) {
	s, ts := start(t, Options{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := post(t, nil, "GET", ts.URL+p, nil); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	s.StartDrain()
	if code, _ := post(t, nil, "GET", ts.URL+"/readyz", nil); code != 503 {
		t.Fatalf("readyz while draining: %d", code)
	}
	if code, _ := post(t, nil, "GET", ts.URL+"/healthz", nil); code != 200 {
		t.Fatalf("healthz while draining: %d", code)
	}
}

// Shutdown: readyz turns false and new requests get 503 while requests in
// flight still finish with their results; then Serve returns.
func TestGracefulShutdown(t *testing.T) {
	o := Options{DrainDelay: 100 * time.Millisecond}
	s, _ := start(t, o, "sentiment")
	hold := make(chan struct{})
	s.b.setHold(hold)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	want := shared.reference(t, shared.adapters["sentiment"], "fun")
	codes := make(chan int, 5)
	for range 5 {
		go func() {
			code, body := post(t, nil, "POST", url+"/v1/predict", in{"task": "sentiment", "inputs": []string{"fun"}})
			var out predictOut
			if code == 200 && (json.Unmarshal(body, &out) != nil || !slices.Equal(out.Predictions[0].Logits, want)) {
				code = -1
			}
			codes <- code
		}()
	}
	waitFor(t, func() bool { return s.b.queued() == 5 })
	cancel()
	waitFor(t, func() bool { return s.draining.Load() })
	if code, body := post(t, nil, "POST", url+"/v1/predict", in{"task": "sentiment", "inputs": []string{"fun"}}); code != 503 {
		t.Errorf("new request while draining: %d %s", code, body)
	}
	if code, _ := post(t, nil, "GET", url+"/readyz", nil); code != 503 {
		t.Errorf("readyz while draining: %d", code)
	}
	close(hold)
	for range 5 {
		if code := <-codes; code != 200 {
			t.Errorf("request in flight: %d", code)
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("listener still open after shutdown")
	}
}

func TestPredictionJSON(t *testing.T) {
	_, ts := start(t, Options{}, "score", "sentiment")
	_, body := post(t, nil, "POST", ts.URL+"/v1/predict", in{"inputs": []in{{"text": "a", "task": "score"}, {"text": "a", "task": "sentiment"}}})
	var raw struct{ Predictions []map[string]json.RawMessage }
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if k := keys(raw.Predictions[0]); k != "score,task" {
		t.Fatalf("regression keys %s", k)
	}
	if k := keys(raw.Predictions[1]); k != "label,logits,score,task" {
		t.Fatalf("classification keys %s", k)
	}
	if !bytes.HasPrefix(body, []byte(`{"predictions":[{"task":"score","score":`)) {
		t.Fatalf("body %s", body)
	}
}

func keys(m map[string]json.RawMessage) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return strings.Join(ks, ",")
}
